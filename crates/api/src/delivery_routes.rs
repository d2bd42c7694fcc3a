//! `POST /v1/deliveries`: senders report per-recipient delivery statuses (sent, delivered,
//! bounced, complained) as JSON Lines. The batch is checked for the key's tenant
//! ([`delivery_batch`](crate::delivery_batch)), then published to `kafka.deliveries_topic`
//! with [`DeliveryIngest`] (acks=all) — all or nothing. The aggregator stores the statuses in
//! `deliveries` / `delivery_daily`, where the campaign summary's `delivered` comes from.
//!
//! Answers: `202` once the broker holds every status (counts show after the aggregator's next
//! batch, about a second); `422 malformed_deliveries` with a per-line `report`; `413
//! payload_too_large` over 16 MiB or
//! [`MAX_BATCH_LINES`](mailpulse_aggregator::delivery_ingest::MAX_BATCH_LINES) statuses; `503 kafka_unavailable`
//! (retry: statuses are stored once per recipient and status, so a resent batch never
//! double-counts).

use std::sync::Arc;

use hyper::header::HeaderValue;
use hyper::{Method, Response, StatusCode};
use mailpulse_aggregator::delivery_ingest::DeliveryIngest;
use mailpulse_aggregator::AggregatorError;
use serde_json::json;

use crate::delivery_batch::{self, BatchRefusal};
use crate::response::{self, Body};
use crate::router::{Access, HandlerResult, Request, Router};

/// Largest body accepted (a typical status line is 120–200 bytes).
pub const MAX_DELIVERIES_BODY: usize = 16 * 1024 * 1024;

/// Registers `POST /v1/deliveries`, publishing with `ingest`.
pub fn register(router: &mut Router, ingest: Arc<DeliveryIngest>) {
    router
        .add(
            Method::POST,
            "/v1/deliveries",
            "deliveries.ingest",
            Access::Tenant,
            move |request| post_deliveries(ingest.clone(), request),
        )
        .with_body_limit(MAX_DELIVERIES_BODY);
}

fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({ "error": { "code": code, "message": message } })
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    response::with_body(
        status,
        body.to_string(),
        HeaderValue::from_static("application/json"),
    )
}

async fn post_deliveries(ingest: Arc<DeliveryIngest>, request: Request) -> HandlerResult {
    let tenant = request.caller()?.tenant.as_str().to_string();
    let events = match delivery_batch::parse(&request.body, &tenant) {
        Ok(events) => events,
        Err(BatchRefusal::Malformed(report)) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            let message = format!(
                "{} of {} line(s) are not valid delivery statuses; nothing was accepted",
                report.errors_total, report.lines
            );
            let mut body = error_body("malformed_deliveries", &message);
            body["report"] = json!(report);
            return Ok(json_response(status, &body));
        }
        Err(BatchRefusal::TooManyLines { max_lines }) => {
            let status = StatusCode::PAYLOAD_TOO_LARGE;
            let message =
                format!("more than {max_lines} statuses; split the batch into several calls");
            return Ok(json_response(
                status,
                &error_body("payload_too_large", &message),
            ));
        }
    };
    match ingest.publish(&events).await {
        Ok(accepted) => Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({ "tenant": tenant, "accepted": accepted }),
        )),
        Err(error) => {
            tracing::warn!(%error, statuses = events.len(), "publishing delivery statuses failed");
            let status = StatusCode::SERVICE_UNAVAILABLE;
            let message = match error {
                AggregatorError::Kafka(_) => {
                    "Kafka did not accept the statuses; retry (a resent batch is counted once)"
                }
                _ => "the statuses could not be published; retry",
            };
            Ok(json_response(
                status,
                &error_body("kafka_unavailable", message),
            ))
        }
    }
}
