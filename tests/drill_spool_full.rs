//! Fault drill: the broker is down and the edge's spool runs out of room. Pixels are still
//! served; every event that could not be kept is counted by
//! `mailpulse_edge_events_dropped_spool_*_total` and announced in the log; nothing else is lost.
//! Once the broker is back and the spool drained, its room is back: a second outage spools
//! again without dropping anything.
//!
//! The room runs out for real when the test may mount a 256 KiB tmpfs for the spool (root with
//! `CAP_SYS_ADMIN`: the disk is full, writes fail with ENOSPC); otherwise the spool is capped at
//! the same size with `edge.spool_max_bytes` (`MP_DRILL_SPOOL_CAP=1` forces that).

mod drill_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use drill_common::env::DrillEnv;
use drill_common::leak_scan::assert_no_client_ip;
use drill_common::load::{Load, Report, Targets};
use drill_common::process::{http_get, Process};
use drill_common::verdict::{assert_exactly_once, settle};
use drill_common::{note, sleep};
use mailpulse_testkit::{Outage, Service};

const RATE: u32 = 100;
const ROOM: u64 = 256 * 1024;

/// A tmpfs of `ROOM` bytes, unmounted on drop.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path) -> Option<SmallDisk> {
        std::fs::create_dir_all(path).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={ROOM}")])
            .arg("mailpulse-drill")
            .arg(path)
            .output()
            .ok()?
            .status
            .success();
        mounted.then(|| SmallDisk {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

async fn dropped(edge: &Process) -> f64 {
    edge.metric("mailpulse_edge_events_dropped_spool_full_total")
        .await
        + edge
            .metric("mailpulse_edge_events_dropped_spool_error_total")
            .await
}

async fn broker_down() -> Outage {
    tokio::task::spawn_blocking(|| Outage::begin(Service::Kafka))
        .await
        .expect("join")
        .expect("stop the broker")
}

async fn restore(outage: Outage) {
    tokio::task::spawn_blocking(move || outage.end())
        .await
        .expect("join")
        .expect("restart the broker");
}

/// Waits until the edge has replayed its spool (readiness says it is not spooling).
async fn wait_drained(edge: &Process) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((200, body)) = http_get(edge.addr, "/readyz").await {
            if body.contains("\"spooling\":false") && body.contains("\"broker_up\":true") {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the spool was not replayed within 60 s\n{}",
            edge.log_text()
        );
        sleep(0.2).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_spool_drops_loudly_serves_pixels_and_recovers() {
    let started = Instant::now();
    let mut env = DrillEnv::new("drill_spool_full").await;
    env.producer_survives_broker_restart();
    // MP_DRILL_SPOOL_CAP=1 uses the configured cap even where a tmpfs could be mounted.
    let disk = if std::env::var("MP_DRILL_SPOOL_CAP").as_deref() == Ok("1") {
        None
    } else {
        SmallDisk::mount(&env.config.edge.spool_dir)
    };
    if disk.is_none() {
        env.config.edge.spool_max_bytes = ROOM;
    }
    note(
        started,
        match disk {
            Some(_) => "spool on a 256 KiB tmpfs (disk full, ENOSPC)",
            None => "spool capped by edge.spool_max_bytes = 256 KiB (no tmpfs)",
        },
    );
    let edge = Process::edge(&env, "edge", &[]).await;
    let aggregator = Process::aggregator(&env, "aggregator").await;
    let targets = Targets::new(vec![edge.addr]);

    // Phase 1: the broker goes away long enough to fill the spool (~500 bytes per event).
    let load = Load::start_phase(&env, targets.clone(), RATE, 2, "a");
    sleep(3.0).await;
    let outage = broker_down().await;
    note(started, "broker down");
    let deadline = Instant::now() + Duration::from_secs(30);
    while dropped(&edge).await == 0.0 {
        assert!(
            Instant::now() < deadline,
            "the spool never filled\n{}",
            edge.log_text()
        );
        sleep(0.5).await;
    }
    note(started, "spool full: events are being dropped");
    sleep(2.0).await;
    let (status, ready) = http_get(edge.addr, "/readyz").await.expect("readyz");
    assert_eq!(
        status, 200,
        "a full spool does not make the edge unready: {ready}"
    );
    let phase1 = load.stop().await;
    note(started, format!("phase 1: {}", phase1.summary()));
    assert!(
        phase1.refused().is_empty() && phase1.unanswered().is_empty(),
        "pixels served with a full spool: {}",
        phase1.summary()
    );
    let log = edge.log_text();
    assert!(
        log.contains("SPOOL FULL") || log.contains("spool write failed"),
        "a full spool is announced in the log:\n{log}"
    );
    let dropped_in_outage = dropped(&edge).await;
    restore(outage).await;
    note(started, "broker back");
    wait_drained(&edge).await;
    note(
        started,
        format!("spool replayed; {dropped_in_outage} events were dropped"),
    );

    // Phase 2: room is back once the spool is replayed. A short outage must spool every event.
    let outage = broker_down().await;
    let spooled_before = edge.metric("mailpulse_edge_events_spooled_total").await;
    let load = Load::start_phase(&env, targets.clone(), RATE, 2, "b");
    sleep(1.5).await;
    let phase2 = load.stop().await;
    note(
        started,
        format!("phase 2 (second outage): {}", phase2.summary()),
    );
    let spooled = edge.metric("mailpulse_edge_events_spooled_total").await - spooled_before;
    let dropped_again = dropped(&edge).await - dropped_in_outage;
    restore(outage).await;
    // Checked at the end, so the accounting below is exercised whatever happens here.
    let mut problems = Vec::new();
    if dropped_again > 0.0 || spooled as usize != phase2.accepted().len() {
        problems.push(format!(
            "after the spool was replayed, a second outage dropped {dropped_again} of {} events \
             ({spooled} spooled): the spool's room did not come back",
            phase2.accepted().len()
        ));
    }
    wait_drained(&edge).await;

    // Phase 3: all clear.
    let load = Load::start_phase(&env, targets, RATE, 2, "c");
    sleep(3.0).await;
    let phase3 = load.stop().await;
    let report = Report::merge(vec![phase1, phase2, phase3]);
    note(started, report.summary());
    assert!(report.refused().is_empty() && report.unanswered().is_empty());

    // Exactly the dropped events are missing, all from the first outage; the rest once each.
    let lost = dropped(&edge).await as usize;
    let verdict = settle(&env, &report, lost, Duration::from_secs(120)).await;
    note(started, verdict.line());
    assert_exactly_once(&env, &verdict, lost).await;
    let prefix = format!("{}-a", env.campaign);
    let outside_first_outage = verdict
        .lost
        .iter()
        .filter(|s| !s.starts_with(&prefix))
        .count();
    if outside_first_outage > dropped_again as usize {
        problems.push(format!(
            "{outside_first_outage} events missing beyond the full-spool outage"
        ));
    }

    let exit = edge.terminate(Duration::from_secs(20));
    assert!(exit.success(), "edge exit {exit}");
    let exit = aggregator.terminate(Duration::from_secs(30));
    assert!(exit.success(), "aggregator exit {exit}");
    note(
        started,
        assert_no_client_ip(&env, verdict.accepted - lost).await,
    );
    drop(disk);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
