//! Steady pixel traffic: `rate` hits per second spread over a few keep-alive connections
//! ("lanes"), each hit a new subscriber of the drill's campaign, claiming one of
//! [`super::CLIENT_IPS`] through `X-Forwarded-For`. Every outcome is kept: answered 200 (the
//! truth the drill checks against), answered otherwise, or no answer (connection refused or
//! closed by a stopping edge). A hit without an answer is not retried under the same
//! subscriber — the next hit on another edge is a new subscriber — so "answered 200 exactly
//! once in the statistics" stays well defined.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::Request;
use hyper_util::rt::TokioIo;
use mailpulse_token::{KeyRing, UrlMinter};
use tokio::task::JoinHandle;

use super::env::{DrillEnv, TENANT};
use super::CLIENT_IPS;

/// A desktop browser: the events count as human opens.
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// Longest a hit may wait for its answer before it counts as unanswered.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with this status.
    Status(u16),
    /// No answer: refused, reset or closed before the response.
    Unanswered(String),
}

#[derive(Debug, Clone)]
pub struct Hit {
    pub subscriber: String,
    /// When the request was sent, from the start of the load.
    pub sent_at: Duration,
    pub latency: Duration,
    pub outcome: Outcome,
}

/// The edges the lanes send to; lane `i` uses `addresses[i % len]` and moves on to the next
/// address when its edge stops answering.
#[derive(Debug, Default)]
pub struct Targets(RwLock<Vec<SocketAddr>>);

impl Targets {
    pub fn new(addresses: Vec<SocketAddr>) -> Arc<Targets> {
        Arc::new(Targets(RwLock::new(addresses)))
    }

    pub fn set(&self, addresses: Vec<SocketAddr>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = addresses;
    }

    fn pick(&self, lane: usize, attempt: usize) -> SocketAddr {
        let addresses = self.0.read().unwrap_or_else(|p| p.into_inner());
        addresses[(lane + attempt) % addresses.len()]
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    lanes: Vec<JoinHandle<()>>,
    hits: Arc<Mutex<Vec<Hit>>>,
    started: Instant,
}

struct Lane {
    index: usize,
    targets: Arc<Targets>,
    minter: UrlMinter,
    campaign: String,
    phase: String,
    next_subscriber: Arc<AtomicU64>,
    hits: Arc<Mutex<Vec<Hit>>>,
    started: Instant,
    period: Duration,
    stop: Arc<AtomicBool>,
}

impl Load {
    /// Starts `rate` hits per second over `lanes` connections.
    pub fn start(env: &DrillEnv, targets: Arc<Targets>, rate: u32, lanes: usize) -> Load {
        Load::start_phase(env, targets, rate, lanes, "")
    }

    /// As [`Load::start`], for one of several loads of a drill: `phase` keeps the subscribers
    /// of each load distinct.
    pub fn start_phase(
        env: &DrillEnv,
        targets: Arc<Targets>,
        rate: u32,
        lanes: usize,
        phase: &str,
    ) -> Load {
        let keys =
            KeyRing::parse(&env.config.keys.signing, &env.config.keys.active).expect("drill keys");
        let minter = UrlMinter::new("http://edge.drill", keys).expect("minter");
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let next_subscriber = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let period = Duration::from_secs_f64(lanes as f64 / f64::from(rate));
        let lanes = (0..lanes)
            .map(|index| {
                let lane = Lane {
                    index,
                    targets: targets.clone(),
                    minter: minter.clone(),
                    campaign: env.campaign.clone(),
                    phase: phase.to_string(),
                    next_subscriber: next_subscriber.clone(),
                    hits: hits.clone(),
                    started,
                    period,
                    stop: stop.clone(),
                };
                tokio::spawn(lane.run())
            })
            .collect();
        Load {
            stop,
            lanes,
            hits,
            started,
        }
    }

    /// Hits so far.
    pub fn snapshot(&self) -> Report {
        Report {
            hits: self.hits.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            elapsed: self.started.elapsed(),
        }
    }

    /// Time since the load started (the scale of [`Hit::sent_at`]).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub async fn stop(self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        for lane in self.lanes {
            lane.await.expect("load lane did not panic");
        }
        let hits = std::mem::take(&mut *self.hits.lock().unwrap_or_else(|p| p.into_inner()));
        Report {
            hits,
            elapsed: self.started.elapsed(),
        }
    }
}

impl Lane {
    async fn run(self) {
        let mut ticks = tokio::time::interval(self.period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut connection: Option<SendRequest<Empty<Bytes>>> = None;
        let mut attempt = 0;
        while !self.stop.load(Ordering::SeqCst) {
            ticks.tick().await;
            let n = self.next_subscriber.fetch_add(1, Ordering::SeqCst);
            let subscriber = format!("{}-{}{n}", self.campaign, self.phase);
            let url = self
                .minter
                .pixel_url(TENANT, &self.campaign, &subscriber)
                .expect("sign a pixel URL");
            let path = url.trim_start_matches("http://edge.drill").to_string();
            let ip = CLIENT_IPS[n as usize % CLIENT_IPS.len()];
            let sent = Instant::now();
            let sent_at = sent - self.started;
            let outcome = match self.send(&mut connection, attempt, &path, ip).await {
                Ok(status) => Outcome::Status(status),
                Err(reason) => {
                    // The edge is going or gone: the next hit tries the next one.
                    connection = None;
                    attempt += 1;
                    Outcome::Unanswered(reason)
                }
            };
            self.hits
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Hit {
                    subscriber,
                    sent_at,
                    latency: sent.elapsed(),
                    outcome,
                });
        }
    }

    async fn send(
        &self,
        connection: &mut Option<SendRequest<Empty<Bytes>>>,
        attempt: usize,
        path: &str,
        ip: &str,
    ) -> Result<u16, String> {
        let exchange = async {
            if connection.as_ref().is_none_or(|c| c.is_closed()) {
                let addr = self.targets.pick(self.index, attempt);
                let stream = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| format!("connect {addr}: {e}"))?;
                let (sender, conn) = http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| format!("handshake: {e}"))?;
                tokio::spawn(conn);
                *connection = Some(sender);
            }
            let sender = connection.as_mut().ok_or("no connection")?;
            sender
                .ready()
                .await
                .map_err(|e| format!("not ready: {e}"))?;
            let request = Request::get(path)
                .header("host", "edge.drill")
                .header("user-agent", USER_AGENT)
                .header("x-forwarded-for", ip)
                .body(Empty::new())
                .map_err(|e| e.to_string())?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let status = response.status().as_u16();
            response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("body: {e}"))?;
            Ok(status)
        };
        tokio::time::timeout(ANSWER_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {ANSWER_TIMEOUT:?}")))
    }
}

/// What the load did.
#[derive(Debug, Clone)]
pub struct Report {
    pub hits: Vec<Hit>,
    pub elapsed: Duration,
}

impl Report {
    /// The hits of several loads together (their `sent_at` stay relative to their own load).
    pub fn merge(reports: Vec<Report>) -> Report {
        Report {
            elapsed: reports.iter().map(|r| r.elapsed).sum(),
            hits: reports.into_iter().flat_map(|r| r.hits).collect(),
        }
    }

    /// Subscribers of hits answered 200: the truth the statistics must match.
    pub fn accepted(&self) -> Vec<String> {
        self.hits
            .iter()
            .filter(|h| h.outcome == Outcome::Status(200))
            .map(|h| h.subscriber.clone())
            .collect()
    }

    pub fn unanswered(&self) -> Vec<&Hit> {
        self.hits
            .iter()
            .filter(|h| matches!(h.outcome, Outcome::Unanswered(_)))
            .collect()
    }

    /// Hits answered with something other than 200.
    pub fn refused(&self) -> Vec<&Hit> {
        self.hits
            .iter()
            .filter(|h| matches!(h.outcome, Outcome::Status(s) if s != 200))
            .collect()
    }

    /// Latency percentile (0..=1) of answered hits, milliseconds.
    pub fn latency_ms(&self, quantile: f64) -> f64 {
        let mut answered: Vec<f64> = self
            .hits
            .iter()
            .filter(|h| matches!(h.outcome, Outcome::Status(_)))
            .map(|h| h.latency.as_secs_f64() * 1000.0)
            .collect();
        if answered.is_empty() {
            return f64::NAN;
        }
        answered.sort_by(f64::total_cmp);
        answered[((answered.len() - 1) as f64 * quantile).round() as usize]
    }

    pub fn summary(&self) -> String {
        format!(
            "{} hits in {:.1} s ({:.0}/s): {} answered 200, {} other status, {} unanswered; \
             latency p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
            self.hits.len(),
            self.elapsed.as_secs_f64(),
            self.hits.len() as f64 / self.elapsed.as_secs_f64(),
            self.accepted().len(),
            self.refused().len(),
            self.unanswered().len(),
            self.latency_ms(0.5),
            self.latency_ms(0.99),
            self.latency_ms(1.0),
        )
    }
}
