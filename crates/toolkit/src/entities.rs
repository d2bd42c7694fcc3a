//! HTML character references in attribute values: decoded the way a browser decodes an `href`
//! before following it, and re-encoded so a new value is safe in any quoting style.

use std::borrow::Cow;

/// Named references that occur in real `href`s. Others are left as written: per the HTML
/// standard a reference without `;` followed by `=` or an alphanumeric is not a reference in an
/// attribute (`?a=1&copy=2` keeps `&copy`), so leaving unknown names alone is right for the
/// common case; `&copy;`-style names with `;` inside URLs are vanishingly rare.
const NAMED: &[(&str, char)] = &[
    ("amp", '&'),
    ("AMP", '&'),
    ("lt", '<'),
    ("LT", '<'),
    ("gt", '>'),
    ("GT", '>'),
    ("quot", '"'),
    ("QUOT", '"'),
    ("apos", '\''),
    ("nbsp", '\u{a0}'),
    ("sol", '/'),
    ("colon", ':'),
    ("quest", '?'),
    ("equals", '='),
    ("num", '#'),
    ("percnt", '%'),
];

/// Decodes the character references of an attribute value (`&amp;`, `&#38;`, `&#x26;`, …).
/// Borrows when there is nothing to decode.
pub fn decode_attribute(raw: &str) -> Cow<'_, str> {
    if !raw.contains('&') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match reference(after) {
            Some((decoded, consumed)) => {
                out.push(decoded);
                rest = &after[consumed..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character a reference at the start of `text` (just after `&`) stands for, and how many
/// bytes of `text` it used.
fn reference(text: &str) -> Option<(char, usize)> {
    if let Some(numeric) = text.strip_prefix('#') {
        let (digits, radix, prefix) = match numeric.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (numeric, 10, 1),
        };
        let len = digits
            .bytes()
            .take_while(|b| (*b as char).is_digit(radix))
            .count();
        if len == 0 {
            return None;
        }
        let value = u32::from_str_radix(&digits[..len.min(8)], radix).ok()?;
        // The standard maps NUL, surrogates and out-of-range values to U+FFFD.
        let decoded = char::from_u32(value)
            .filter(|c| *c != '\0')
            .unwrap_or('\u{fffd}');
        let semicolon = usize::from(digits[len..].starts_with(';'));
        return Some((decoded, prefix + len + semicolon));
    }
    let name_len = text.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let name = &text[..name_len];
    let (_, decoded) = NAMED.iter().find(|(known, _)| *known == name)?;
    if text[name_len..].starts_with(';') {
        return Some((*decoded, name_len + 1));
    }
    // Legacy form without `;`: only a few names, and not before `=` (a query parameter).
    let legacy = matches!(
        name,
        "amp" | "AMP" | "lt" | "LT" | "gt" | "GT" | "quot" | "QUOT" | "nbsp"
    );
    let next = text[name_len..].bytes().next();
    if legacy && next != Some(b'=') {
        return Some((*decoded, name_len));
    }
    None
}

/// Encodes `value` for an attribute whatever its quoting (double, single or none): the few
/// characters that could end or confuse the value become references.
pub fn encode_attribute(value: &str) -> Cow<'_, str> {
    let special = |c: char| matches!(c, '&' | '"' | '\'' | '<' | '>' | '=' | '`') || c <= ' ';
    if !value.contains(special) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 16);
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if special(c) => {
                out.push_str("&#");
                out.push_str(&u32::from(c).to_string());
                out.push(';');
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Encodes `value` for a double-quoted attribute, as the tags the toolkit writes itself are:
/// only `&`, `"`, `<` and `>` become references, so `/o/TOKEN.gif?at=end` stays readable.
pub fn encode_double_quoted(value: &str) -> Cow<'_, str> {
    if !value.contains(['&', '"', '<', '>']) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 16);
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_references_found_in_hrefs() {
        for (raw, decoded) in [
            ("https://x.test/?a=1&amp;b=2", "https://x.test/?a=1&b=2"),
            (
                "https://x.test/?a=1&#38;b=2&#x26;c=3",
                "https://x.test/?a=1&b=2&c=3",
            ),
            (
                "https://x.test/?q=&quot;hi&quot;",
                "https://x.test/?q=\"hi\"",
            ),
            ("https&colon;//x.test&sol;", "https://x.test/"),
            ("https://x.test/?a=1&amp", "https://x.test/?a=1&"),
            ("https://x.test/?a=1&AMP;b=2", "https://x.test/?a=1&b=2"),
            ("&#0;&#xD800;&#1114112;", "\u{fffd}\u{fffd}\u{fffd}"),
        ] {
            assert_eq!(decode_attribute(raw), decoded, "{raw}");
        }
    }

    #[test]
    fn leaves_what_is_not_a_reference() {
        for raw in [
            "https://x.test/?a=1&b=2",
            "https://x.test/?a=1&copy=2",
            "https://x.test/?a=1&amp=2",
            "https://x.test/?a=1&unknown;",
            "https://x.test/?a=&#;",
            "&",
        ] {
            assert_eq!(decode_attribute(raw), raw, "{raw}");
        }
    }

    #[test]
    fn encoding_round_trips_and_is_safe_unquoted() {
        let value = "https://t.test/c/a?b=1&c=\"2\" 'x' <y>`";
        let encoded = encode_attribute(value);
        assert!(!encoded.contains(['"', '\'', '<', '>', ' ', '`', '=']));
        assert_eq!(decode_attribute(&encoded), value);
        assert!(matches!(
            encode_attribute("https://t.test/c/AbC-_9"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn double_quoted_encoding_round_trips_and_keeps_query_equals() {
        let value = "https://t.test/o/AbC.gif?at=end&x=\"<1>\"";
        let encoded = encode_double_quoted(value);
        assert_eq!(
            encoded,
            "https://t.test/o/AbC.gif?at=end&amp;x=&quot;&lt;1&gt;&quot;"
        );
        assert_eq!(decode_attribute(&encoded), value);
        assert!(matches!(
            encode_double_quoted("https://t.test/o/AbC.gif?at=end"),
            Cow::Borrowed(_)
        ));
    }
}
