//! Responses built once: the pixel, the not-found page and their headers.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

/// The 43-byte transparent 1×1 GIF.
pub const PIXEL_GIF: &[u8; 43] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff\x21\xf9\x04\x01\x00\x00\x00\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b";

const NOT_FOUND_HTML: &str =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Link not found</title></head>\
<body><h1>This link is not valid</h1><p>It may have expired or been mistyped.</p></body></html>";

pub type Body = Full<Bytes>;

/// Every pixel answer, whatever the token: caches must never keep it, or the next open of the
/// email would not reach us.
pub fn pixel(head: bool) -> Response<Body> {
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from_static(PIXEL_GIF)
    };
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("43"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache, must-revalidate, private, max-age=0"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::EXPIRES, HeaderValue::from_static("0"));
    response
}

/// `302` to a signed destination. `None` when the destination cannot be a header value (it was
/// validated at signing, so this means a bug or a forged key, and we refuse to redirect).
pub fn redirect(destination: &str) -> Option<Response<Body>> {
    let location = HeaderValue::from_str(destination).ok()?;
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::FOUND;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Some(response)
}

pub fn not_found() -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(NOT_FOUND_HTML.as_bytes())));
    *response.status_mut() = StatusCode::NOT_FOUND;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn method_not_allowed() -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

pub fn text(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_is_a_valid_43_byte_gif_with_no_store_headers() {
        assert_eq!(PIXEL_GIF.len(), 43);
        assert!(PIXEL_GIF.starts_with(b"GIF89a") && PIXEL_GIF.ends_with(b";"));
        let response = pixel(false);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "image/gif");
        assert_eq!(response.headers()[header::EXPIRES], "0");
        assert!(response.headers()[header::CACHE_CONTROL]
            .to_str()
            .is_ok_and(|v| v.contains("no-store")));
    }

    #[test]
    fn redirect_refuses_destinations_that_are_not_header_safe() {
        assert!(redirect("https://example.com/ok").is_some());
        assert!(redirect("https://example.com/\r\nSet-Cookie: x=1").is_none());
    }
}
