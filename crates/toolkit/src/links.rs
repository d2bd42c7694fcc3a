//! What to do with one link: track it, turn it into the recipient's unsubscribe link, or leave
//! it alone (and why).

use url::Url;

use crate::entities::decode_attribute;

/// The decision for one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAction {
    /// Wrap in a click URL redirecting to this absolute destination (as a browser would
    /// resolve it: entities decoded, whitespace stripped, `<base href>` applied).
    Track(String),
    /// Replace with the recipient's signed `/u/` URL.
    Unsubscribe,
    /// Leave the link exactly as written.
    Leave(Skip),
}

/// Why a link was left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// `mailto:`, `tel:`, `sms:`, `javascript:` and other non-web schemes.
    NotWeb,
    /// An in-page anchor (`#top`).
    Anchor,
    /// Relative, with no `<base href>` to make it absolute.
    Relative,
    /// Marked `data-mp-notrack`.
    NoTrack,
    /// Already a tracking URL of this edge (a second rewrite must not wrap it again).
    AlreadyTracked,
    /// A web URL the token format refuses (too long, no host, …): tracking it would break it.
    Unsignable,
    /// An empty `href` or one that does not parse as a URL.
    Invalid,
}

/// Settings a classification needs from the rewriter.
pub struct Classifier<'a> {
    /// The edge's base URL, lower-cased scheme and host, no trailing slash.
    pub tracking_base: &'a str,
    /// `href` values that stand for the unsubscribe link, compared after decoding and trimming.
    pub unsubscribe_placeholders: &'a [String],
}

/// The markers a sender can put on a link element.
#[derive(Debug, Clone, Copy, Default)]
pub struct Markers<'a> {
    pub no_track: bool,
    pub unsubscribe: bool,
    /// `data-mp-link="name"`: the link id to use instead of the derived one.
    pub name: Option<&'a str>,
}

impl Classifier<'_> {
    /// Classifies the raw (still entity-encoded) attribute value of a link.
    pub fn classify(&self, raw_href: &str, markers: Markers<'_>, base: Option<&Url>) -> LinkAction {
        let decoded = decode_attribute(raw_href);
        let href = decoded.trim_matches(is_html_space);
        // First, so that a second rewrite leaves an unsubscribe link minted by the first alone.
        if self.points_at_edge(href, base) {
            return LinkAction::Leave(Skip::AlreadyTracked);
        }
        if markers.unsubscribe {
            return LinkAction::Unsubscribe;
        }
        if self
            .unsubscribe_placeholders
            .iter()
            .any(|placeholder| placeholder == href)
        {
            return LinkAction::Unsubscribe;
        }
        if markers.no_track {
            return LinkAction::Leave(Skip::NoTrack);
        }
        match self.destination(href, base) {
            Ok(destination) => LinkAction::Track(destination),
            Err(skip) => LinkAction::Leave(skip),
        }
    }

    /// The absolute `http(s)` destination of a decoded, trimmed `href`, or why there is none.
    pub fn destination(&self, href: &str, base: Option<&Url>) -> Result<String, Skip> {
        if href.is_empty() {
            return Err(Skip::Invalid);
        }
        if href.starts_with('#') {
            return Err(Skip::Anchor);
        }
        let url = match scheme_of(href) {
            Some(scheme)
                if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
            {
                // Insist on `scheme://host`: the WHATWG parser forgives `https:host`, which a
                // mail client may not, and the token format refuses.
                let after = &href[scheme.len() + 1..];
                if !after.starts_with("//") || after[2..].starts_with(['/', '\\']) {
                    return Err(Skip::Invalid);
                }
                Url::parse(href).map_err(|_| Skip::Invalid)?
            }
            Some(_) => return Err(Skip::NotWeb),
            None => match base {
                Some(base) => base.join(href).map_err(|_| Skip::Invalid)?,
                None => return Err(Skip::Relative),
            },
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(Skip::Invalid);
        }
        let destination: String = url.into();
        if self.is_tracking_url(&destination) {
            return Err(Skip::AlreadyTracked);
        }
        Ok(destination)
    }

    fn points_at_edge(&self, href: &str, base: Option<&Url>) -> bool {
        matches!(self.destination(href, base), Err(Skip::AlreadyTracked))
    }

    /// True for URLs under the edge's base URL (`<base>/c/…`, `<base>/o/…`, `<base>/u/…`).
    pub fn is_tracking_url(&self, url: &str) -> bool {
        let base = self.tracking_base;
        url.len() > base.len()
            && url.is_char_boundary(base.len())
            && url[..base.len()].eq_ignore_ascii_case(base)
            && matches!(
                url.get(base.len()..base.len() + 3),
                Some("/c/" | "/o/" | "/u/")
            )
    }
}

/// Normalises the edge's base URL the way [`Classifier::is_tracking_url`] compares it: parsed
/// and serialised by the URL parser (lower-case scheme and host), no trailing slash.
pub fn normalise_base(base_url: &str) -> String {
    Url::parse(base_url)
        .map(String::from)
        .unwrap_or_else(|_| base_url.to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// Parses a `<base href>` value: only an absolute `http(s)` URL is useful, since we do not know
/// the document's own URL.
pub fn parse_base(raw: &str) -> Option<Url> {
    let decoded = decode_attribute(raw);
    let url = Url::parse(decoded.trim_matches(is_html_space)).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// The scheme of an absolute URL (`https` of `https://…`), `None` for relative references.
fn scheme_of(href: &str) -> Option<&str> {
    let colon = href.find(':')?;
    let scheme = &href[..colon];
    let mut bytes = scheme.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    valid.then_some(scheme)
}

/// ASCII whitespace as HTML defines it (what browsers strip around URLs).
pub fn is_html_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier(placeholders: &[String]) -> Classifier<'_> {
        Classifier {
            tracking_base: "https://t.example.com/mp",
            unsubscribe_placeholders: placeholders,
        }
    }

    fn classify(href: &str, base: Option<&Url>) -> LinkAction {
        let placeholders = ["{{unsubscribe}}".to_string()];
        classifier(&placeholders).classify(href, Markers::default(), base)
    }

    #[test]
    fn tracks_absolute_web_links_as_a_browser_resolves_them() {
        for (href, destination) in [
            (
                "https://shop.example/a?b=1&amp;c=2",
                "https://shop.example/a?b=1&c=2",
            ),
            ("  HTTP://Shop.Example/x  ", "http://shop.example/x"),
            ("https://shop.example/\n\tx", "https://shop.example/x"),
            ("https://shop.example/a b", "https://shop.example/a%20b"),
            (
                "https://t.example.com/other/c/x",
                "https://t.example.com/other/c/x",
            ),
        ] {
            assert_eq!(
                classify(href, None),
                LinkAction::Track(destination.into()),
                "{href}"
            );
        }
    }

    #[test]
    fn leaves_non_web_anchor_relative_and_tracking_links() {
        for (href, skip) in [
            ("mailto:a@example.com", Skip::NotWeb),
            ("tel:+3725550000", Skip::NotWeb),
            ("javascript:alert(1)", Skip::NotWeb),
            ("#top", Skip::Anchor),
            ("/products", Skip::Relative),
            ("products?id=3", Skip::Relative),
            ("//cdn.example/x", Skip::Relative),
            ("", Skip::Invalid),
            ("https:shop.example", Skip::Invalid),
            ("https:///path", Skip::Invalid),
            ("https://t.example.com/mp/c/AAAA", Skip::AlreadyTracked),
            ("HTTPS://T.EXAMPLE.COM/mp/u/AAAA", Skip::AlreadyTracked),
        ] {
            assert_eq!(classify(href, None), LinkAction::Leave(skip), "{href}");
        }
    }

    #[test]
    fn base_href_makes_relative_links_absolute_but_not_anchors() {
        let base = parse_base("https://shop.example/spring/").expect("absolute base");
        assert_eq!(
            classify("../products?id=3", Some(&base)),
            LinkAction::Track("https://shop.example/products?id=3".into())
        );
        assert_eq!(
            classify("//cdn.example/x", Some(&base)),
            LinkAction::Track("https://cdn.example/x".into())
        );
        assert_eq!(
            classify("#top", Some(&base)),
            LinkAction::Leave(Skip::Anchor)
        );
        assert_eq!(
            classify("mailto:x@y.z", Some(&base)),
            LinkAction::Leave(Skip::NotWeb)
        );
        assert!(parse_base("/relative/").is_none());
        assert!(parse_base("ftp://files.example/").is_none());
    }

    #[test]
    fn markers_and_placeholders_win_in_order() {
        let placeholders = ["{{unsubscribe}}".to_string(), "*|UNSUB|*".to_string()];
        let c = classifier(&placeholders);
        let no_track = Markers {
            no_track: true,
            ..Markers::default()
        };
        let unsubscribe = Markers {
            unsubscribe: true,
            ..Markers::default()
        };
        assert_eq!(
            c.classify(" {{unsubscribe}} ", Markers::default(), None),
            LinkAction::Unsubscribe
        );
        assert_eq!(
            c.classify("*|UNSUB|*", Markers::default(), None),
            LinkAction::Unsubscribe
        );
        assert_eq!(
            c.classify("https://x.example/", unsubscribe, None),
            LinkAction::Unsubscribe
        );
        assert_eq!(
            c.classify("https://x.example/", no_track, None),
            LinkAction::Leave(Skip::NoTrack)
        );
        assert_eq!(
            c.classify("{{unsubscribe}}", no_track, None),
            LinkAction::Unsubscribe
        );
    }
}
