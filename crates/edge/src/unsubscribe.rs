//! `/u/{token}`: one-click unsubscribe (RFC 8058).
//!
//! - `POST` (what Gmail, Yahoo and Apple Mail send, body `List-Unsubscribe=One-Click`, and what
//!   the confirmation form sends) records an `unsubscribe` event through the same sink as opens
//!   and clicks and answers a short confirmation page. The body is not read: the signed token
//!   is the authority, and RFC 8058 allows no other body.
//! - `GET` only shows a page with a button that POSTs: link scanners and previewers fetch every
//!   URL in a message, and a GET that unsubscribed would unsubscribe people who never asked.
//!
//! A forged token gets `404`. An expired one is still honoured: the signature proves we issued
//! it, and an unsubscribe link must keep working long after the message was sent (CAN-SPAM asks
//! for at least 30 days).

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use mailpulse_event::EventKind;

use crate::response::{self, Body};
use crate::routes::{record, verified_at};
use crate::state::EdgeState;

/// Shown on `GET`: the form has no `action`, so it posts back to the URL it was loaded from,
/// whatever path prefix a proxy put in front of the edge.
const CONFIRM_HTML: &str = "<!doctype html><html><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\"><title>Unsubscribe</title></head>\
<body style=\"font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em\">\
<h1>Unsubscribe</h1><p>Stop receiving these emails?</p>\
<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
<button type=\"submit\">Unsubscribe</button></form></body></html>";

/// Answer to a `POST`.
const DONE_HTML: &str = "<!doctype html><html><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\"><title>Unsubscribed</title></head>\
<body style=\"font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em\">\
<h1>You are unsubscribed</h1><p>You will not receive these emails any more.</p></body></html>";

pub fn handle(
    state: &EdgeState,
    peer: SocketAddr,
    request: &Request<Incoming>,
    token: &str,
) -> Response<Body> {
    let method = request.method();
    let is_post = method == Method::POST;
    if !(is_post || method == Method::GET || method == Method::HEAD) {
        return method_not_allowed();
    }
    // Expiry is not enforced (see the module comment): verify as of the epoch.
    let Some(token) = verified_at(state, token, EventKind::Unsubscribe, 0) else {
        return response::not_found();
    };
    if !is_post {
        return page(CONFIRM_HTML, method == Method::HEAD);
    }
    record(state, peer, request, &token);
    page(DONE_HTML, false)
}

fn page(html: &'static str, head: bool) -> Response<Body> {
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from_static(html.as_bytes())
    };
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn method_not_allowed() -> Response<Body> {
    let mut response = response::method_not_allowed();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_get_page_posts_the_one_click_body_back_to_itself() {
        assert!(CONFIRM_HTML.contains("<form method=\"post\">"));
        assert!(!CONFIRM_HTML.contains("action="));
        assert!(CONFIRM_HTML.contains("name=\"List-Unsubscribe\" value=\"One-Click\""));
    }

    #[test]
    fn other_methods_are_refused_with_the_allowed_ones() {
        let response = method_not_allowed();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET, HEAD, POST");
    }
}
