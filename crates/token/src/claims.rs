//! What a token asserts, and the checks a claim must pass before it is signed. Validation lives
//! here, at signing time, so the hot verification path can trust what it authenticated.

use mailpulse_event::EventKind;

use crate::format::{MAX_ID_LEN, MAX_URL_LEN};
use crate::TokenError;

/// The contents of a token to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims<'a> {
    pub tenant: &'a str,
    pub campaign: &'a str,
    /// The sender's opaque subscriber id (never an email address).
    pub subscriber: &'a str,
    pub action: Action<'a>,
    /// When the token is minted, seconds since the Unix epoch.
    pub issued_at: u64,
    /// From this instant on (seconds since the Unix epoch) the token no longer verifies.
    pub expires_at: Option<u64>,
}

/// What following the token does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// A tracking pixel was loaded.
    Open,
    /// A link was followed: `link` groups clicks across recipients, `destination` is where the
    /// edge redirects (an absolute `http`/`https` URL).
    Click { link: &'a str, destination: &'a str },
    /// The unsubscribe link was followed.
    Unsubscribe,
}

impl Action<'_> {
    pub fn kind(&self) -> EventKind {
        match self {
            Action::Open => EventKind::Open,
            Action::Click { .. } => EventKind::Click,
            Action::Unsubscribe => EventKind::Unsubscribe,
        }
    }
}

impl Claims<'_> {
    /// Checks every field; returns the normalised destination of a click.
    pub(crate) fn validate(&self) -> Result<Option<String>, TokenError> {
        check_id("tenant", self.tenant)?;
        check_id("campaign", self.campaign)?;
        check_id("subscriber", self.subscriber)?;
        if let Some(expires_at) = self.expires_at {
            // 0 encodes "never" on the wire, and a token dead on arrival is a caller bug.
            if expires_at <= self.issued_at {
                return Err(TokenError::InvalidClaim {
                    field: "expires_at",
                    reason: "must be later than issued_at",
                });
            }
        }
        match self.action {
            Action::Click { link, destination } => {
                check_id("link", link)?;
                normalise_destination(destination).map(Some)
            }
            Action::Open | Action::Unsubscribe => Ok(None),
        }
    }
}

fn check_id(field: &'static str, value: &str) -> Result<(), TokenError> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > MAX_ID_LEN {
        "must be at most 256 bytes"
    } else if value.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(TokenError::InvalidClaim { field, reason })
}

/// Accepts only absolute `http`/`https` URLs with a host and nothing that could split a header
/// or hide in one; returns the URL as the `url` crate serialises it (ASCII only, so the edge can
/// put it in a `Location` header as it is).
pub(crate) fn normalise_destination(raw: &str) -> Result<String, TokenError> {
    let invalid = |reason| TokenError::InvalidClaim {
        field: "destination",
        reason,
    };
    // The URL parser silently strips tabs and newlines; refuse them instead of guessing.
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid("must not contain whitespace or control characters"));
    }
    // WHATWG parsing forgives `https:host`, `https:///host` and `https:\\host`; a sender who
    // wrote those made a mistake, so insist on the RFC 3986 shape `scheme://authority`.
    let after_scheme = strip_prefix_ignore_case(raw, "https://")
        .or_else(|| strip_prefix_ignore_case(raw, "http://"))
        .ok_or_else(|| invalid("must be an absolute http or https URL"))?;
    if after_scheme.starts_with(['/', '\\']) {
        return Err(invalid("must name a host"));
    }
    let url = url::Url::parse(raw).map_err(|_| invalid("must be an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must use http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must name a host"));
    }
    let normalised: String = url.into();
    if normalised.len() > MAX_URL_LEN {
        return Err(invalid("must be at most 2048 bytes"));
    }
    Ok(normalised)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(action: Action<'_>) -> Claims<'_> {
        Claims {
            tenant: "acme",
            campaign: "spring",
            subscriber: "s-1",
            action,
            issued_at: 1_700_000_000,
            expires_at: None,
        }
    }

    fn field_of(result: Result<Option<String>, TokenError>) -> Option<&'static str> {
        match result {
            Err(TokenError::InvalidClaim { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn accepts_http_and_https_and_normalises() {
        assert_eq!(
            normalise_destination("https://Example.COM").expect("valid"),
            "https://example.com/"
        );
        assert_eq!(
            normalise_destination("HTTP://example.com/a?b=c#d").expect("valid"),
            "http://example.com/a?b=c#d"
        );
        assert_eq!(
            normalise_destination("https://bücher.example/é").expect("valid"),
            "https://xn--bcher-kva.example/%C3%A9"
        );
    }

    #[test]
    fn refuses_unsafe_destinations() {
        for destination in [
            "javascript:alert(1)",
            "ftp://example.com/file",
            "mailto:someone@example.com",
            "data:text/html,hi",
            "//example.com/relative",
            "/relative/path",
            "https://example.com/a\r\nSet-Cookie: x=1",
            "https://example.com/a\nb",
            "https://exa mple.com/",
            "https://example.com/\u{0}",
            "https://example.com/\u{7f}",
            "https://example.com/\u{85}",
            "https://example.com/\u{a0}",
            "https://example.com/\t",
            "http://",
            "https:///path-only",
            "https:example.com",
            "https:\\\\example.com",
            "https://\\example.com",
            "file:///etc/passwd",
            "",
        ] {
            let action = Action::Click {
                link: "l1",
                destination,
            };
            assert_eq!(
                field_of(claims(action).validate()),
                Some("destination"),
                "accepted {destination:?}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(normalise_destination(&long).is_err(), "overlong URL");
    }

    #[test]
    fn refuses_bad_ids() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        let max = "x".repeat(MAX_ID_LEN);
        for (tenant, expected) in [
            ("", Some("tenant")),
            (long.as_str(), Some("tenant")),
            ("a\u{1}b", Some("tenant")),
            ("a\nb", Some("tenant")),
            (max.as_str(), None),
            ("tenant with spaces ünïcode", None),
        ] {
            let mut c = claims(Action::Open);
            c.tenant = tenant;
            assert_eq!(field_of(c.validate()), expected, "tenant {tenant:?}");
        }
        let mut c = claims(Action::Open);
        c.campaign = "";
        assert_eq!(field_of(c.validate()), Some("campaign"));
        let mut c = claims(Action::Open);
        c.subscriber = "\u{7f}";
        assert_eq!(field_of(c.validate()), Some("subscriber"));
        let c = claims(Action::Click {
            link: "",
            destination: "https://example.com/",
        });
        assert_eq!(field_of(c.validate()), Some("link"));
    }

    #[test]
    fn refuses_expiry_not_after_issue() {
        let mut c = claims(Action::Unsubscribe);
        c.expires_at = Some(c.issued_at);
        assert_eq!(field_of(c.validate()), Some("expires_at"));
        c.expires_at = Some(0);
        assert_eq!(field_of(c.validate()), Some("expires_at"));
        c.expires_at = Some(c.issued_at + 1);
        assert_eq!(field_of(c.validate()), None);
    }
}
