//! Shared by the `api_*` integration tests: a migrated test database, an in-process API
//! server on `127.0.0.1:0`, a small HTTP client, and a seeded event stream whose statistics
//! are computed here, independently of ClickHouse (the "truth" the API must equal).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use mailpulse_api::{tenant, ApiServer, TenantId};
use mailpulse_config::Config;
use mailpulse_event::{EventKind, TrackingLevel};
use mailpulse_store::{EventKindCode, EventRow, TrackingLevelCode};
use mailpulse_testkit::{test_config, TestDatabase, TestTopic};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Key-cache TTL of the test server: short, so revocations show at once.
pub const TEST_KEY_TTL: Duration = Duration::from_millis(200);

pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "expected JSON ({e}), got {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The stable error code of an error answer.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {}", self.text()))
            .to_string()
    }
}

/// One request on a fresh connection.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    let stream = TcpStream::connect(addr).await.expect("connect to the API");
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
        .await
        .expect("the API answered within 30 s")
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// The routes `mailpulse api` serves (`src/cmd_api.rs` calls the same function).
pub fn served_router(config: &Config) -> mailpulse_api::Router {
    mailpulse_api::served_router(config).expect("the served routes build from a test config")
}

/// A migrated database and an API server on it.
pub struct ApiEnv {
    pub config: Config,
    pub db: TestDatabase,
    pub addr: SocketAddr,
    /// The test's Kafka topics, when it asked for them ([`ApiEnv::start_with_kafka`]).
    pub topics: Vec<TestTopic>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ApiEnv {
    /// A server whose statistics tests need ClickHouse only.
    pub async fn start(prefix: &str) -> ApiEnv {
        ApiEnv::start_on(prefix, false).await
    }

    /// A server whose privacy and delivery routes publish to Kafka: creates the test's events,
    /// consent, DLQ and deliveries topics first (so an in-process aggregator finds them too).
    pub async fn start_with_kafka(prefix: &str) -> ApiEnv {
        ApiEnv::start_on(prefix, true).await
    }

    async fn start_on(prefix: &str, kafka: bool) -> ApiEnv {
        let mut config = test_config(prefix).expect("test config (is the stack up?)");
        config.aggregator.admin_listen = "127.0.0.1:0".into();
        config.aggregator.batch_max_ms = 200;
        let mut topics = Vec::new();
        if kafka {
            for (name, partitions) in [
                (&config.kafka.events_topic, 2),
                (&config.kafka.consent_topic, 2),
                (&config.kafka.dlq_topic, 1),
                (&config.kafka.deliveries_topic, 2),
            ] {
                topics.push(
                    TestTopic::with_name(name, partitions)
                        .await
                        .expect("test topic created"),
                );
            }
        }
        let db = TestDatabase::with_name(&config.clickhouse.database)
            .await
            .expect("test database");
        mailpulse_store::migrate::migrate(&config.clickhouse)
            .await
            .expect("migrations apply");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = ApiServer::build(&config, served_router(&config), TEST_KEY_TTL);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            server
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
                .expect("the API serves and shuts down cleanly");
        });
        ApiEnv {
            config,
            db,
            addr,
            topics,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn client(&self) -> &mailpulse_store::Client {
        self.db.client()
    }

    /// A new key for `tenant`.
    pub async fn key(&self, tenant: &str) -> String {
        let tenant = TenantId::parse(tenant).expect("tenant id");
        tenant::create_key(self.client(), &tenant)
            .await
            .expect("key created")
            .key
    }

    /// GET with a bearer key.
    pub async fn get(&self, path: &str, key: &str) -> HttpResponse {
        let auth = format!("Bearer {key}");
        request(
            self.addr,
            Method::GET,
            path,
            &[("authorization", auth.as_str())],
            "",
        )
        .await
    }

    /// A request with a bearer key and a body of `content_type`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: &str,
        content_type: &str,
        body: &str,
    ) -> HttpResponse {
        let auth = format!("Bearer {key}");
        request(
            self.addr,
            method,
            path,
            &[("authorization", &auth), ("content-type", content_type)],
            body,
        )
        .await
    }

    /// Graceful shutdown (writes the audit queue); the database stays until `self` drops.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("API task");
        }
    }
}

/// One generated event, owning its fields.
#[derive(Debug, Clone)]
pub struct SeedEvent {
    pub tenant: String,
    pub campaign: String,
    pub kind: EventKind,
    pub ts: u32,
    /// `""` for an anonymous event.
    pub subscriber: String,
    pub link: String,
    pub url: String,
    pub country: String,
    pub email_client: String,
    pub device: String,
    pub os: String,
    pub machine: bool,
}

/// 2026-03-02T00:00:00Z: the seeded streams start here.
pub const SEED_START: u32 = 1_772_409_600;

/// A deterministic stream: `count` events of `tenant`/`campaign` over `hours` hours from
/// [`SEED_START`], mixed kinds, links, countries, clients, machine events and anonymous ones.
pub fn generate(
    seed: u64,
    tenant: &str,
    campaign: &str,
    count: usize,
    hours: u32,
) -> Vec<SeedEvent> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let pick = |options: &[&str], i: u64| options[i as usize % options.len()].to_string();
    (0..count)
        .map(|_| {
            let roll = next(100);
            let kind = match roll {
                0..=64 => EventKind::Open,
                65..=94 => EventKind::Click,
                _ => EventKind::Unsubscribe,
            };
            let link_index = next(5);
            let (link, url) = if kind == EventKind::Click {
                (
                    format!("link-{link_index}"),
                    format!("https://shop.example/item/{link_index}?utm=mail"),
                )
            } else {
                (String::new(), String::new())
            };
            let subscriber = if next(10) == 0 {
                String::new()
            } else {
                format!("sub-{}", next(150))
            };
            SeedEvent {
                tenant: tenant.to_string(),
                campaign: campaign.to_string(),
                kind,
                ts: SEED_START + next(u64::from(hours * 3600)) as u32,
                subscriber,
                link,
                url,
                country: pick(&["EE", "DE", "US", "FR", "", "GB"], next(6)),
                email_client: pick(&["Gmail", "Apple Mail", "Outlook", ""], next(4)),
                device: pick(&["desktop", "mobile", "tablet"], next(3)),
                os: pick(&["Windows", "iOS", "Android", "macOS", "Linux"], next(5)),
                machine: next(7) == 0,
            }
        })
        .collect()
}

/// Inserts the events with the store's insert function; the materialized views fill the
/// aggregates.
pub async fn insert(client: &mailpulse_store::Client, events: &[SeedEvent]) {
    let rows = events.iter().enumerate().map(|(i, e)| EventRow {
        event_id: uuid::Uuid::from_u128(u128::from(e.ts) << 32 | i as u128),
        kind: EventKindCode(e.kind),
        ts: e.ts,
        tenant: &e.tenant,
        campaign: &e.campaign,
        subscriber_key: &e.subscriber,
        link: &e.link,
        url: &e.url,
        visitor: "",
        country: &e.country,
        region: "",
        city: "",
        asn: 0,
        network_class: "",
        browser: "Chrome",
        os: &e.os,
        device: &e.device,
        email_client: &e.email_client,
        machine: u8::from(e.machine),
        machine_reason: if e.machine { "test" } else { "" },
        dnt: 0,
        gpc: 0,
        end_pixel: 0,
        tracking_level: TrackingLevelCode(if e.subscriber.is_empty() {
            TrackingLevel::Anonymous
        } else {
            TrackingLevel::Pseudonymous
        }),
        edge: "test",
        kafka_topic: "test",
        kafka_partition: 0,
        kafka_offset: i as i64,
        ingested_at: e.ts,
    });
    let query_id = mailpulse_testkit::unique_name("api_seed");
    mailpulse_store::offsets::insert_events(client, rows, &query_id, Duration::from_secs(60))
        .await
        .expect("seed events inserted");
}

/// Counts of one bucket or breakdown value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub opens: u64,
    pub opens_machine: u64,
    pub clicks: u64,
    pub clicks_machine: u64,
    pub unsubscribes: u64,
}

impl Counts {
    fn add(&mut self, e: &SeedEvent) {
        match e.kind {
            EventKind::Open => {
                self.opens += 1;
                self.opens_machine += u64::from(e.machine);
            }
            EventKind::Click => {
                self.clicks += 1;
                self.clicks_machine += u64::from(e.machine);
            }
            EventKind::Unsubscribe => self.unsubscribes += 1,
        }
    }
}

/// The statistics of one campaign, computed from the generated events.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub totals: Counts,
    pub opens_unique: u64,
    pub opens_unique_human: u64,
    pub clicks_unique: u64,
    pub clicks_unique_human: u64,
    /// link → (url, counts)
    pub links: BTreeMap<String, (String, Counts)>,
    /// dimension → value → counts (opens and clicks only)
    pub breakdown: BTreeMap<&'static str, BTreeMap<String, Counts>>,
    /// hour start → counts
    pub hourly: BTreeMap<u32, Counts>,
    /// day start (Unix seconds) → counts
    pub daily: BTreeMap<u32, Counts>,
}

impl Truth {
    pub fn of(events: &[SeedEvent], tenant: &str, campaign: &str) -> Truth {
        let mut truth = Truth::default();
        let mut openers = BTreeSet::new();
        let mut openers_human = BTreeSet::new();
        let mut clickers = BTreeSet::new();
        let mut clickers_human = BTreeSet::new();
        for e in events
            .iter()
            .filter(|e| e.tenant == tenant && e.campaign == campaign)
        {
            truth.totals.add(e);
            truth.hourly.entry(e.ts - e.ts % 3600).or_default().add(e);
            truth.daily.entry(e.ts - e.ts % 86_400).or_default().add(e);
            let known = !e.subscriber.is_empty();
            match e.kind {
                EventKind::Open if known => {
                    openers.insert(e.subscriber.clone());
                    if !e.machine {
                        openers_human.insert(e.subscriber.clone());
                    }
                }
                EventKind::Click if known => {
                    clickers.insert(e.subscriber.clone());
                    if !e.machine {
                        clickers_human.insert(e.subscriber.clone());
                    }
                }
                _ => {}
            }
            if e.kind == EventKind::Click && !e.link.is_empty() {
                let entry = truth
                    .links
                    .entry(e.link.clone())
                    .or_insert_with(|| (e.url.clone(), Counts::default()));
                entry.1.add(e);
            }
            if e.kind != EventKind::Unsubscribe {
                for (dimension, value) in [
                    ("country", &e.country),
                    ("email_client", &e.email_client),
                    ("device", &e.device),
                    ("os", &e.os),
                ] {
                    truth
                        .breakdown
                        .entry(dimension)
                        .or_default()
                        .entry(value.clone())
                        .or_default()
                        .add(e);
                }
            }
        }
        truth.opens_unique = openers.len() as u64;
        truth.opens_unique_human = openers_human.len() as u64;
        truth.clicks_unique = clickers.len() as u64;
        truth.clicks_unique_human = clickers_human.len() as u64;
        truth
    }
}

/// A JSON number field as u64.
pub fn n(value: &serde_json::Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("`{field}` is not a number in {value}"))
}

/// A JSON number field as f64, `None` for null.
pub fn rate(value: &serde_json::Value, field: &str) -> Option<f64> {
    match &value[field] {
        serde_json::Value::Null => None,
        other => Some(
            other
                .as_f64()
                .unwrap_or_else(|| panic!("`{field}` is neither null nor a number in {value}")),
        ),
    }
}

/// Asserts two rates are equal to float precision (both null, or both the same fraction).
pub fn assert_rate(actual: Option<f64>, numerator: u64, denominator: Option<u64>, what: &str) {
    let expected = match denominator {
        Some(d) if d > 0 => Some(numerator as f64 / d as f64),
        _ => None,
    };
    match (actual, expected) {
        (None, None) => {}
        (Some(a), Some(e)) => assert!((a - e).abs() < 1e-12, "{what}: {a} != {e}"),
        _ => panic!("{what}: {actual:?} != {expected:?}"),
    }
}

/// The aggregator running in this process (its library entry point), for tests that follow
/// data from Kafka into ClickHouse.
pub struct Aggregator {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), mailpulse_aggregator::AggregatorError>>,
}

impl Aggregator {
    pub fn start(config: &Config) -> Aggregator {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let config = config.clone();
        let task = tokio::spawn(async move {
            mailpulse_aggregator::run_with(
                &config,
                mailpulse_aggregator::Metrics::detached(),
                mailpulse_aggregator::Health::default(),
                stopped,
            )
            .await
        });
        Aggregator { stop, task }
    }

    /// Graceful shutdown, as on SIGTERM.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the aggregator stops within 30 s")
            .expect("the aggregator task did not panic")
            .expect("the aggregator ended without error");
    }
}
