//! The senders' rewriter (`mailpulse_toolkit`) on hostile input.
//!
//! The first byte picks HTML (even) or text (odd); the rest is the message. Checked: rewriting
//! never fails or panics; HTML gets exactly its two pixels; every tracking URL put in the output
//! carries a token that verifies; rewriting the output again changes nothing (so a message
//! that passes through two senders' tools is not double-tracked).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mailpulse_token::{verify, KeyRing, UrlMinter};
use mailpulse_toolkit::{Recipient, RewriteOptions, Rewriter};

const BASE: &str = "https://t.mailpulse.test";

/// 2100-01-01: after any token minted here (the rewriter mints tokens without expiry).
const NOW: u64 = 4_102_444_800;

const RECIPIENT: Recipient<'static> = Recipient {
    tenant: "acme",
    campaign: "spring",
    subscriber: "sub-0042",
};

fn keyring() -> KeyRing {
    KeyRing::parse(mailpulse_config::DEV_SIGNING_KEYS, "").expect("development key ring")
}

fn rewriter() -> &'static Rewriter {
    static REWRITER: OnceLock<Rewriter> = OnceLock::new();
    REWRITER.get_or_init(|| {
        let minter = UrlMinter::new(BASE, keyring()).expect("minter");
        Rewriter::new(minter, RewriteOptions::default()).expect("rewriter")
    })
}

/// Every token after `BASE/{c,o,u}/` in `output` (base64url characters only).
fn tokens(output: &[u8]) -> Vec<String> {
    let needle = format!("{BASE}/");
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = output[from..]
        .windows(needle.len())
        .position(|window| window == needle.as_bytes())
    {
        let start = from + pos + needle.len();
        from = start;
        let rest = &output[start..];
        if rest.len() < 2 || !matches!(rest[0], b'c' | b'o' | b'u') || rest[1] != b'/' {
            continue;
        }
        let token: String = rest[2..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_')
            .map(|b| char::from(*b))
            .collect();
        found.push(token);
    }
    found
}

/// Every tracking token the rewrite added verifies. URLs already in the input are not ours to
/// check. In text, a placeholder glued to the next word (`{{unsubscribe}}Next`) becomes a URL
/// glued to that word; the token is then the longest verifying prefix of the run.
fn check_new_tokens(input: &[u8], output: &[u8]) {
    let before = tokens(input);
    let ring = keyring();
    for token in tokens(output) {
        if before.contains(&token) {
            continue;
        }
        let genuine = (16..=token.len())
            .rev()
            .any(|len| verify(&ring, &token[..len], NOW).is_ok());
        assert!(
            genuine,
            "the rewriter minted a token that does not verify: {token}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, message)) = data.split_first() else {
        return;
    };
    let rewriter = rewriter();
    if mode % 2 == 0 {
        let (output, report) = rewriter
            .rewrite_html_with_report(message, &RECIPIENT)
            .expect("rewriting HTML never fails");
        assert!(
            report.pixels <= 2,
            "a top and an end pixel, each unless it would land in a broken tag at the end"
        );
        check_new_tokens(message, &output);
        let (again, second) = rewriter
            .rewrite_html_with_report(&output, &RECIPIENT)
            .expect("second rewrite");
        assert_eq!(second.tracked + second.unsubscribe + second.pixels, 0);
        assert!(again == output, "a second rewrite changes nothing");
    } else {
        let text = String::from_utf8_lossy(message);
        let output = rewriter
            .rewrite_text(&text, &RECIPIENT)
            .expect("rewriting text never fails");
        check_new_tokens(text.as_bytes(), output.as_bytes());
        let again = rewriter
            .rewrite_text(&output, &RECIPIENT)
            .expect("second rewrite");
        assert_eq!(again, output, "a second rewrite changes nothing");
    }
});
