//! Accepting connections, background upkeep and the shutdown order: readiness turns 503, the
//! listener closes, open connections finish within a budget, then the producer flushes or
//! spools everything.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use mailpulse_config::Config;
use mailpulse_geo::GeoResolver;
use mailpulse_telemetry::Registry;
use mailpulse_token::KeyRing;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::client_ip::TrustedProxies;
use crate::metrics::EdgeMetrics;
use crate::routes;
use crate::salt::SaltKeeper;
use crate::sink::EventSink;
use crate::state::EdgeState;
use crate::EdgeError;

/// How long open connections may take to finish after shutdown begins.
const DRAIN_BUDGET: Duration = Duration::from_secs(10);
/// Largest request head we buffer (hyper's minimum is 8 KiB); larger gets `431`.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// Builds the edge's state: keys, GeoIP, salt, Kafka producer and spool. Blocking.
pub fn build_state(config: &Config) -> Result<Arc<EdgeState>, EdgeError> {
    let keys = KeyRing::parse(&config.keys.signing, &config.keys.active)
        .map_err(|e| EdgeError::Config(e.to_string()))?;
    let proxies = TrustedProxies::parse(&config.edge.trusted_proxies).map_err(EdgeError::Config)?;
    let geo = GeoResolver::open(
        &config.edge.geo_db,
        &config.edge.asn_db,
        config.edge.geo_granularity,
        config.edge.record_network_prefix,
    )?;
    let mut registry = Registry::default();
    let metrics = Arc::new(EdgeMetrics::register(&mut registry));
    std::fs::create_dir_all(&config.edge.spool_dir).map_err(|e| {
        EdgeError::Config(format!(
            "edge.spool_dir {}: {e}",
            config.edge.spool_dir.display()
        ))
    })?;
    let salt = SaltKeeper::start(config)?;
    let sink = EventSink::new(config, metrics.clone())?;
    Ok(Arc::new(EdgeState {
        keys,
        proxies,
        geo,
        salt,
        sink,
        metrics,
        registry,
        instance: config.edge.instance.clone(),
        draining: AtomicBool::new(false),
    }))
}

/// Serves until `shutdown` resolves, then drains and flushes.
pub async fn serve(
    config: &Config,
    state: Arc<EdgeState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), EdgeError> {
    let upkeep_stop = Arc::new(AtomicBool::new(false));
    let upkeep = spawn_upkeep(Arc::downgrade(&state), upkeep_stop.clone());
    let limit = Arc::new(Semaphore::new(config.edge.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let header_timeout = Duration::from_millis(config.edge.header_timeout_ms);
    tracing::info!(listen = %listener.local_addr().map_err(EdgeError::Io)?, "edge listening");

    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| routes::handle(state.clone(), peer, request));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(MAX_REQUEST_HEAD)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = &mut connection => {}
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(permit);
        });
    }

    tracing::info!("shutting down: readiness off, draining connections");
    state.draining.store(true, Ordering::SeqCst);
    drop(listener);
    let _ = stop_tx.send(true);
    let all = config.edge.max_connections as u32;
    let _ = tokio::time::timeout(DRAIN_BUDGET, limit.acquire_many(all)).await;

    upkeep_stop.store(true, Ordering::SeqCst);
    let flush_budget = Duration::from_millis(config.edge.shutdown_flush_ms);
    let flushing = state.clone();
    tokio::task::spawn_blocking(move || {
        let _ = upkeep.join();
        flushing.sink.shutdown(flush_budget);
    })
    .await
    .map_err(|e| EdgeError::Config(format!("shutdown task failed: {e}")))?;
    tracing::info!("edge stopped; every accepted event is in Kafka or the spool");
    Ok(())
}

/// One thread for the blocking chores: broker probes and spool replay, spool fsync, GeoIP
/// reload and salt rotation. It holds the state weakly, so an edge dropped without a clean
/// shutdown (a panicking test) does not leave its Kafka clients running.
fn spawn_upkeep(state: Weak<EdgeState>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("edge-upkeep".into())
        .spawn(move || {
            let mut tick: u64 = 0;
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                let Some(state) = state.upgrade() else {
                    return;
                };
                tick += 1;
                upkeep_tick(&state, tick, &stop);
            }
        })
        .unwrap_or_else(|e| panic!("cannot start the edge upkeep thread: {e}"))
}

fn upkeep_tick(state: &EdgeState, tick: u64, stop: &AtomicBool) {
    state.sink.sync_spool();
    if tick.is_multiple_of(10) && (!state.sink.broker_up() || state.sink.spooling()) {
        state.sink.probe_broker(Duration::from_secs(1));
    }
    while state.sink.spooling() && state.sink.broker_up() && !stop.load(Ordering::SeqCst) {
        match state.sink.replay_round(Duration::from_secs(30)) {
            Ok(0) => break,
            Ok(count) => tracing::info!(count, "replayed spooled events to Kafka"),
            Err(error) => {
                tracing::warn!(%error, "spool replay paused");
                break;
            }
        }
    }
    if tick.is_multiple_of(50) {
        if let Err(error) = state.geo.reload_if_changed() {
            tracing::error!(%error, "GeoIP reload failed; keeping the loaded database");
        }
    }
    if tick.is_multiple_of(100) {
        state.salt.rotate();
    }
}

/// Convenience for tests and the CLI: bind, build and serve.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), EdgeError> {
    let listener = TcpListener::bind(&config.edge.listen)
        .await
        .map_err(EdgeError::Io)?;
    let state_config = config.clone();
    let state = tokio::task::spawn_blocking(move || build_state(&state_config))
        .await
        .map_err(|e| EdgeError::Config(format!("startup task failed: {e}")))??;
    serve(&config, state, listener, shutdown).await
}

/// The address a listener bound to (for `127.0.0.1:0` in tests).
pub fn local_addr(listener: &TcpListener) -> Result<SocketAddr, EdgeError> {
    listener.local_addr().map_err(EdgeError::Io)
}
