//! Shared by the `aggregator_*` integration tests: a per-test environment on the real stack
//! (own topics, database, consumer group), a generated event stream with its known truth, and
//! helpers to run the aggregator and wait for its statistics.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mailpulse_aggregator::{Health, Metrics};
use mailpulse_config::{Config, ConsentBasis};
use mailpulse_event::{
    ConsentRecord, Event, EventKind, Geo, Network, NetworkClass, EVENT_SCHEMA_VERSION,
};
use mailpulse_store::{CampaignSummary, Client};
use mailpulse_testkit::{producer, test_config, TestDatabase, TestTopic};
use rdkafka::producer::FutureRecord;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const TENANT: &str = "acme";
pub const CAMPAIGN: &str = "spring";

/// A desktop Chrome: a person.
pub const HUMAN_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                            (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
/// Gmail's image proxy: a machine open.
pub const GMAIL_PROXY_UA: &str =
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";

/// Topics, database and configuration of one test; all removed on drop.
pub struct TestEnv {
    pub config: Config,
    pub events: TestTopic,
    pub consent: TestTopic,
    pub dlq: TestTopic,
    /// Created although these tests send no delivery status: the aggregator's delivery
    /// consumer then subscribes to a topic that exists.
    pub deliveries: TestTopic,
    pub db: TestDatabase,
}

impl TestEnv {
    /// Creates the topics (events with `partitions`) and the migrated database.
    pub async fn new(prefix: &str, partitions: i32) -> TestEnv {
        let mut config = test_config(prefix).expect("the local stack is up");
        config.aggregator.admin_listen = "127.0.0.1:0".into();
        config.aggregator.batch_max_ms = 200;
        config.aggregator.retry_initial_ms = 100;
        config.privacy.default_basis = ConsentBasis::LegitimateInterest;
        let events = TestTopic::with_name(&config.kafka.events_topic, partitions)
            .await
            .expect("events topic created");
        let consent = TestTopic::with_name(&config.kafka.consent_topic, 2)
            .await
            .expect("consent topic created");
        let dlq = TestTopic::with_name(&config.kafka.dlq_topic, 1)
            .await
            .expect("dlq topic created");
        let deliveries = TestTopic::with_name(&config.kafka.deliveries_topic, 1)
            .await
            .expect("deliveries topic created");
        let db = TestDatabase::with_name(&config.clickhouse.database)
            .await
            .expect("database created");
        mailpulse_store::migrate::migrate(&config.clickhouse)
            .await
            .expect("migrations apply");
        TestEnv {
            config,
            events,
            consent,
            dlq,
            deliveries,
            db,
        }
    }

    pub fn client(&self) -> Client {
        mailpulse_store::connect(&self.config.clickhouse)
    }

    /// `MAILPULSE_*` variables that point a spawned `mailpulse` at this environment.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let c = &self.config;
        [
            ("KAFKA_BROKERS", c.kafka.brokers.clone()),
            ("KAFKA_EVENTS_TOPIC", c.kafka.events_topic.clone()),
            ("KAFKA_CONSENT_TOPIC", c.kafka.consent_topic.clone()),
            ("KAFKA_DLQ_TOPIC", c.kafka.dlq_topic.clone()),
            ("KAFKA_SALT_TOPIC", c.kafka.salt_topic.clone()),
            ("KAFKA_DELIVERIES_TOPIC", c.kafka.deliveries_topic.clone()),
            ("CLICKHOUSE_URL", c.clickhouse.url.clone()),
            ("CLICKHOUSE_DATABASE", c.clickhouse.database.clone()),
            ("AGGREGATOR_GROUP_ID", c.aggregator.group_id.clone()),
            (
                "AGGREGATOR_BATCH_MAX_ROWS",
                c.aggregator.batch_max_rows.to_string(),
            ),
            (
                "AGGREGATOR_BATCH_MAX_MS",
                c.aggregator.batch_max_ms.to_string(),
            ),
            (
                "AGGREGATOR_RETRY_INITIAL_MS",
                c.aggregator.retry_initial_ms.to_string(),
            ),
            ("AGGREGATOR_ADMIN_LISTEN", c.aggregator.admin_listen.clone()),
            ("PRIVACY_DEFAULT_BASIS", "legitimate_interest".to_string()),
            ("LOG_LEVEL", "info".to_string()),
        ]
        .into_iter()
        .map(|(key, value)| (format!("MAILPULSE_{key}"), value))
        .collect()
    }
}

/// An aggregator running inside the test process.
pub struct InProcess {
    pub metrics: Metrics,
    pub health: Health,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), mailpulse_aggregator::AggregatorError>>,
}

impl InProcess {
    pub fn start(config: &Config) -> InProcess {
        let metrics = Metrics::detached();
        let health = Health::default();
        let (stop, stopped) = watch::channel(false);
        let config = config.clone();
        let task = tokio::spawn({
            let metrics = metrics.clone();
            let health = health.clone();
            async move { mailpulse_aggregator::run_with(&config, metrics, health, stopped).await }
        });
        InProcess {
            metrics,
            health,
            stop,
            task,
        }
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

    pub fn skipped(&self, reason: &'static str) -> u64 {
        self.metrics.skipped_count(reason)
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A small deterministic generator (xorshift64*), so a failing stream can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One event as the edge would produce it.
pub fn event(kind: EventKind, subscriber: &str, ts_ms: u64) -> Event {
    Event {
        v: EVENT_SCHEMA_VERSION,
        id: Uuid::now_v7(),
        kind,
        ts_ms,
        tenant: TENANT.into(),
        campaign: CAMPAIGN.into(),
        subscriber: subscriber.into(),
        link: None,
        url: None,
        // Sent a day before: never "too fast after send".
        issued_at: ts_ms / 1000 - 86_400,
        visitor: format!("{:032x}", subscriber.len() as u128 * 7919 + ts_ms as u128),
        geo: Geo::default(),
        network: Network {
            asn: Some(3249),
            org: None,
            class: NetworkClass::Other,
            prefix: None,
        },
        ua: HUMAN_UA.into(),
        head: false,
        dnt: false,
        gpc: false,
        end_pixel: false,
        edge: "edge-test".into(),
    }
}

/// What the statistics must say, computed from the unique events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Truth {
    pub opens_total: u64,
    pub opens_machine: u64,
    pub opens_unique: u64,
    pub opens_unique_human: u64,
    pub clicks_total: u64,
    pub clicks_machine: u64,
    pub clicks_unique: u64,
    pub clicks_unique_human: u64,
    pub unsubscribes: u64,
    /// link → (clicks, machine clicks)
    pub links: BTreeMap<String, (u64, u64)>,
    /// country ("" unknown) → opens
    pub country_opens: BTreeMap<String, u64>,
}

impl Truth {
    /// The truth of `events` (duplicates by id counted once), all stored identified.
    pub fn of(events: &[Event]) -> Truth {
        let mut seen = BTreeSet::new();
        let mut truth = Truth::default();
        let mut openers = BTreeSet::new();
        let mut human_openers = BTreeSet::new();
        let mut clickers = BTreeSet::new();
        let mut human_clickers = BTreeSet::new();
        for event in events {
            if !seen.insert(event.id) {
                continue;
            }
            let machine = is_designed_machine(event);
            let country = event.geo.country.clone().unwrap_or_default();
            match event.kind {
                EventKind::Open => {
                    truth.opens_total += 1;
                    truth.opens_machine += u64::from(machine);
                    openers.insert(event.subscriber.clone());
                    if !machine {
                        human_openers.insert(event.subscriber.clone());
                    }
                    *truth.country_opens.entry(country).or_default() += 1;
                }
                EventKind::Click => {
                    truth.clicks_total += 1;
                    truth.clicks_machine += u64::from(machine);
                    clickers.insert(event.subscriber.clone());
                    if !machine {
                        human_clickers.insert(event.subscriber.clone());
                    }
                    let link = truth
                        .links
                        .entry(event.link.clone().unwrap_or_default())
                        .or_default();
                    link.0 += 1;
                    link.1 += u64::from(machine);
                }
                EventKind::Unsubscribe => truth.unsubscribes += 1,
            }
        }
        truth.opens_unique = openers.len() as u64;
        truth.opens_unique_human = human_openers.len() as u64;
        truth.clicks_unique = clickers.len() as u64;
        truth.clicks_unique_human = human_clickers.len() as u64;
        truth
    }

    /// The same numbers as read from ClickHouse.
    pub fn observed(summary: &CampaignSummary) -> Truth {
        Truth {
            opens_total: summary.opens_total,
            opens_machine: summary.opens_machine,
            opens_unique: summary.opens_unique,
            opens_unique_human: summary.opens_unique_human,
            clicks_total: summary.clicks_total,
            clicks_machine: summary.clicks_machine,
            clicks_unique: summary.clicks_unique,
            clicks_unique_human: summary.clicks_unique_human,
            unsubscribes: summary.unsubscribes,
            links: summary
                .links
                .iter()
                .map(|l| (l.link.clone(), (l.clicks_total, l.clicks_machine)))
                .collect(),
            country_opens: summary
                .breakdown
                .get("country")
                .map(|entries| {
                    entries
                        .iter()
                        .filter(|e| e.opens > 0)
                        .map(|e| (e.value.clone(), e.opens))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// The generator makes machine events unambiguous: a Gmail-proxy open or a HEAD click.
/// Human clicks come after an open, a minute apart, from an ordinary network, a day after
/// sending, so none of the weak scanner signals can add up.
fn is_designed_machine(event: &Event) -> bool {
    event.head || event.ua == GMAIL_PROXY_UA
}

/// A stream for one campaign: every subscriber opens (some through Gmail's proxy), most click
/// one to three links (some as HEAD scanners); a few other subscribers only unsubscribe. Subscribers interleave; one
/// subscriber's events stay in order. `duplicate_percent` of events are produced a second time
/// with the same id, half right after, half at the end of the stream.
pub fn generate(
    seed: u64,
    subscribers: usize,
    base_ts_ms: u64,
    duplicate_percent: u64,
) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let countries = [Some("EE"), Some("US"), Some("DE"), None];
    let mut per_subscriber: Vec<Vec<Event>> = Vec::with_capacity(subscribers);
    for s in 0..subscribers {
        let subscriber = format!("sub-{seed}-{s}");
        let country = countries[rng.below(countries.len() as u64) as usize].map(str::to_string);
        let mut ts = base_ts_ms + rng.below(3_600_000);
        let mut events = Vec::new();
        let mut open = event(EventKind::Open, &subscriber, ts);
        if rng.chance(20) {
            open.ua = GMAIL_PROXY_UA.into();
        }
        open.geo.country = country.clone();
        events.push(open);
        if rng.chance(30) {
            ts += 60_000;
            let mut again = event(EventKind::Open, &subscriber, ts);
            again.geo.country = country.clone();
            events.push(again);
        }
        for _ in 0..rng.below(4) {
            ts += 60_000;
            let mut click = event(EventKind::Click, &subscriber, ts);
            let link = rng.below(3);
            click.link = Some(format!("link-{link}"));
            click.url = Some(format!("https://example.com/{link}"));
            click.head = rng.chance(15);
            click.geo.country = country.clone();
            events.push(click);
        }
        per_subscriber.push(events);
        // One-click unsubscribes (List-Unsubscribe) from subscribers with no other event: an
        // unsubscribe also withdraws tracking consent, so a redelivered earlier event of the
        // same subscriber could be stored anonymously — which this truth does not model.
        if rng.chance(5) {
            let quiet = format!("sub-{seed}-{s}-unsubscribed");
            per_subscriber.push(vec![event(EventKind::Unsubscribe, &quiet, ts)]);
        }
    }
    // Interleave subscribers round-robin, keeping each one's order.
    let mut stream = Vec::new();
    let mut late_duplicates = Vec::new();
    let longest = per_subscriber.iter().map(Vec::len).max().unwrap_or(0);
    for round in 0..longest {
        for events in &per_subscriber {
            if let Some(event) = events.get(round) {
                stream.push(event.clone());
                if rng.chance(duplicate_percent) {
                    if rng.chance(50) {
                        stream.push(event.clone());
                    } else {
                        late_duplicates.push(event.clone());
                    }
                }
            }
        }
    }
    stream.extend(late_duplicates);
    stream
}

/// Produces `events` keyed by [`Event::partition_key`], waiting for every delivery.
pub async fn produce_events(brokers: &str, topic: &str, events: &[Event]) {
    let producer = producer(brokers).expect("producer");
    let mut deliveries = Vec::with_capacity(events.len());
    for event in events {
        let key = event.partition_key();
        let payload = event.to_json();
        let record = FutureRecord::to(topic).key(&key).payload(&payload);
        deliveries.push(
            producer
                .send_result(record)
                .map_err(|(error, _)| error)
                .expect("producer queue accepts the event"),
        );
    }
    for delivery in deliveries {
        delivery
            .await
            .expect("delivery reported")
            .expect("event delivered");
    }
}

/// Produces one message with raw bytes.
pub async fn produce_raw(brokers: &str, topic: &str, key: &[u8], payload: &[u8]) {
    let producer = producer(brokers).expect("producer");
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(error, _)| error)
        .expect("raw message delivered");
}

/// Produces consent records keyed by [`ConsentRecord::key`].
pub async fn produce_consent(brokers: &str, topic: &str, records: &[ConsentRecord]) {
    let producer = producer(brokers).expect("producer");
    for record in records {
        let key = ConsentRecord::key(&record.tenant, &record.subscriber);
        producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&record.to_json()),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(error, _)| error)
            .expect("consent record delivered");
    }
}

/// Reads the campaign summary until `done` accepts it or `timeout` passes; returns the last.
pub async fn wait_for_summary(
    client: &Client,
    timeout: Duration,
    done: impl Fn(&CampaignSummary) -> bool,
) -> CampaignSummary {
    let deadline = Instant::now() + timeout;
    loop {
        let summary = mailpulse_store::stats::campaign_summary(client, TENANT, CAMPAIGN).await;
        match summary {
            Ok(summary) if done(&summary) || Instant::now() >= deadline => return summary,
            Err(error) if Instant::now() >= deadline => {
                panic!("campaign summary still unreadable after {timeout:?}: {error}")
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Waits until the statistics equal `truth`, then a little longer, and asserts they still do
/// (a late double count would show up as an overshoot).
pub async fn assert_converges_to(client: &Client, truth: &Truth, timeout: Duration) {
    let reached = wait_for_summary(client, timeout, |s| Truth::observed(s) == *truth).await;
    assert_eq!(
        Truth::observed(&reached),
        *truth,
        "statistics did not reach the truth within {timeout:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = wait_for_summary(client, Duration::ZERO, |_| true).await;
    assert_eq!(
        Truth::observed(&later),
        *truth,
        "statistics moved past the truth"
    );
}

/// Rows in `events` and how many event ids occur more than once (a test-only scan).
pub async fn stored_rows_and_repeated_ids(client: &Client) -> (u64, u64) {
    #[derive(Debug, serde::Deserialize, clickhouse::Row)]
    struct Counts {
        rows: u64,
        distinct: u64,
    }
    let counts = client
        .query("SELECT count() AS rows, uniqExact(event_id) AS distinct FROM events")
        .fetch_one::<Counts>()
        .await
        .expect("events readable");
    (counts.rows, counts.rows - counts.distinct)
}

/// Number of distinct event ids in `events`.
pub fn unique_count(events: &[Event]) -> u64 {
    events.iter().map(|e| e.id).collect::<BTreeSet<_>>().len() as u64
}
