//! Shared by the `toolkit_*` tests: the corpus, a rewriter with the test keys, and an
//! independent check that a rewritten message differs from its input only where tracking URLs
//! were put.
#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;

use mailpulse_token::{verify, KeyRing, UrlMinter, VerifiedToken};
use mailpulse_toolkit::{Recipient, RewriteOptions, Rewriter};
use serde::Deserialize;

/// Base URL the corpus tests mint under (the edge is addressed by path, so any host works).
pub const BASE: &str = "https://t.mailpulse.test";

pub const RECIPIENT: Recipient<'static> = Recipient {
    tenant: "acme",
    campaign: "spring-2024",
    subscriber: "sub-0042",
};

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub placeholders: Vec<String>,
    pub html: std::collections::BTreeMap<String, Expected>,
    pub text: std::collections::BTreeMap<String, Expected>,
}

#[derive(Debug, Deserialize)]
pub struct Expected {
    pub tracked: usize,
    pub unsubscribe: usize,
    #[serde(default)]
    pub left: usize,
}

pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/emails")
}

pub fn manifest() -> Manifest {
    let text = std::fs::read_to_string(corpus_dir().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest parses")
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(name)).expect("fixture readable")
}

pub fn keyring() -> KeyRing {
    KeyRing::parse(mailpulse_config::DEV_SIGNING_KEYS, "").expect("dev key ring")
}

pub fn rewriter(placeholders: &[String]) -> Rewriter {
    let minter = UrlMinter::new(BASE, keyring()).expect("minter");
    let options = RewriteOptions {
        unsubscribe_placeholders: placeholders.to_vec(),
        ..RewriteOptions::default()
    };
    Rewriter::new(minter, options).expect("rewriter")
}

/// A tracking URL found in a rewritten message.
#[derive(Debug)]
pub struct TrackingUrl {
    /// Where it starts in the output.
    pub at: usize,
    pub len: usize,
    /// `c`, `o` or `u`.
    pub route: char,
    pub token: String,
}

/// Every `BASE/{c,o,u}/TOKEN` in `output` (tokens are base64url; a pixel's `.gif` or
/// `.gif?at=end` is not part of the token).
pub fn tracking_urls(output: &[u8]) -> Vec<TrackingUrl> {
    let needle = format!("{BASE}/");
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = find(&output[from..], needle.as_bytes()) {
        let at = from + pos;
        let rest = &output[at + needle.len()..];
        if rest.len() > 2 && matches!(rest[0], b'c' | b'o' | b'u') && rest[1] == b'/' {
            let token_len = rest[2..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_')
                .count();
            let token = String::from_utf8(rest[2..2 + token_len].to_vec()).expect("ascii");
            found.push(TrackingUrl {
                at,
                len: needle.len() + 2 + token_len,
                route: rest[0] as char,
                token,
            });
            from = at + needle.len() + 2 + token_len;
        } else {
            from = at + needle.len();
        }
    }
    found
}

pub fn verified(token: &str) -> VerifiedToken {
    verify(&keyring(), token, now_secs()).expect("every minted token verifies")
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The exact pixel tags the rewriter inserts, removed from `output`; returns the output without
/// them and the pixel URLs (top first).
pub fn strip_pixels(output: &[u8]) -> (Vec<u8>, Vec<String>) {
    let open = format!("<img src=\"{BASE}/o/");
    let mut stripped = Vec::with_capacity(output.len());
    let mut urls = Vec::new();
    let mut from = 0;
    while let Some(pos) = find(&output[from..], open.as_bytes()) {
        let at = from + pos;
        let end = at + find(&output[at..], b" />").expect("pixel tag closes") + 3;
        let tag = std::str::from_utf8(&output[at..end]).expect("pixel tag is ASCII");
        let src = tag["<img src=\"".len()..]
            .split('"')
            .next()
            .expect("src value");
        urls.push(src.to_string());
        stripped.extend_from_slice(&output[from..at]);
        from = end;
    }
    stripped.extend_from_slice(&output[from..]);
    (stripped, urls)
}

/// One `href` value the rewriter replaced: the original text and the URL put in its place.
#[derive(Debug)]
pub struct Replacement {
    pub original: String,
    pub url: TrackingUrl,
}

/// Checks that `output` (pixels already stripped) is `input` with some spans replaced by
/// tracking URLs and nothing else changed, and returns the spans. Independent of the
/// rewriter's own bookkeeping: the text between two tracking URLs must occur in the input
/// right after the previous replaced span, and a span ends where the attribute value ends
/// (the next output segment starts with the closing quote, a space or `>`, which a value in
/// that quoting cannot contain).
pub fn replaced_spans(input: &[u8], output: &[u8]) -> Vec<Replacement> {
    let urls = tracking_urls(output);
    let mut replacements = Vec::new();
    let mut input_at = 0;
    let mut output_at = 0;
    for url in urls {
        let unchanged = &output[output_at..url.at];
        if replacements.is_empty() {
            assert_eq!(
                &input[..unchanged.len()],
                unchanged,
                "the output starts exactly like the input"
            );
            input_at = unchanged.len();
        } else {
            let found = find(&input[input_at..], unchanged).unwrap_or_else(|| {
                panic!(
                    "output segment not in the input: {:?}",
                    String::from_utf8_lossy(&unchanged[..unchanged.len().min(200)])
                )
            });
            let previous: &mut Replacement = replacements.last_mut().expect("previous");
            previous.original =
                String::from_utf8_lossy(&input[input_at..input_at + found]).into_owned();
            input_at += found + unchanged.len();
        }
        output_at = url.at + url.len;
        replacements.push(Replacement {
            original: String::new(),
            url,
        });
    }
    let tail = &output[output_at..];
    if let Some(last) = replacements.last_mut() {
        assert!(
            input.ends_with(tail) && input.len() - tail.len() >= input_at,
            "the output ends exactly like the input"
        );
        last.original =
            String::from_utf8_lossy(&input[input_at..input.len() - tail.len()]).into_owned();
    } else {
        assert_eq!(input, output, "nothing replaced: output equals input");
    }
    replacements
}

/// What a browser follows for an `href` written as `raw` (a test-side reimplementation of the
/// few references the corpus uses), resolved against `base`.
pub fn expected_destination(raw: &str, base: Option<&str>) -> String {
    let decoded = raw
        .replace("&amp;", "&")
        .replace("&AMP;", "&")
        .replace("&#38;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    let trimmed = decoded.trim();
    let url = match base {
        Some(base) if !trimmed.to_ascii_lowercase().starts_with("http") => url::Url::parse(base)
            .expect("base")
            .join(trimmed)
            .expect("joins"),
        _ => url::Url::parse(trimmed).expect("absolute URL"),
    };
    url.into()
}

/// The `<base href="…">` of a document, found by plain search (the corpus writes it simply).
pub fn base_of(input: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(input);
    let at = text.find("<base href=\"")? + "<base href=\"".len();
    Some(text[at..].split('"').next()?.to_string())
}

/// A `POST` with a body on a fresh connection: status and body.
pub async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    content_type: Option<&str>,
    body: &'static str,
) -> (hyper::StatusCode, bytes::Bytes) {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to edge");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
    tokio::spawn(connection);
    let mut builder = hyper::Request::builder()
        .method(hyper::Method::POST)
        .uri(path)
        .header("host", addr.to_string())
        .header("user-agent", "Mozilla/5.0 (compatible; GoogleOneClick)");
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    let request = builder
        .body(Full::new(bytes::Bytes::from_static(body.as_bytes())))
        .expect("request");
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        sender.send_request(request),
    )
    .await
    .expect("edge answered within 10 s")
    .expect("response");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body)
}
