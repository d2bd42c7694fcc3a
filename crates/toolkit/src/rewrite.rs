//! The rewriter: decisions from [`crate::links`], positions from [`crate::scan`], URLs from the
//! token minter, spliced into the input.

use std::collections::HashMap;
use std::ops::Range;

use mailpulse_token::{link_id_for, UrlMinter, MAX_ID_LEN};

use crate::entities::{decode_attribute, encode_attribute, encode_double_quoted};
use crate::links::{
    is_html_space, normalise_base, parse_base, Classifier, LinkAction, Markers, Skip,
};
use crate::scan::{appendable_at_end, scan, Depth, Found, Selectors};
use crate::{text, Recipient, RewriteOptions, ToolkitError};

/// What one rewrite did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RewriteReport {
    /// Links wrapped in click URLs.
    pub tracked: usize,
    /// Links pointed at the recipient's unsubscribe URL.
    pub unsubscribe: usize,
    /// Pixels inserted (0 or 2).
    pub pixels: usize,
    pub not_web: usize,
    pub anchors: usize,
    pub relative: usize,
    pub no_track: usize,
    pub already_tracked: usize,
    pub unsignable: usize,
    pub invalid: usize,
}

impl RewriteReport {
    fn left(&mut self, skip: Skip) {
        let counter = match skip {
            Skip::NotWeb => &mut self.not_web,
            Skip::Anchor => &mut self.anchors,
            Skip::Relative => &mut self.relative,
            Skip::NoTrack => &mut self.no_track,
            Skip::AlreadyTracked => &mut self.already_tracked,
            Skip::Unsignable => &mut self.unsignable,
            Skip::Invalid => &mut self.invalid,
        };
        *counter += 1;
    }
}

/// Appended to the bottom pixel's URL: the edge records a fetch of it as a full render of the
/// message, not as another open (a client that shows the whole message loads both pixels).
pub const END_PIXEL_SUFFIX: &str = ".gif?at=end";

/// Rewrites messages for recipients. Build once, use for every recipient of a campaign.
pub struct Rewriter {
    minter: UrlMinter,
    options: RewriteOptions,
    /// The minter's base URL as the URL parser serialises it.
    tracking_base: String,
    selectors: Selectors,
}

impl Rewriter {
    pub fn new(minter: UrlMinter, options: RewriteOptions) -> Result<Rewriter, ToolkitError> {
        let tracking_base = normalise_base(minter.base_url());
        Ok(Rewriter {
            minter,
            options,
            tracking_base,
            selectors: Selectors::new()?,
        })
    }

    pub fn minter(&self) -> &UrlMinter {
        &self.minter
    }

    /// The tracked copy of `html` for `recipient`.
    pub fn rewrite_html(
        &self,
        html: &[u8],
        recipient: &Recipient<'_>,
    ) -> Result<Vec<u8>, ToolkitError> {
        self.rewrite_html_with_report(html, recipient)
            .map(|(output, _)| output)
    }

    /// [`Rewriter::rewrite_html`], also saying what it did.
    pub fn rewrite_html_with_report(
        &self,
        html: &[u8],
        recipient: &Recipient<'_>,
    ) -> Result<(Vec<u8>, RewriteReport), ToolkitError> {
        let mut minting = Minting::new(&self.minter, recipient)?;
        let mut found = Found::default();
        scan(&self.selectors, html, 0, Depth::Document, &mut found)?;
        if self.options.rewrite_conditional_comments {
            for body in std::mem::take(&mut found.conditional_bodies) {
                let fragment = &html[body.clone()];
                scan(
                    &self.selectors,
                    fragment,
                    body.start,
                    Depth::Fragment,
                    &mut found,
                )?;
            }
        }
        let base = found.base.as_deref().and_then(parse_base);
        let classifier = self.classifier();
        let mut report = RewriteReport::default();
        let mut edits: Vec<(Range<usize>, String)> = Vec::with_capacity(found.links.len() + 2);
        for link in &found.links {
            let Ok(raw) = std::str::from_utf8(&html[link.value.clone()]) else {
                report.left(Skip::Invalid);
                continue;
            };
            let markers = Markers {
                no_track: link.no_track,
                unsubscribe: link.unsubscribe,
                name: link.name.as_deref(),
            };
            let url = match classifier.classify(raw, markers, base.as_ref()) {
                LinkAction::Track(destination) => match minting.click(&destination, markers.name) {
                    Some(url) => {
                        report.tracked += 1;
                        url
                    }
                    None => {
                        report.left(Skip::Unsignable);
                        continue;
                    }
                },
                LinkAction::Unsubscribe => {
                    report.unsubscribe += 1;
                    minting.unsubscribe_url.clone()
                }
                LinkAction::Leave(skip) => {
                    report.left(skip);
                    continue;
                }
            };
            edits.push((link.value.clone(), encode_attribute(&url).into_owned()));
        }
        if self.options.insert_pixels && !self.has_pixel(html, &found) {
            let pixel = minting.pixel()?;
            let (top, bottom) = pixel_positions(&found, html.len());
            // A pixel can go anywhere the parser stood between tokens; the very end is such a
            // place unless the document ends inside a broken tag or doctype, where appended
            // markup would become part of it (and a second rewrite would see another document).
            let fits_at = |at: usize| at < html.len() || appendable_at_end(html);
            if fits_at(top) {
                edits.push((top..top, pixel_tag(&pixel)));
                report.pixels = 1;
                if fits_at(bottom) {
                    edits.push((
                        bottom..bottom,
                        pixel_tag(&format!("{pixel}{END_PIXEL_SUFFIX}")),
                    ));
                    report.pixels = 2;
                }
            }
        }
        Ok((splice(html, edits), report))
    }

    /// The tracked copy of a `text/plain` part: bare `http(s)://` URLs wrapped, unsubscribe
    /// placeholders replaced by the recipient's unsubscribe URL.
    pub fn rewrite_text(
        &self,
        text: &str,
        recipient: &Recipient<'_>,
    ) -> Result<String, ToolkitError> {
        let mut minting = Minting::new(&self.minter, recipient)?;
        let classifier = self.classifier();
        let urls = text::find_urls(text);
        let mut edits = Vec::with_capacity(urls.len());
        for found in &urls {
            if let Ok(destination) = classifier.destination(&text[found.clone()], None) {
                if let Some(url) = minting.click(&destination, None) {
                    edits.push((found.clone(), url));
                }
            }
        }
        for placeholder in self.options.unsubscribe_placeholders.iter() {
            for (at, _) in text.match_indices(placeholder.as_str()) {
                let range = at..at + placeholder.len();
                // `urls` is in order: the only one that can overlap is the first not before it.
                let next = urls.partition_point(|url| url.end <= range.start);
                if urls.get(next).is_none_or(|url| !overlaps(url, &range)) {
                    edits.push((range, minting.unsubscribe_url.clone()));
                }
            }
        }
        let spliced = splice(text.as_bytes(), edits);
        // Only whole characters were replaced, by ASCII URLs: the result is UTF-8.
        Ok(String::from_utf8(spliced)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
    }

    /// The `List-Unsubscribe` and `List-Unsubscribe-Post` header values (RFC 2369, RFC 8058)
    /// for `recipient`: `<https://…/u/TOKEN>` (and `<mailto:…>` when given) and
    /// `List-Unsubscribe=One-Click`. The message's DKIM signature must cover both headers for
    /// mailbox providers to offer one-click unsubscribe, and RFC 8058 asks for an `https` URL.
    pub fn list_unsubscribe_headers(
        &self,
        recipient: &Recipient<'_>,
        mailto: Option<&str>,
    ) -> Result<(String, String), ToolkitError> {
        let url = self
            .minter
            .unsubscribe_url(recipient.tenant, recipient.campaign, recipient.subscriber)
            .map_err(ToolkitError::Recipient)?;
        crate::unsubscribe::headers(&url, mailto)
    }

    fn classifier(&self) -> Classifier<'_> {
        Classifier {
            tracking_base: &self.tracking_base,
            unsubscribe_placeholders: &self.options.unsubscribe_placeholders,
        }
    }

    /// Whether an earlier rewrite already put our pixel into this document (`/o/TOKEN`,
    /// `/o/TOKEN.gif` or `/o/TOKEN.gif?at=end`: any URL under the edge's `/o/`).
    fn has_pixel(&self, html: &[u8], found: &Found) -> bool {
        let classifier = self.classifier();
        found.image_sources.iter().any(|range| {
            let Ok(raw) = std::str::from_utf8(&html[range.clone()]) else {
                return false;
            };
            let decoded = decode_attribute(raw);
            let Ok(url) = url::Url::parse(decoded.trim_matches(is_html_space)) else {
                return false;
            };
            let url = url.as_str();
            classifier.is_tracking_url(url) && url[self.tracking_base.len()..].starts_with("/o/")
        })
    }
}

/// URLs minted for one recipient of one message; a link that appears twice (the HTML and VML
/// halves of a button) gets the same URL.
struct Minting<'a> {
    minter: &'a UrlMinter,
    recipient: &'a Recipient<'a>,
    /// Minted up front: it also proves the recipient's ids can be signed.
    unsubscribe_url: String,
    clicks: HashMap<(String, String), Option<String>>,
}

impl<'a> Minting<'a> {
    fn new(minter: &'a UrlMinter, recipient: &'a Recipient<'a>) -> Result<Self, ToolkitError> {
        let unsubscribe_url = minter
            .unsubscribe_url(recipient.tenant, recipient.campaign, recipient.subscriber)
            .map_err(ToolkitError::Recipient)?;
        Ok(Minting {
            minter,
            recipient,
            unsubscribe_url,
            clicks: HashMap::new(),
        })
    }

    /// The click URL for `destination`; `None` if the token format refuses it.
    fn click(&mut self, destination: &str, name: Option<&str>) -> Option<String> {
        let link = name
            .map(|name| name.trim_matches(is_html_space))
            .filter(|name| valid_link_name(name))
            .map_or_else(
                || link_id_for(self.recipient.campaign, destination),
                str::to_owned,
            );
        let key = (link, destination.to_owned());
        if let Some(url) = self.clicks.get(&key) {
            return url.clone();
        }
        let url = self
            .minter
            .click_url(
                self.recipient.tenant,
                self.recipient.campaign,
                self.recipient.subscriber,
                &key.0,
                destination,
            )
            .ok();
        self.clicks.insert(key, url.clone());
        url
    }

    fn pixel(&self) -> Result<String, ToolkitError> {
        let Recipient {
            tenant,
            campaign,
            subscriber,
        } = *self.recipient;
        self.minter
            .pixel_url(tenant, campaign, subscriber)
            .map_err(ToolkitError::Recipient)
    }
}

/// A `data-mp-link` value usable as a link id (else the derived id is used).
fn valid_link_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_ID_LEN && !name.chars().any(char::is_control)
}

/// Top: right after `<body…>` (else after `</head>`, `<html…>`, the doctype, or at the very
/// start). Bottom: right before the last `</body>` (else before `</html>`, or at the end).
fn pixel_positions(found: &Found, len: usize) -> (usize, usize) {
    let top = found
        .body_open_end
        .or(found.head_close_end)
        .or(found.html_open_end)
        .or(found.doctype_end)
        .unwrap_or(0);
    let bottom = found
        .body_close_start
        .or(found.html_close_start)
        .filter(|bottom| *bottom >= top)
        .unwrap_or(len);
    (top, bottom)
}

/// A 1×1 image that takes no room and has no border in any client. `src` is double-quoted, so
/// the `=` of `?at=end` needs no reference.
fn pixel_tag(url: &str) -> String {
    format!(
        "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" border=\"0\" \
         style=\"display:block;width:1px;height:1px;border:0;margin:0;padding:0\" />",
        encode_double_quoted(url)
    )
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// `input` with each range replaced (ranges must not overlap; insertions are empty ranges and
/// keep the order they were pushed in).
fn splice(input: &[u8], mut edits: Vec<(Range<usize>, String)>) -> Vec<u8> {
    edits.sort_by_key(|(range, _)| range.start);
    let extra: usize = edits.iter().map(|(_, text)| text.len()).sum();
    let mut output = Vec::with_capacity(input.len() + extra);
    let mut copied = 0;
    for (range, replacement) in edits {
        if range.start < copied || range.end > input.len() {
            // Overlapping or out of range: cannot happen with positions from one parse; keep
            // the input rather than corrupt it.
            continue;
        }
        output.extend_from_slice(&input[copied..range.start]);
        output.extend_from_slice(replacement.as_bytes());
        copied = range.end;
    }
    output.extend_from_slice(&input[copied..]);
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_and_inserts_in_order() {
        let edits = vec![
            (6..6, "B".to_string()),
            (0..1, "h".to_string()),
            (6..6, "C".to_string()),
            (2..4, "XY".to_string()),
        ];
        assert_eq!(splice(b"Hello world", edits), b"heXYo BCworld");
    }

    #[test]
    fn pixels_fall_back_when_there_is_no_body() {
        let found = Found {
            head_close_end: Some(20),
            html_close_start: Some(50),
            ..Found::default()
        };
        assert_eq!(pixel_positions(&found, 60), (20, 50));
        assert_eq!(pixel_positions(&Found::default(), 60), (0, 60));
        let reversed = Found {
            body_open_end: Some(40),
            body_close_start: Some(10),
            ..Found::default()
        };
        assert_eq!(pixel_positions(&reversed, 60), (40, 60));
    }

    #[test]
    fn link_names_are_validated() {
        assert!(valid_link_name("hero-button"));
        assert!(!valid_link_name(""));
        assert!(!valid_link_name("a\u{1}b"));
        assert!(!valid_link_name(&"x".repeat(MAX_ID_LEN + 1)));
    }
}
