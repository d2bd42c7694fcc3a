//! Building responses: JSON, CSV, HTML, redirects and the JSON error body. Statistics are
//! per tenant and change by the second, so nothing here may be cached by a shared cache.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::ApiError;

pub type Body = Full<Bytes>;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const CSV: HeaderValue = HeaderValue::from_static("text/csv; charset=utf-8");
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// A response with a body, a content type and `Cache-Control: no-store`.
pub fn with_body(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: HeaderValue,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CACHE_CONTROL, NO_STORE);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `200` with `value` as JSON.
pub fn json<T: Serialize>(value: &T) -> Result<Response<Body>, ApiError> {
    let body =
        serde_json::to_vec(value).map_err(|e| ApiError::Internal(format!("encoding JSON: {e}")))?;
    Ok(with_body(StatusCode::OK, body, JSON))
}

/// `200` with `rows` as CSV (a header line, then one line per row), offered as a download
/// named `filename`. No rows still gives the header (taken from a default row).
pub fn csv<T: Serialize + Default>(rows: &[T], filename: &str) -> Result<Response<Body>, ApiError> {
    let body = if rows.is_empty() {
        let mut with_sample = encode_csv(std::slice::from_ref(&T::default()))?;
        let header_end = with_sample
            .iter()
            .position(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        with_sample.truncate(header_end);
        with_sample
    } else {
        encode_csv(rows)?
    };
    let mut response = with_body(StatusCode::OK, body, CSV);
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        safe_filename(filename)
    )) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

fn encode_csv<T: Serialize>(rows: &[T]) -> Result<Vec<u8>, ApiError> {
    let failed = |e: &dyn std::fmt::Display| ApiError::Internal(format!("encoding CSV: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(64 * (rows.len() + 1)));
    for row in rows {
        writer.serialize(row).map_err(|e| failed(&e))?;
    }
    writer.into_inner().map_err(|e| failed(&e))
}

/// Letters, digits, `-`, `_` and `.` only: campaign ids may hold anything.
fn safe_filename(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// An HTML page.
pub fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut response = with_body(status, page, HTML);
    // Scripts, styles and images only from this server: the pages show tenant data.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A static text body.
pub fn text_static(status: StatusCode, body: &'static str) -> Response<Body> {
    with_body(
        status,
        Bytes::from_static(body.as_bytes()),
        HeaderValue::from_static("text/plain; charset=utf-8"),
    )
}

/// A static asset that may be cached (it is versioned by the binary).
pub fn asset(body: &'static str, content_type: &'static str) -> Response<Body> {
    let mut response = with_body(
        StatusCode::OK,
        Bytes::from_static(body.as_bytes()),
        HeaderValue::from_static(content_type),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `303 See Other` to a local path.
pub fn see_other(location: &str) -> Response<Body> {
    let mut response = with_body(StatusCode::SEE_OTHER, Bytes::new(), HTML);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The error as `{"error":{"code","message"}}` with its status.
pub fn error(error: &ApiError) -> Response<Body> {
    let mut response = with_body(error.status(), error.body(), JSON);
    let headers = response.headers_mut();
    match error {
        ApiError::InvalidApiKey => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mailpulse\""),
            );
        }
        ApiError::MethodNotAllowed(allow) => {
            if let Ok(value) = HeaderValue::from_str(allow) {
                headers.insert(header::ALLOW, value);
            }
        }
        _ => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Default)]
    struct Row<'a> {
        value: &'a str,
        opens: u64,
        rate: Option<f64>,
    }

    #[test]
    fn csv_has_a_header_and_quotes_what_needs_it() {
        let rows = [
            Row {
                value: "a,b",
                opens: 3,
                rate: Some(0.5),
            },
            Row {
                value: "plain",
                opens: 0,
                rate: None,
            },
        ];
        let response = csv(&rows, "x y.csv").expect("CSV encodes");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/csv; charset=utf-8"
        );
        assert_eq!(
            response.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"x_y.csv\""
        );
        let body = response.into_body();
        let bytes = futures_body(body);
        assert_eq!(bytes, "value,opens,rate\n\"a,b\",3,0.5\nplain,0,\n");
    }

    fn futures_body(body: Body) -> String {
        use http_body_util::BodyExt;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let bytes = runtime
            .block_on(body.collect())
            .expect("full body")
            .to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[test]
    fn an_empty_table_still_has_its_header() {
        let response = csv::<Row<'_>>(&[], "empty.csv").expect("CSV encodes");
        assert_eq!(futures_body(response.into_body()), "value,opens,rate\n");
    }

    #[test]
    fn unauthorised_answers_carry_a_bearer_challenge() {
        let response = error(&ApiError::InvalidApiKey);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
