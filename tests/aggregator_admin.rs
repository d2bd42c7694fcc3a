//! `mailpulse aggregate` serves `/healthz`, `/readyz` and `/metrics` on
//! `aggregator.admin_listen`, counts what it consumed, and exits cleanly on SIGTERM;
//! `mailpulse stats` prints what it stored.

mod aggregator_common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aggregator_common::*;
use mailpulse_event::EventKind;

/// `GET path` over HTTP/1.0: (status code, body), or `None` if nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())?;
    Some((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoint_reports_health_readiness_and_metrics() {
    let env = TestEnv::new("agg_admin", 2).await;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port");
    let events: Vec<_> = (0..25)
        .map(|i| {
            event(
                EventKind::Open,
                &format!("admin-{i}"),
                now_ms() - 60_000 + i,
            )
        })
        .collect();
    produce_events(&env.config.kafka.brokers, env.events.name(), &events).await;

    let mut child = Command::new(env!("CARGO_BIN_EXE_mailpulse"))
        .arg("aggregate")
        .env_clear()
        .envs(env.env_vars())
        .env(
            "MAILPULSE_AGGREGATOR_ADMIN_LISTEN",
            format!("127.0.0.1:{port}"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mailpulse aggregate starts");

    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let ready = get(port, "/readyz").map(|(status, _)| status);
        let metrics = get(port, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default();
        if ready == Some(200) && metrics.contains("mailpulse_aggregator_inserted_rows_total 25") {
            break metrics;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("not ready with 25 rows within 60 s (readyz {ready:?}):\n{metrics}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(get(port, "/healthz").map(|(status, _)| status), Some(200));
    assert_eq!(get(port, "/nope").map(|(status, _)| status), Some(404));
    assert!(
        metrics.contains("mailpulse_aggregator_consumed_messages_total 25"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mailpulse_aggregator_batch_latency_seconds_count"),
        "{metrics}"
    );

    // `mailpulse stats` reads the same numbers from the aggregate tables.
    let output = Command::new(env!("CARGO_BIN_EXE_mailpulse"))
        .args(["stats", "--tenant", TENANT, "--campaign", CAMPAIGN])
        .env_clear()
        .envs(env.env_vars())
        .output()
        .expect("mailpulse stats runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stats prints JSON");
    assert_eq!(summary["opens_total"], 25);
    assert_eq!(summary["opens_unique"], 25);
    assert_eq!(summary["clicks_total"], 0);
    assert_eq!(summary["breakdown"]["country"][0]["opens"], 25);

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("child status") {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "clean exit after SIGTERM: {status}");
    assert!(get(port, "/healthz").is_none(), "the endpoint is gone");
}
