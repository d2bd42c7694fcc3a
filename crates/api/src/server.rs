//! Accepting connections and the shutdown order: `/readyz` turns 503, the listener closes,
//! open connections finish within a budget, then the audit queue is written out.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use mailpulse_config::Config;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::audit::AuditWriter;
use crate::auth::DEFAULT_KEY_TTL;
use crate::dispatch::dispatch;
use crate::router::Router;
use crate::state::ApiState;
use crate::ApiError;

/// Concurrent connections; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 1_024;
/// Time allowed to send a request head (slow-loris guard).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections may take to finish after shutdown begins.
const DRAIN_BUDGET: Duration = Duration::from_secs(10);

/// A server ready to accept: state, routes and the audit writer to finish at shutdown.
pub struct ApiServer {
    pub state: Arc<ApiState>,
    pub router: Arc<Router>,
    writer: AuditWriter,
}

impl ApiServer {
    /// State for `config` and the standard routes (operations, statistics, dashboard). Call
    /// [`ApiServer::with_router`] instead to add routes of other modules first.
    pub fn new(config: &Config) -> ApiServer {
        ApiServer::with_router(config, crate::default_router())
    }

    /// State for `config` serving `router`. Needs a Tokio runtime (starts the audit writer).
    pub fn with_router(config: &Config, router: Router) -> ApiServer {
        ApiServer::build(config, router, DEFAULT_KEY_TTL)
    }

    /// As [`ApiServer::with_router`], trusting a loaded key list for `key_ttl` (tests use a
    /// short one to see revocations at once).
    pub fn build(config: &Config, router: Router, key_ttl: Duration) -> ApiServer {
        let client = mailpulse_store::connect(&config.clickhouse);
        let (state, writer) = ApiState::new(client, key_ttl);
        ApiServer {
            state: Arc::new(state),
            router: Arc::new(router),
            writer,
        }
    }

    /// Serves on `listener` until `shutdown` resolves, then drains and writes the audit queue.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ApiError> {
        let ApiServer {
            state,
            router,
            writer,
        } = self;
        let address = listener
            .local_addr()
            .map_err(|e| ApiError::Startup(format!("listener address: {e}")))?;
        tracing::info!(%address, "API listening");
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let (stop_tx, stop_rx) = watch::channel(false);

        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                () = &mut shutdown => break,
                permit = limit.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let stream = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let state = state.clone();
            let router = router.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let service =
                    service_fn(move |request| dispatch(state.clone(), router.clone(), request));
                let connection = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
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

        tracing::info!("API shutting down: readiness off, draining connections");
        state.start_draining();
        drop(listener);
        let _ = stop_tx.send(true);
        let all = MAX_CONNECTIONS as u32;
        if tokio::time::timeout(DRAIN_BUDGET, limit.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the drain budget; closing them");
        }
        writer.finish().await;
        tracing::info!("API stopped");
        Ok(())
    }
}

/// Binds `api.listen` and serves `router` (start from [`crate::default_router`] and add the
/// routes of other modules) until `shutdown`.
pub async fn run(
    config: &Config,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ApiError> {
    let address: SocketAddr = config.api.listen.parse().map_err(|_| {
        ApiError::Startup(format!(
            "api.listen `{}` is not an address:port",
            config.api.listen
        ))
    })?;
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| ApiError::Startup(format!("cannot listen on {address}: {e}")))?;
    ApiServer::with_router(config, router)
        .serve(listener, shutdown)
        .await
}
