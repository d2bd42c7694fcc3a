//! One request from arrival to answer: find the route, read the body (bounded), authenticate
//! `Access::Tenant` routes, run the handler, turn errors into JSON, audit, count.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::Response;

use crate::audit::{AuditEntry, Outcome};
use crate::response::{self, Body};
use crate::router::{Access, Found, Request, Route, Router};
use crate::state::ApiState;
use crate::ApiError;

/// Put into a response's extensions by a handler whose call named a subscriber: the audit
/// entry then records it as the subject.
#[derive(Debug, Clone)]
pub struct AuditSubject(pub String);

/// Marks `response` as concerning `subscriber` in the audit log.
pub fn with_audit_subject(mut response: Response<Body>, subscriber: &str) -> Response<Body> {
    response
        .extensions_mut()
        .insert(AuditSubject(subscriber.to_string()));
    response
}

pub async fn dispatch(
    state: Arc<ApiState>,
    router: Arc<Router>,
    request: hyper::Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let (name, response) = match router.find(&parts.method, parts.uri.path()) {
        Found::Nothing => ("unmatched", error_response(&ApiError::NotFound)),
        Found::WrongMethod(allow) => (
            "unmatched",
            error_response(&ApiError::MethodNotAllowed(allow)),
        ),
        Found::Route(route, params) => {
            let response = match read_body(body, route.max_body()).await {
                Ok(body) => {
                    let request = Request::new(parts, body, params, state.clone());
                    run(&state, route, request).await
                }
                Err(error) => error_response(&error),
            };
            (route.name(), response)
        }
    };
    state.metrics.observe(
        name,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    Ok(response)
}

async fn run(state: &ApiState, route: &Route, mut request: Request) -> Response<Body> {
    if route.access() == Access::Public {
        return route
            .call(request)
            .await
            .unwrap_or_else(|error| error_response(&error));
    }
    let caller = match state
        .auth
        .authenticate(&request.method, &request.headers)
        .await
    {
        Ok(caller) => caller,
        Err(error) => {
            if matches!(error, ApiError::InvalidApiKey) {
                state.metrics.auth_failures.inc();
            }
            return error_response(&error);
        }
    };
    request.set_caller(caller.clone());
    let response = route
        .call(request)
        .await
        .unwrap_or_else(|error| error_response(&error));
    let mut entry = AuditEntry::now(
        caller.tenant.as_str(),
        caller.key_id,
        route.name(),
        Outcome::of_status(response.status().as_u16()),
    );
    if let Some(AuditSubject(subject)) = response.extensions().get::<AuditSubject>() {
        entry = entry.with_subject(subject.clone());
    }
    state.audit.record(entry);
    response
}

async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::PayloadTooLarge(limit))
        }
        Err(error) => Err(ApiError::invalid(format!("reading the body: {error}"))),
    }
}

/// The JSON error answer; server-side failures are logged here with their detail.
pub fn error_response(error: &ApiError) -> Response<Body> {
    match error {
        ApiError::Internal(detail) => tracing::error!(%detail, "request failed"),
        ApiError::Unavailable(source) => tracing::warn!(%source, "ClickHouse unavailable"),
        _ => {}
    }
    response::error(error)
}
