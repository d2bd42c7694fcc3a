//! Operational routes: `/healthz` (the process answers), `/readyz` (ClickHouse answers and
//! the server is not draining), `/metrics` (Prometheus text) and `/openapi.yaml`.

use std::time::Duration;

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};

use crate::response;
use crate::router::{Access, HandlerResult, Request, Router};

/// The API's OpenAPI 3 description, served as is.
pub const OPENAPI_YAML: &str = include_str!("../../../schemas/openapi.yaml");

/// How long `/readyz` waits for ClickHouse.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn register(router: &mut Router) {
    router
        .add(Method::GET, "/healthz", "healthz", Access::Public, healthz)
        .add(Method::GET, "/readyz", "readyz", Access::Public, readyz)
        .add(Method::GET, "/metrics", "metrics", Access::Public, metrics)
        .add(
            Method::GET,
            "/openapi.yaml",
            "openapi",
            Access::Public,
            openapi,
        );
}

async fn healthz(_: Request) -> HandlerResult {
    Ok(response::text_static(StatusCode::OK, "ok\n"))
}

async fn readyz(request: Request) -> HandlerResult {
    let state = request.state();
    let clickhouse = matches!(
        tokio::time::timeout(
            READY_TIMEOUT,
            state.client.query("SELECT 1").fetch_one::<u8>()
        )
        .await,
        Ok(Ok(1))
    );
    let draining = state.draining();
    let ready = clickhouse && !draining;
    let body = serde_json::json!({
        "ready": ready,
        "clickhouse": clickhouse,
        "draining": draining,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(response::with_body(
        status,
        body.to_string(),
        HeaderValue::from_static("application/json"),
    ))
}

async fn metrics(request: Request) -> HandlerResult {
    Ok(response::with_body(
        StatusCode::OK,
        mailpulse_telemetry::render(&request.state().registry),
        HeaderValue::from_static(mailpulse_telemetry::METRICS_CONTENT_TYPE),
    ))
}

async fn openapi(_: Request) -> HandlerResult {
    Ok(response::with_body(
        StatusCode::OK,
        Bytes::from_static(OPENAPI_YAML.as_bytes()),
        HeaderValue::from_static("application/yaml"),
    ))
}
