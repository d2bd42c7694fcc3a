//! Hostile HTTP against a real edge (`mailpulse edge`): slow-loris connections that trickle
//! their headers, connections that say nothing, a huge URL, huge headers and endless header
//! streams. The header timeout closes the slow ones, oversized requests are refused, memory
//! stays bounded, and an ordinary client keeps being answered all along.

mod drill_common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use drill_common::env::DrillEnv;
use drill_common::note;
use drill_common::process::{http_get, Process};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The edge's `edge.header_timeout_ms` here (production default: 5 s).
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const SLOW_CLIENTS: usize = 200;
const SILENT_CLIENTS: usize = 50;
const FLOOD_CLIENTS: usize = 100;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Sends a request head one byte every 200 ms, never finishing it; returns how long until the
/// server closed the connection (`None`: still open after `give_up`).
async fn slow_loris(addr: SocketAddr, give_up: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(b"GET /o/slow HTTP/1.1\r\nHost: edge\r\nX-Slow: ")
        .await
        .ok()?;
    let mut buf = [0u8; 512];
    while started.elapsed() < give_up {
        if stream.write_all(b"a").await.is_err() {
            return Some(started.elapsed());
        }
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            // Any answer (a 408) is followed by the close.
            Ok(Ok(_)) => {}
            Err(_) => {}
        }
    }
    None
}

/// Connects and says nothing; returns how long until the server closed the connection.
async fn silent(addr: SocketAddr, give_up: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(
            give_up.saturating_sub(started.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

/// Writes `head` (which may never end) and returns the status line the server answered, or
/// `"closed"` when it only closed the connection.
async fn oversized(addr: SocketAddr, head: Vec<u8>) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may stop reading and answer before all is written: ignore write errors.
    let _ = stream.write_all(&head).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    text.lines()
        .next()
        .filter(|line| !line.is_empty())
        .unwrap_or("closed")
        .to_string()
}

/// An ordinary client: `count` pixel requests on fresh connections, latencies in ms.
async fn ordinary(addr: SocketAddr, count: usize) -> Vec<f64> {
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let answer = http_get(addr, "/o/ordinary-client.gif").await;
        assert_eq!(
            answer.map(|(status, _)| status),
            Some(200),
            "an ordinary client is answered while hostile ones are connected"
        );
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_silent_and_oversized_clients_are_cut_off_and_others_served() {
    let started = Instant::now();
    let env = DrillEnv::new("drill_hostile").await;
    let timeout_ms = HEADER_TIMEOUT.as_millis().to_string();
    let edge = Process::edge(
        &env,
        "edge",
        &[("MAILPULSE_EDGE_HEADER_TIMEOUT_MS".to_string(), timeout_ms)],
    )
    .await;
    let addr = edge.addr;
    let baseline = ordinary(addr, 50).await;
    let rss_before = rss_kib(edge.pid());
    note(
        started,
        format!(
            "baseline: RSS {} MiB, ordinary p50 {:.2} ms, p99 {:.2} ms",
            rss_before / 1024,
            percentile(&baseline, 0.5),
            percentile(&baseline, 0.99)
        ),
    );

    // Slow and silent clients, with an ordinary one running through the whole time.
    let give_up = HEADER_TIMEOUT * 4;
    let slow: Vec<_> = (0..SLOW_CLIENTS)
        .map(|_| tokio::spawn(slow_loris(addr, give_up)))
        .collect();
    let quiet: Vec<_> = (0..SILENT_CLIENTS)
        .map(|_| tokio::spawn(silent(addr, give_up)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = ordinary(addr, 100).await;
    let rss_slow = rss_kib(edge.pid());
    let mut closed_after = Vec::new();
    for task in slow.into_iter().chain(quiet) {
        let closed = task.await.expect("client task");
        closed_after
            .push(closed.expect("the server closes a connection that never sends its headers"));
    }
    closed_after.sort();
    note(
        started,
        format!(
            "{SLOW_CLIENTS} slow-loris + {SILENT_CLIENTS} silent connections closed by the edge \
             after {:.1}-{:.1} s (header timeout {:?}); ordinary client meanwhile: p50 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms; RSS {} MiB",
            closed_after[0].as_secs_f64(),
            closed_after[closed_after.len() - 1].as_secs_f64(),
            HEADER_TIMEOUT,
            percentile(&during, 0.5),
            percentile(&during, 0.99),
            percentile(&during, 1.0),
            rss_slow / 1024
        ),
    );
    // Served before any slow connection could have been cut off: they did not wait for that.
    assert!(
        percentile(&during, 1.0) < HEADER_TIMEOUT.as_secs_f64() * 1000.0,
        "an ordinary request waited for the slow ones"
    );
    assert!(
        closed_after[0] >= HEADER_TIMEOUT.mul_f64(0.9),
        "closed before the header timeout: {:?}",
        closed_after[0]
    );

    // Oversized requests.
    let long_url = format!(
        "GET /o/{} HTTP/1.1\r\nHost: edge\r\n\r\n",
        "A".repeat(64 * 1024)
    );
    let url_answer = oversized(addr, long_url.into_bytes()).await;
    let mut many_headers = b"GET /o/x HTTP/1.1\r\nHost: edge\r\n".to_vec();
    for i in 0..200 {
        many_headers.extend(format!("X-Filler-{i}: {}\r\n", "b".repeat(1000)).bytes());
    }
    many_headers.extend(b"\r\n");
    let headers_answer = oversized(addr, many_headers).await;
    note(
        started,
        format!("64 KiB URL -> {url_answer:?}; 200 KB of headers -> {headers_answer:?}"),
    );
    for answer in [&url_answer, &headers_answer] {
        assert!(
            answer.contains(" 431 ") || answer.contains(" 414 ") || answer == "closed",
            "an oversized head is refused: {answer}"
        );
    }

    // Endless header streams on many connections at once: memory stays bounded.
    let flood: Vec<_> = (0..FLOOD_CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let mut head = b"GET /o/x HTTP/1.1\r\nHost: edge\r\n".to_vec();
                head.extend(
                    std::iter::repeat_n(b"X-Flood: 0123456789abcdef\r\n", 40_000).flatten(),
                );
                oversized(addr, head).await
            })
        })
        .collect();
    let mut peak = 0;
    let sample_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < sample_until {
        peak = peak.max(rss_kib(edge.pid()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for task in flood {
        let answer = task.await.expect("flood task");
        assert!(
            answer.contains(" 431 ") || answer == "closed",
            "a 1 MB header stream is refused: {answer}"
        );
    }
    let after = ordinary(addr, 50).await;
    note(
        started,
        format!(
            "{FLOOD_CLIENTS} connections streaming 1 MB of headers each: peak RSS {} MiB (before \
             {} MiB); ordinary client after: p99 {:.2} ms",
            peak / 1024,
            rss_before / 1024,
            percentile(&after, 0.99)
        ),
    );
    // 16 KiB of buffered head per connection at most (the edge's limit), plus slack.
    assert!(
        peak < rss_before + 32 * 1024,
        "RSS grew from {rss_before} KiB to {peak} KiB under hostile clients"
    );
    let exit = edge.terminate(Duration::from_secs(20));
    assert!(exit.success(), "edge exit {exit}");
}
