//! `mailpulse_token::verify` on hostile input, and `sign` → `verify` round trips on arbitrary
//! claims.
//!
//! The first input byte picks the mode:
//! - even: the rest is a token as it would arrive in a URL path. `verify` must answer (never
//!   panic, never read out of bounds); a token it accepts must be the canonical encoding of what
//!   it claims (signing the same claims gives back the same token), so no second spelling of an
//!   authentic token exists.
//! - odd: the rest is split at NUL bytes into tenant, campaign, subscriber, link and destination.
//!   Whatever `sign` accepts must verify to exactly those claims, contain only URL-safe
//!   characters, and stop verifying (or verify to the same claims) when any one character
//!   changes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mailpulse_token::{sign, verify, Action, Claims, EventKind, KeyRing, VerifiedToken};

/// Seeds in `fuzz/corpus/token_verify` are signed with the development key.
fn keyring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        KeyRing::parse(mailpulse_config::DEV_SIGNING_KEYS, "").expect("development key ring")
    })
}

/// 2100-01-01: after the seeds were minted (they carry no expiry).
const NOW: u64 = 4_102_444_800;

fn claims_of(token: &VerifiedToken) -> Claims<'_> {
    let action = match token.kind() {
        EventKind::Open => Action::Open,
        EventKind::Click => Action::Click {
            link: token.link().expect("a click carries a link"),
            destination: token.url().expect("a click carries a destination"),
        },
        EventKind::Unsubscribe => Action::Unsubscribe,
    };
    Claims {
        tenant: token.tenant(),
        campaign: token.campaign(),
        subscriber: token.subscriber(),
        action,
        issued_at: token.issued_at(),
        expires_at: token.expires_at(),
    }
}

fn hostile_token(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(verified) = verify(keyring(), text, NOW) {
        let resigned = sign(keyring(), &claims_of(&verified)).expect("accepted claims re-sign");
        assert_eq!(
            resigned, text,
            "an accepted token is the canonical encoding"
        );
    }
}

fn round_trip(bytes: &[u8]) {
    let (selector, rest) = match bytes.split_first() {
        Some((selector, rest)) => (*selector, rest),
        None => return,
    };
    let mut fields = rest.split(|b| *b == 0).map(String::from_utf8_lossy);
    let tenant = fields.next().unwrap_or_default();
    let campaign = fields.next().unwrap_or_default();
    let subscriber = fields.next().unwrap_or_default();
    let link = fields.next().unwrap_or_default();
    let destination = fields.next().unwrap_or_default();
    let action = match selector % 3 {
        0 => Action::Open,
        1 => Action::Click {
            link: &link,
            destination: &destination,
        },
        _ => Action::Unsubscribe,
    };
    let issued_at = NOW - u64::from(selector) * 86_400;
    let expires_at = (selector & 0x80 != 0).then_some(NOW + 3_600);
    let claims = Claims {
        tenant: &tenant,
        campaign: &campaign,
        subscriber: &subscriber,
        action,
        issued_at,
        expires_at,
    };
    let Ok(token) = sign(keyring(), &claims) else {
        return;
    };
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "token is base64url: {token}"
    );
    let verified = verify(keyring(), &token, NOW).expect("a freshly signed token verifies");
    let back = claims_of(&verified);
    assert_eq!(
        (back.tenant, back.campaign, back.subscriber),
        (claims.tenant, claims.campaign, claims.subscriber)
    );
    assert_eq!((back.issued_at, back.expires_at), (issued_at, expires_at));
    assert_eq!(back.action.kind(), claims.action.kind());
    if let (
        Action::Click { link, .. },
        Action::Click {
            link: back_link, ..
        },
    ) = (claims.action, back.action)
    {
        assert_eq!(link, back_link);
    }
    // One changed character: a forgery attempt that must not verify as something else.
    let position = usize::from(selector) % token.len();
    let mut tampered = token.clone().into_bytes();
    tampered[position] = if tampered[position] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered = String::from_utf8(tampered).expect("ASCII stays UTF-8");
    if let Ok(accepted) = verify(keyring(), &tampered, NOW) {
        assert_eq!(
            accepted, verified,
            "a changed token verified as different claims"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 0 => hostile_token(rest),
        Some((_, rest)) => round_trip(rest),
        None => {}
    }
});
