//! Fault drills for the edge against the real broker: the broker goes away mid-stream, the edge
//! is SIGTERM'd mid-stream. Every pixel is served, every accepted event reaches Kafka once.
//!
//! These stop the shared broker, so the tests of this binary run one at a time (a mutex).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{get, path_of, RunningEdge};
use hyper::StatusCode;
use mailpulse_config::Config;
use mailpulse_event::Event;
use mailpulse_testkit::{consume, test_config, Outage, Service, TestTopic};
use mailpulse_token::{KeyRing, UrlMinter};

/// Held across awaits, so an async mutex (it works across the tests' separate runtimes).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Traffic {
    minter: UrlMinter,
    /// Subscriber ids of hits answered 200 (each hit has its own subscriber).
    accepted: Vec<String>,
    next: usize,
}

impl Traffic {
    fn new(config: &Config) -> Traffic {
        let keys = KeyRing::parse(&config.keys.signing, &config.keys.active).expect("keys");
        Traffic {
            minter: UrlMinter::new("http://edge.test", keys).expect("minter"),
            accepted: Vec::new(),
            next: 0,
        }
    }

    /// Sends `count` pixel hits; each must be answered with the pixel.
    async fn send(&mut self, addr: SocketAddr, count: usize) {
        for _ in 0..count {
            let subscriber = format!("sub-{}", self.next);
            self.next += 1;
            let url = self
                .minter
                .pixel_url("acme", "drill", &subscriber)
                .expect("sign");
            let response = get(addr, &path_of(&url), &[("user-agent", "drill")]).await;
            assert_eq!(
                response.status,
                StatusCode::OK,
                "pixel served during the drill"
            );
            self.accepted.push(subscriber);
        }
    }

    /// Every accepted hit is in the topic exactly once (by event id and by subscriber).
    async fn assert_all_delivered_once(&self, topic: &str) {
        // Wait for everything, then look a little longer for anything extra (a duplicate).
        consume(topic, self.accepted.len(), Duration::from_secs(60))
            .await
            .expect("consume");
        let messages = consume(topic, self.accepted.len() + 1, Duration::from_secs(5))
            .await
            .expect("consume");
        let mut by_subscriber: HashMap<String, usize> = HashMap::new();
        let mut ids = std::collections::HashSet::new();
        for message in &messages {
            let event =
                Event::from_json(message.payload.as_deref().expect("payload")).expect("event");
            assert!(ids.insert(event.id), "event {} arrived twice", event.id);
            *by_subscriber.entry(event.subscriber).or_default() += 1;
        }
        let missing: Vec<_> = self
            .accepted
            .iter()
            .filter(|s| !by_subscriber.contains_key(*s))
            .collect();
        assert!(
            missing.is_empty(),
            "{} accepted events lost: {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        assert!(
            by_subscriber.values().all(|&n| n == 1),
            "an event arrived twice"
        );
        assert_eq!(messages.len(), self.accepted.len());
    }
}

async fn topics(config: &Config) -> (TestTopic, TestTopic) {
    (
        TestTopic::with_name(&config.kafka.events_topic, 3)
            .await
            .expect("events topic"),
        TestTopic::with_name(&config.kafka.salt_topic, 1)
            .await
            .expect("salt topic"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_outage_mid_stream_loses_nothing_and_duplicates_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let config = test_config("edge_outage").expect("stack");
    let (events, _salt) = topics(&config).await;
    let edge = RunningEdge::start(&config).await;
    let mut traffic = Traffic::new(&config);

    traffic.send(edge.addr, 100).await;
    let outage = Outage::begin(Service::Kafka).expect("stop broker");
    traffic.send(edge.addr, 150).await;
    // Give the edge time to notice and spool.
    tokio::time::sleep(Duration::from_secs(2)).await;
    traffic.send(edge.addr, 50).await;
    let ready = get(edge.addr, "/readyz", &[]).await;
    let body: serde_json::Value = serde_json::from_slice(&ready.body).expect("json");
    assert_eq!(
        ready.status,
        StatusCode::OK,
        "a broker outage does not make the edge unready"
    );
    assert_eq!(body["broker_up"], false, "{body}");
    outage.end().expect("restart broker");
    traffic.send(edge.addr, 100).await;

    traffic.assert_all_delivered_once(events.name()).await;
    let metrics = String::from_utf8_lossy(&get(edge.addr, "/metrics", &[]).await.body).to_string();
    assert!(
        !metrics.contains("mailpulse_edge_events_spooled_total 0\n"),
        "nothing was spooled:\n{metrics}"
    );
    edge.stop().await;
}

/// The edge as its own process, configured through the environment like in production.
struct EdgeProcess {
    child: Child,
    addr: SocketAddr,
}

impl EdgeProcess {
    async fn start(config: &Config, port: u16) -> EdgeProcess {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let child = Command::new(env!("CARGO_BIN_EXE_mailpulse"))
            .args(["edge", "--listen", &addr.to_string()])
            .env("MAILPULSE_KAFKA_BROKERS", &config.kafka.brokers)
            .env("MAILPULSE_KAFKA_EVENTS_TOPIC", &config.kafka.events_topic)
            .env("MAILPULSE_KAFKA_SALT_TOPIC", &config.kafka.salt_topic)
            .env("MAILPULSE_EDGE_GEO_DB", &config.edge.geo_db)
            .env("MAILPULSE_EDGE_ASN_DB", &config.edge.asn_db)
            .env("MAILPULSE_EDGE_SPOOL_DIR", &config.edge.spool_dir)
            .env("MAILPULSE_EDGE_SHUTDOWN_FLUSH_MS", "2000")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mailpulse edge");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
                drop(stream);
                if get(addr, "/readyz", &[]).await.status == StatusCode::OK {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "edge process did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        EdgeProcess { child, addr }
    }

    fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "edge exited cleanly after SIGTERM: {exit}");
    }
}

impl Drop for EdgeProcess {
    /// A failed assertion must not leave an edge running after the test.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_stream_then_restart_loses_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let config = test_config("edge_sigterm").expect("stack");
    let (events, _salt) = topics(&config).await;
    let mut traffic = Traffic::new(&config);
    let port = free_port();

    let edge = EdgeProcess::start(&config, port).await;
    traffic.send(edge.addr, 200).await;
    edge.terminate();
    let edge = EdgeProcess::start(&config, port).await;
    traffic.send(edge.addr, 100).await;
    edge.terminate();

    traffic.assert_all_delivered_once(events.name()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_the_broker_is_down_spools_and_the_next_edge_replays() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let config = test_config("edge_spool").expect("stack");
    let (events, _salt) = topics(&config).await;
    let mut traffic = Traffic::new(&config);
    let port = free_port();

    let edge = EdgeProcess::start(&config, port).await;
    traffic.send(edge.addr, 50).await;
    let outage = Outage::begin(Service::Kafka).expect("stop broker");
    traffic.send(edge.addr, 150).await;
    edge.terminate();
    // Nothing can have reached Kafka since the outage began: the spool must hold the rest.
    let spooled: u64 = std::fs::read_dir(&config.edge.spool_dir)
        .expect("spool dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".spool"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(spooled > 0, "the edge spooled nothing at shutdown");

    outage.end().expect("restart broker");
    let edge = EdgeProcess::start(&config, port).await;
    traffic.send(edge.addr, 50).await;
    traffic.assert_all_delivered_once(events.name()).await;
    edge.terminate();
}
