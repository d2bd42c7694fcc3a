//! The admin endpoint: `/healthz` (the process runs), `/readyz` (consuming: consent loaded,
//! ClickHouse accepting inserts) and `/metrics` (Prometheus text).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mailpulse_telemetry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::AggregatorError;

/// What `/readyz` reports, set by the pipeline.
#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<HealthFlags>,
}

#[derive(Debug, Default)]
struct HealthFlags {
    /// Consent book loaded and the consumer subscribed.
    consuming: AtomicBool,
    /// Inserts are failing; consumption is paused until ClickHouse answers again.
    paused: AtomicBool,
}

impl Health {
    pub fn set_consuming(&self, consuming: bool) {
        self.inner.consuming.store(consuming, Ordering::Relaxed);
    }

    pub fn set_paused(&self, paused: bool) {
        self.inner.paused.store(paused, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.inner.consuming.load(Ordering::Relaxed) && !self.inner.paused.load(Ordering::Relaxed)
    }
}

/// Binds `listen` and serves until `shutdown`. Binding happens before this returns, so a taken
/// port fails the start.
pub async fn serve(
    listen: &str,
    registry: Arc<Registry>,
    health: Health,
    mut shutdown: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, AggregatorError> {
    let address: SocketAddr = listen
        .parse()
        .map_err(|_| AggregatorError::Config(format!("aggregator.admin_listen `{listen}`")))?;
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| AggregatorError::Admin { address, source })?;
    let bound = listener.local_addr().unwrap_or(address);
    tracing::info!(address = %bound, "admin endpoint listening");
    Ok(tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = shutdown.changed() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "admin accept failed");
                        continue;
                    }
                },
            };
            let registry = registry.clone();
            let health = health.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let response = respond(&request, &registry, &health);
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }))
}

fn respond(
    request: &Request<Incoming>,
    registry: &Registry,
    health: &Health,
) -> Response<Full<Bytes>> {
    match request.uri().path() {
        "/healthz" => text(StatusCode::OK, Bytes::from_static(b"ok\n")),
        "/readyz" if health.is_ready() => text(StatusCode::OK, Bytes::from_static(b"ready\n")),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            Bytes::from_static(b"not ready\n"),
        ),
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(mailpulse_telemetry::render(
                registry,
            ))));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(mailpulse_telemetry::METRICS_CONTENT_TYPE),
            );
            response
        }
        _ => text(StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n")),
    }
}

fn text(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
