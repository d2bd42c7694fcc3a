//! The `mailpulse tenant` and `mailpulse api` commands as an operator runs them: a key printed
//! once by `tenant create` works against a running `mailpulse api`, `tenant list` shows it but
//! never the key, `tenant revoke` retires it, every change is in the audit log, and the server
//! answers its probes and metrics and exits cleanly on SIGTERM.

mod api_common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use api_common::*;
use hyper::Method;
use mailpulse_testkit::{test_config, TestDatabase};

const BINARY: &str = env!("CARGO_BIN_EXE_mailpulse");

fn command(config: &mailpulse_config::Config) -> std::process::Command {
    let mut command = std::process::Command::new(BINARY);
    command
        .env_remove("MAILPULSE_CONFIG")
        .env("MAILPULSE_CLICKHOUSE_URL", &config.clickhouse.url)
        .env("MAILPULSE_CLICKHOUSE_DATABASE", &config.clickhouse.database)
        .env("MAILPULSE_LOG_LEVEL", "info");
    command
}

fn run(config: &mailpulse_config::Config, args: &[&str]) -> (bool, String, String) {
    let output = command(config).args(args).output().expect("mailpulse runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_commands_and_the_api_binary_work_together() {
    let config = test_config("api_cli").expect("test config");
    let _db = TestDatabase::with_name(&config.clickhouse.database)
        .await
        .expect("database");
    let (ok, _, stderr) = run(&config, &["migrate"]);
    assert!(ok, "migrate: {stderr}");
    let client = mailpulse_store::connect(&config.clickhouse);
    insert(&client, &generate(41, "acme", "cli-camp", 200, 4)).await;

    let (ok, stdout, stderr) = run(&config, &["tenant", "create", "acme"]);
    assert!(ok, "tenant create: {stderr}");
    assert!(stderr.contains("not shown again"), "{stderr}");
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|rest| rest.trim().to_string())
            .unwrap_or_else(|| panic!("`{name}` missing from: {stdout}"))
    };
    let key = field("api key:");
    let key_id = field("key id:");
    assert_eq!(key.len(), 43, "32 random bytes, base64url");

    let (ok, listing, _) = run(&config, &["tenant", "list"]);
    assert!(ok);
    let line = listing
        .lines()
        .find(|l| l.contains(&key_id))
        .expect("the key is listed");
    assert!(
        line.starts_with("acme") && line.ends_with("active"),
        "{line}"
    );
    assert!(!listing.contains(&key), "the key itself is never listed");
    let stored: Vec<String> = client
        .query("SELECT key_hash FROM tenants")
        .fetch_all::<String>()
        .await
        .expect("tenants");
    // Only the BLAKE3 hash (crates/api tests that KeyHash is plain BLAKE3 of the key).
    assert_eq!(
        stored,
        vec![mailpulse_api::tenant::KeyHash::of(&key).to_hex()]
    );

    // The server, as deployed.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = command(&config)
        .args(["api", "--listen", &listen])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mailpulse api starts");
    let addr: std::net::SocketAddr = listen.parse().expect("address");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mailpulse api did not listen within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = request(addr, Method::GET, "/healthz", &[], "").await;
    assert_eq!(
        (health.status.as_u16(), health.text().as_str()),
        (200, "ok\n")
    );
    let ready = request(addr, Method::GET, "/readyz", &[], "").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["clickhouse"], true);
    let auth = format!("Bearer {key}");
    let summary = request(
        addr,
        Method::GET,
        "/v1/campaigns/cli-camp",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(summary.status, 200, "{}", summary.text());
    assert!(n(&summary.json(), "opens_total") > 0);
    let metrics = request(addr, Method::GET, "/metrics", &[], "").await.text();
    assert!(
        metrics.contains("mailpulse_api_requests_total{route=\"stats.summary\",status=\"200\"} 1"),
        "{metrics}"
    );

    let (ok, _, stderr) = run(&config, &["tenant", "revoke", "acme", &key_id]);
    assert!(ok, "revoke: {stderr}");
    let (ok, _, stderr) = run(&config, &["tenant", "revoke", "acme", "k-no-such-key"]);
    assert!(!ok && stderr.contains("no key"), "{stderr}");
    let (_, listing, _) = run(&config, &["tenant", "list"]);
    assert!(listing
        .lines()
        .any(|l| l.contains(&key_id) && l.ends_with("revoked")));
    // The server trusts its key list for 10 s at most.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = request(
            addr,
            Method::GET,
            "/v1/campaigns",
            &[("authorization", &auth)],
            "",
        )
        .await;
        if answer.status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the revoked key still works after 15 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // SIGTERM: drain and exit 0.
    let pid = server.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "mailpulse api did not stop within 20 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut log = String::new();
    if let Some(mut stderr) = server.stderr.take() {
        use std::io::Read;
        let _ = stderr.read_to_string(&mut log);
    }
    assert!(status.success(), "exit status {status}: {log}");
    assert!(log.contains("API stopped"), "{log}");

    #[derive(Debug, serde::Deserialize, clickhouse::Row)]
    struct Entry {
        actor: String,
        action: String,
        outcome: String,
    }
    let entries = client
        .query(
            "SELECT actor, action, outcome FROM audit_log WHERE actor = 'cli' ORDER BY ts, action",
        )
        .fetch_all::<Entry>()
        .await
        .expect("audit log");
    let entries: Vec<(String, String, String)> = entries
        .into_iter()
        .map(|e| (e.actor, e.action, e.outcome))
        .collect();
    let expected = [
        ("tenant.key_created", "ok"),
        ("tenant.key_revoked", "ok"),
        ("tenant.key_revoked", "not_found"),
    ];
    for (action, outcome) in expected {
        assert!(
            entries.iter().any(|(_, a, o)| a == action && o == outcome),
            "{action}/{outcome} missing from {entries:?}"
        );
    }
}
