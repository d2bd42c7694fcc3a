//! ClickHouse stops in the middle of a stream and comes back: the aggregator pauses, retries
//! with backoff, never commits or drops, and ends with exactly the true statistics.
//!
//! The outage is staged on a private ClickHouse server started by this test (same config
//! template as the stack, its own ports and data directory), not on the shared one, so tests
//! running at the same time are not disturbed.

mod aggregator_common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aggregator_common::*;
use mailpulse_testkit::{test_config, TestTopic};

/// A clickhouse-server of our own, on free ports, with data under a temporary directory.
struct PrivateClickHouse {
    dir: PathBuf,
    http_port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

impl PrivateClickHouse {
    fn new(name: &str) -> PrivateClickHouse {
        // Installs clickhouse-server if this machine lacks it.
        mailpulse_testkit::stack();
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        for sub in [
            "logs",
            "clickhouse/etc",
            "clickhouse/data",
            "clickhouse/tmp",
        ] {
            std::fs::create_dir_all(dir.join(sub)).expect("private ClickHouse directories");
        }
        let http_port = free_port();
        let (tcp_port, interserver_port) = (free_port(), free_port());
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/clickhouse");
        for file in ["config.xml", "users.xml"] {
            let template = std::fs::read_to_string(templates.join(file))
                .unwrap_or_else(|e| panic!("scripts/clickhouse/{file}: {e}"));
            let rendered = template
                .replace("@STACK_DIR@", &dir.display().to_string())
                .replace("<http_port>8123<", &format!("<http_port>{http_port}<"))
                .replace("<tcp_port>9000<", &format!("<tcp_port>{tcp_port}<"))
                .replace(
                    "<interserver_http_port>9009<",
                    &format!("<interserver_http_port>{interserver_port}<"),
                );
            if file == "config.xml" {
                assert!(rendered.contains(&format!("<http_port>{http_port}<")));
            }
            std::fs::write(dir.join("clickhouse/etc").join(file), rendered).expect("config");
        }
        let mut server = PrivateClickHouse {
            dir,
            http_port,
            child: None,
        };
        server.start();
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    fn start(&mut self) {
        let config = self.dir.join("clickhouse/etc/config.xml");
        let out = std::fs::File::create(self.dir.join("logs/stdout.log")).expect("log file");
        let child = Command::new("clickhouse-server")
            .arg(format!("--config-file={}", config.display()))
            .current_dir(self.dir.join("clickhouse"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("clickhouse-server starts (scripts/stack installs it)");
        self.child = Some(child);
        self.wait_until_serving();
    }

    fn wait_until_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !answers_select_1(self.http_port) {
            assert!(
                Instant::now() < deadline,
                "private ClickHouse not serving within 60 s; see {}",
                self.dir.join("logs").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then wait for the process to exit.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!answers_select_1(self.http_port), "ClickHouse is down");
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A minimal HTTP probe (no client runtime needed).
fn answers_select_1(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /?query=SELECT%201 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200")
}

fn assert_exists(path: &Path) {
    assert!(path.exists(), "{} missing", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_outage_pauses_and_resumes_without_loss_or_double_count() {
    // Warnings show the failed inserts and retries; RUST_LOG shows more.
    mailpulse_telemetry::init_logging("warn", "text");
    let mut config = test_config("agg_outage").expect("the local stack is up");
    let mut clickhouse = PrivateClickHouse::new(&config.clickhouse.database);
    assert_exists(&clickhouse.dir.join("clickhouse/etc/users.xml"));
    config.clickhouse.url = clickhouse.url();
    config.aggregator.admin_listen = "127.0.0.1:0".into();
    config.aggregator.batch_max_ms = 200;
    config.aggregator.retry_initial_ms = 100;
    config.privacy.default_basis = mailpulse_config::ConsentBasis::LegitimateInterest;
    let events = TestTopic::with_name(&config.kafka.events_topic, 3)
        .await
        .expect("events topic");
    let _consent = TestTopic::with_name(&config.kafka.consent_topic, 1)
        .await
        .expect("consent topic");
    let _dlq = TestTopic::with_name(&config.kafka.dlq_topic, 1)
        .await
        .expect("dlq topic");
    let _deliveries = TestTopic::with_name(&config.kafka.deliveries_topic, 1)
        .await
        .expect("deliveries topic");
    mailpulse_store::migrate::migrate(&config.clickhouse)
        .await
        .expect("migrations apply on the private server");
    let client = mailpulse_store::connect(&config.clickhouse);
    let brokers = config.kafka.brokers.clone();

    let stream = generate(31, 600, now_ms() - 7_200_000, 5);
    let half = stream.len() / 2;
    let aggregator = InProcess::start(&config);
    produce_events(&brokers, events.name(), &stream[..half]).await;
    assert_converges_to(
        &client,
        &Truth::of(&stream[..half]),
        Duration::from_secs(60),
    )
    .await;
    assert!(aggregator.health.is_ready());

    clickhouse.stop();
    produce_events(&brokers, events.name(), &stream[half..]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while aggregator.metrics.insert_retries.get() < 3 {
        assert!(
            Instant::now() < deadline,
            "no insert retries while ClickHouse is down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !aggregator.health.is_ready(),
        "not ready while inserts fail"
    );
    assert_eq!(aggregator.metrics.paused.get(), 1, "consumption paused");
    // Down long enough for the backoff to grow past a few seconds.
    tokio::time::sleep(Duration::from_secs(6)).await;

    clickhouse.start();
    assert_converges_to(&client, &Truth::of(&stream), Duration::from_secs(90)).await;
    assert!(aggregator.health.is_ready(), "ready again");
    assert_eq!(aggregator.metrics.paused.get(), 0, "consumption resumed");
    assert!(aggregator.metrics.insert_retries.get() >= 3);
    aggregator.stop().await;

    let (rows, repeated) = stored_rows_and_repeated_ids(&client).await;
    assert_eq!(
        (rows, repeated),
        (unique_count(&stream), 0),
        "one row per unique event"
    );
}
