//! Request handling: which route, verify the token, record the event, answer.
//!
//! The answer never waits on Kafka: recording an event is an enqueue (or a spool append).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use mailpulse_event::{Event, EventKind, EVENT_SCHEMA_VERSION};
use mailpulse_token::{verify, TokenError, VerifiedToken};

use crate::metrics::Route;
use crate::response::{self, Body};
use crate::state::EdgeState;

/// Longest token we bother verifying (longer paths are not ours).
const MAX_TOKEN_LEN: usize = 4096;

pub async fn handle(
    state: Arc<EdgeState>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let started = Instant::now();
    let (route, response) = route(&state, peer, &request);
    state.metrics.observe(
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    Ok(response)
}

/// Where a request path leads, with the token (if any) borrowed from the path. Pure, so the
/// route and token extraction can be fuzzed without a server (`fuzz/fuzz_targets/edge_route.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParsedRoute<'a> {
    /// `/o/{token}` or `/o/{token}.gif` (`?at=end` marks the end pixel, see
    /// [`is_end_pixel`]): the token without the suffix.
    Pixel(&'a str),
    /// `/c/{token}`.
    Click(&'a str),
    /// `/u/{token}`.
    Unsubscribe(&'a str),
    Health,
    Ready,
    Metrics,
    Other,
}

/// Routes a request path (the query is not part of it: hyper's `Uri::path` drops it).
pub fn parse_route(path: &str) -> ParsedRoute<'_> {
    if let Some(token) = path.strip_prefix("/o/") {
        return ParsedRoute::Pixel(token.strip_suffix(".gif").unwrap_or(token));
    }
    if let Some(token) = path.strip_prefix("/c/") {
        return ParsedRoute::Click(token);
    }
    if let Some(token) = path.strip_prefix("/u/") {
        return ParsedRoute::Unsubscribe(token);
    }
    match path {
        "/healthz" => ParsedRoute::Health,
        "/readyz" => ParsedRoute::Ready,
        "/metrics" => ParsedRoute::Metrics,
        _ => ParsedRoute::Other,
    }
}

fn route(
    state: &EdgeState,
    peer: SocketAddr,
    request: &Request<Incoming>,
) -> (Route, Response<Body>) {
    let method = request.method();
    let is_read = method == Method::GET || method == Method::HEAD;
    match parse_route(request.uri().path()) {
        ParsedRoute::Pixel(_) if !is_read => (Route::Pixel, response::method_not_allowed()),
        ParsedRoute::Click(_) if !is_read => (Route::Click, response::method_not_allowed()),
        ParsedRoute::Pixel(token) => (Route::Pixel, pixel(state, peer, request, token)),
        ParsedRoute::Click(token) => (Route::Click, click(state, peer, request, token)),
        ParsedRoute::Unsubscribe(token) => (
            Route::Unsubscribe,
            crate::unsubscribe::handle(state, peer, request, token),
        ),
        ParsedRoute::Health => (
            Route::Health,
            response::text(StatusCode::OK, "ok\n", "text/plain"),
        ),
        ParsedRoute::Ready => (Route::Ready, readiness(state)),
        ParsedRoute::Metrics => (
            Route::Metrics,
            response::text(
                StatusCode::OK,
                mailpulse_telemetry::render(&state.registry),
                mailpulse_telemetry::METRICS_CONTENT_TYPE,
            ),
        ),
        ParsedRoute::Other => (Route::Other, response::not_found()),
    }
}

/// The pixel is served whatever happens: an invalid token only means no event.
fn pixel(
    state: &EdgeState,
    peer: SocketAddr,
    request: &Request<Incoming>,
    token: &str,
) -> Response<Body> {
    let head = request.method() == Method::HEAD;
    if let Some(verified) = verified(state, token, EventKind::Open) {
        // HEAD fetches no image, so it is no open.
        if !head {
            record(state, peer, request, &verified);
        }
    }
    response::pixel(head)
}

fn click(
    state: &EdgeState,
    peer: SocketAddr,
    request: &Request<Incoming>,
    token: &str,
) -> Response<Body> {
    let Some(verified) = verified(state, token, EventKind::Click) else {
        return response::not_found();
    };
    let Some(response) = verified.url().and_then(response::redirect) else {
        state.metrics.invalid_token("bad_destination");
        return response::not_found();
    };
    // A HEAD is recorded too: it is how many link scanners look, and the aggregator flags it.
    record(state, peer, request, &verified);
    response
}

fn verified(state: &EdgeState, token: &str, expected: EventKind) -> Option<VerifiedToken> {
    verified_at(state, token, expected, now_secs())
}

/// Verifies `token` as of `now` (seconds since the Unix epoch), counting why it fails.
pub(crate) fn verified_at(
    state: &EdgeState,
    token: &str,
    expected: EventKind,
    now: u64,
) -> Option<VerifiedToken> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        state.metrics.invalid_token("malformed");
        return None;
    }
    match verify(&state.keys, token, now) {
        Ok(verified) if verified.kind() == expected => Some(verified),
        Ok(_) => {
            state.metrics.invalid_token("wrong_kind");
            None
        }
        Err(error) => {
            state.metrics.invalid_token(reason(&error));
            None
        }
    }
}

fn reason(error: &TokenError) -> &'static str {
    match error {
        TokenError::Malformed => "malformed",
        TokenError::UnsupportedVersion { .. } => "unsupported_version",
        TokenError::UnknownKey => "unknown_key",
        TokenError::BadSignature => "bad_signature",
        TokenError::Expired { .. } => "expired",
        _ => "other",
    }
}

/// Builds the event and hands it to the sink. The client IP is used here, in memory, for the
/// geo lookup and the visitor hash, and goes no further.
pub(crate) fn record(
    state: &EdgeState,
    peer: SocketAddr,
    request: &Request<Incoming>,
    token: &VerifiedToken,
) {
    let headers = request.headers();
    let ip = state.proxies.client_ip(peer, headers);
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (geo, network) = state.geo.lookup(ip);
    let salt = state.salt.current();
    let visitor = mailpulse_pseudonym::visitor_hash(&salt, token.tenant(), ip, user_agent);
    let event = Event {
        v: EVENT_SCHEMA_VERSION,
        id: uuid::Uuid::now_v7(),
        kind: token.kind(),
        ts_ms: now_millis(),
        tenant: token.tenant().to_owned(),
        campaign: token.campaign().to_owned(),
        subscriber: token.subscriber().to_owned(),
        link: token.link().map(str::to_owned),
        url: token.url().map(str::to_owned),
        issued_at: token.issued_at(),
        visitor: visitor.to_hex().as_str().to_owned(),
        geo,
        network,
        ua: user_agent.to_owned(),
        head: request.method() == Method::HEAD,
        dnt: header_is_one(headers.get("dnt")),
        gpc: header_is_one(headers.get("sec-gpc")),
        end_pixel: token.kind() == EventKind::Open && is_end_pixel(request.uri().query()),
        edge: state.instance.clone(),
    };
    let key = event.partition_key();
    state.sink.submit(key.as_bytes(), &event.to_json());
}

/// The toolkit's bottom pixel (`/o/TOKEN.gif?at=end`): its fetch means the message was rendered
/// to the end, and the statistics do not count it as a second open. A plain `/o/TOKEN` or
/// `/o/TOKEN.gif` is an ordinary open. Scans the query in place: no allocation.
fn is_end_pixel(query: Option<&str>) -> bool {
    query.is_some_and(|query| query.split('&').any(|pair| pair == "at=end"))
}

fn header_is_one(value: Option<&HeaderValue>) -> bool {
    value.is_some_and(|v| v.as_bytes().trim_ascii() == b"1")
}

fn readiness(state: &EdgeState) -> Response<Body> {
    let ready = state.ready();
    let body = serde_json::json!({
        "ready": ready,
        "keys": state.keys.key_ids().count(),
        "geo_db": state.geo.is_loaded(),
        "broker_up": state.sink.broker_up(),
        "spooling": state.sink.spooling(),
        "draining": state.draining(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    response::text(status, Bytes::from(body.to_string()), "application/json")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_paths_yield_their_token() {
        assert_eq!(parse_route("/o/abc"), ParsedRoute::Pixel("abc"));
        assert_eq!(parse_route("/o/abc.gif"), ParsedRoute::Pixel("abc"));
        assert_eq!(parse_route("/c/abc"), ParsedRoute::Click("abc"));
        assert_eq!(parse_route("/u/abc"), ParsedRoute::Unsubscribe("abc"));
        assert_eq!(parse_route("/o/"), ParsedRoute::Pixel(""));
    }

    #[test]
    fn only_at_end_marks_the_end_pixel() {
        assert!(is_end_pixel(Some("at=end")));
        assert!(is_end_pixel(Some("utm=x&at=end")));
        assert!(is_end_pixel(Some("at=end&v=2")));
        assert!(!is_end_pixel(None));
        assert!(!is_end_pixel(Some("")));
        assert!(!is_end_pixel(Some("at=start")));
        assert!(!is_end_pixel(Some("at=endless")));
        assert!(!is_end_pixel(Some("flat=end")));
    }

    #[test]
    fn operational_and_unknown_paths() {
        assert_eq!(parse_route("/healthz"), ParsedRoute::Health);
        assert_eq!(parse_route("/readyz"), ParsedRoute::Ready);
        assert_eq!(parse_route("/metrics"), ParsedRoute::Metrics);
        assert_eq!(parse_route("/healthz/"), ParsedRoute::Other);
        assert_eq!(parse_route("/o"), ParsedRoute::Other);
        assert_eq!(parse_route(""), ParsedRoute::Other);
    }
}
