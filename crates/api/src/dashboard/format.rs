//! Text helpers for the pages: HTML escaping, number and rate formatting, URL paths.

use std::fmt::Write;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters left as they are in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `1234567` → `1,234,567`.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `0.3512` → `35.1%`; `None` → `—`. Halves round up, as the page script's
/// `Math.round(value * 1000) / 10` does, so server and script print the same text.
pub fn rate(value: Option<f64>) -> String {
    match value {
        Some(value) => {
            let mut out = String::new();
            let _ = write!(out, "{:.1}%", (value * 1000.0).round() / 10.0);
            out
        }
        None => "—".to_string(),
    }
}

/// A rate as a data attribute: the number, or empty for null.
pub fn rate_attr(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The dashboard path of a campaign.
pub fn campaign_path(campaign: &str) -> String {
    format!("/campaigns/{}", utf8_percent_encode(campaign, SEGMENT))
}

/// A query-string value.
pub fn query_value(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// What a breakdown value `""` means.
pub fn or_unknown(value: &str) -> &str {
    if value.is_empty() {
        "Unknown"
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn rates_are_percentages_or_a_dash() {
        assert_eq!(rate(Some(0.3512)), "35.1%");
        assert_eq!(
            rate(Some(0.3625)),
            "36.3%",
            "a half rounds up, as in the script"
        );
        assert_eq!(rate(None), "—");
        assert_eq!(rate_attr(None), "");
    }

    #[test]
    fn campaign_paths_encode_every_special_character() {
        assert_eq!(
            campaign_path("spring/26 sale"),
            "/campaigns/spring%2F26%20sale"
        );
        assert_eq!(campaign_path("a-b_c.d~e"), "/campaigns/a-b_c.d~e");
    }
}
