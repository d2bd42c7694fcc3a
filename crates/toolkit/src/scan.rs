//! Finding what to change in an HTML document, with `lol_html`'s tokenizer.
//!
//! `lol_html` re-serialises a start tag as soon as one attribute changes (single spaces between
//! attributes, double quotes), so instead of letting it write the output we only let it *find*
//! things: the byte range of every link's `href` value, where `<body…>` ends and `</body>`
//! starts, the `<base href>`, existing pixels, and the bodies of Outlook conditional comments.
//! The rewriter then splices replacements into the input at those ranges, so every byte it did
//! not decide to change is copied from the input as it was.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use lol_html::errors::RewritingError;
use lol_html::html_content::{Comment, Doctype, Element, EndTag};
use lol_html::{
    DocumentContentHandlers, ElementContentHandlers, HandlerResult, HtmlRewriter, Selector,
    Settings,
};

use crate::ToolkitError;

/// One link element (`<a>`, `<area>`, VML `<v:…>`) with an `href` value.
#[derive(Debug, Clone)]
pub struct FoundLink {
    /// Byte range of the attribute value in the document (without quotes).
    pub value: Range<usize>,
    pub no_track: bool,
    pub unsubscribe: bool,
    /// Raw `data-mp-link` value, if any.
    pub name: Option<String>,
}

/// What one pass over a document found.
#[derive(Debug, Default)]
pub struct Found {
    pub links: Vec<FoundLink>,
    /// Raw value of the first `<base href>`.
    pub base: Option<String>,
    /// Raw `src` values of images (to recognise pixels inserted by an earlier rewrite).
    pub image_sources: Vec<Range<usize>>,
    /// End of the first `<body…>` start tag.
    pub body_open_end: Option<usize>,
    /// Start of the last `</body>`.
    pub body_close_start: Option<usize>,
    pub head_close_end: Option<usize>,
    pub html_open_end: Option<usize>,
    pub html_close_start: Option<usize>,
    pub doctype_end: Option<usize>,
    /// Bodies of `<!--[if …]>…<![endif]-->` comments: HTML that Outlook renders.
    pub conditional_bodies: Vec<Range<usize>>,
}

/// The selectors, parsed once per rewriter.
pub struct Selectors {
    with_href: Selector,
    base: Selector,
    image: Selector,
    body: Selector,
    head: Selector,
    html: Selector,
}

impl Selectors {
    pub fn new() -> Result<Selectors, ToolkitError> {
        let parse = |css: &str| {
            css.parse::<Selector>()
                .map_err(|error| ToolkitError::Html(format!("selector {css}: {error}")))
        };
        Ok(Selectors {
            with_href: parse("[href]")?,
            base: parse("base[href]")?,
            image: parse("img[src]")?,
            body: parse("body")?,
            head: parse("head")?,
            html: parse("html")?,
        })
    }
}

/// Whether a pass looks at the document's structure (body, head, comments) or only at links
/// and images (inside a conditional comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Document,
    Fragment,
}

/// Scans `html`, reporting positions relative to `offset` (the fragment's place in the
/// whole document).
pub fn scan(
    selectors: &Selectors,
    html: &[u8],
    offset: usize,
    depth: Depth,
    found: &mut Found,
) -> Result<(), ToolkitError> {
    let state = Rc::new(RefCell::new(std::mem::take(found)));
    let result = run_pass(selectors, html, offset, depth, &state);
    // The end-tag closures held clones of `state`; the rewriter has dropped them by now.
    *found = match Rc::try_unwrap(state) {
        Ok(cell) => cell.into_inner(),
        Err(shared) => std::mem::take(&mut *shared.borrow_mut()),
    };
    result
}

fn run_pass(
    selectors: &Selectors,
    html: &[u8],
    offset: usize,
    depth: Depth,
    state: &Rc<RefCell<Found>>,
) -> Result<(), ToolkitError> {
    let link_state = state.clone();
    let on_link = move |el: &mut Element<'_, '_>| {
        if is_link_element(&el.tag_name()) {
            if let Some(link) = found_link(el, offset) {
                link_state.borrow_mut().links.push(link);
            }
        }
        Ok(())
    };
    let image_state = state.clone();
    let on_image = move |el: &mut Element<'_, '_>| {
        if let Some(range) = attribute_value_range(el, "src") {
            image_state
                .borrow_mut()
                .image_sources
                .push(shift(range, offset));
        }
        Ok(())
    };
    let mut settings = Settings::new()
        .with_strict(false)
        .append_element_content_handler(on(&selectors.with_href, on_link))
        .append_element_content_handler(on(&selectors.image, on_image));
    if depth == Depth::Document {
        settings = structure_handlers(settings, selectors, html, state);
    }
    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    rewriter.write(html).map_err(html_error)?;
    rewriter.end().map_err(html_error)
}

/// Handlers for the document's skeleton: `<base>`, `<body>`, `</head>`, `<html>`, doctype and
/// conditional comments.
fn structure_handlers<'h, 's>(
    settings: Settings<'h, 's>,
    selectors: &'s Selectors,
    html: &'h [u8],
    state: &Rc<RefCell<Found>>,
) -> Settings<'h, 's> {
    let base_state = state.clone();
    let on_base = move |el: &mut Element<'_, '_>| {
        let mut found = base_state.borrow_mut();
        if found.base.is_none() {
            found.base = el.get_attribute("href");
        }
        Ok(())
    };
    let body_state = state.clone();
    let on_body = move |el: &mut Element<'_, '_>| {
        {
            let mut found = body_state.borrow_mut();
            if found.body_open_end.is_none() {
                found.body_open_end = Some(el.source_location().bytes().end);
            }
        }
        let close_state = body_state.clone();
        // Not called for a `</body>` the parser only implies; the caller falls back.
        let _ = el.on_end_tag(Box::new(move |end: &mut EndTag<'_>| {
            close_state.borrow_mut().body_close_start = Some(end.source_location().bytes().start);
            Ok(())
        }));
        Ok(())
    };
    let head_state = state.clone();
    let on_head = move |el: &mut Element<'_, '_>| {
        let close_state = head_state.clone();
        let _ = el.on_end_tag(Box::new(move |end: &mut EndTag<'_>| {
            let mut found = close_state.borrow_mut();
            if found.head_close_end.is_none() {
                found.head_close_end = Some(end.source_location().bytes().end);
            }
            Ok(())
        }));
        Ok(())
    };
    let html_state = state.clone();
    let on_html = move |el: &mut Element<'_, '_>| {
        {
            let mut found = html_state.borrow_mut();
            if found.html_open_end.is_none() {
                found.html_open_end = Some(el.source_location().bytes().end);
            }
        }
        let close_state = html_state.clone();
        let _ = el.on_end_tag(Box::new(move |end: &mut EndTag<'_>| {
            close_state.borrow_mut().html_close_start = Some(end.source_location().bytes().start);
            Ok(())
        }));
        Ok(())
    };
    let doctype_state = state.clone();
    let on_doctype = move |doctype: &mut Doctype<'_>| {
        let mut found = doctype_state.borrow_mut();
        if found.doctype_end.is_none() {
            found.doctype_end = Some(doctype.source_location().bytes().end);
        }
        Ok(())
    };
    let comment_state = state.clone();
    let on_comment = move |comment: &mut Comment<'_>| {
        if let Some(body) = conditional_body(html, comment.source_location().bytes()) {
            comment_state.borrow_mut().conditional_bodies.push(body);
        }
        Ok(())
    };
    settings
        .append_element_content_handler(on(&selectors.base, on_base))
        .append_element_content_handler(on(&selectors.body, on_body))
        .append_element_content_handler(on(&selectors.head, on_head))
        .append_element_content_handler(on(&selectors.html, on_html))
        .append_document_content_handler(
            DocumentContentHandlers::default()
                .doctype(on_doctype)
                .comments(on_comment),
        )
}

/// Whether markup appended at the end of `html` would be parsed as markup of its own. It is not
/// when the document ends inside an unterminated tag, comment or raw-text element (broken
/// markup such as `<a href="x" title="ab` at the very end): appending a pixel there would
/// complete that tag instead, and a second rewrite would see a different document.
pub fn appendable_at_end(html: &[u8]) -> bool {
    const PROBE: &[u8] = b"<mp-end-probe>";
    let Ok(probe) = "mp-end-probe".parse::<Selector>() else {
        return false;
    };
    let seen = Rc::new(RefCell::new(false));
    let seen_by_handler = seen.clone();
    let settings = Settings::new().append_element_content_handler(on(&probe, move |_| {
        *seen_by_handler.borrow_mut() = true;
        Ok(())
    }));
    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    let parsed = rewriter
        .write(html)
        .and_then(|()| rewriter.write(PROBE))
        .and_then(|()| rewriter.end());
    parsed.is_ok() && *seen.borrow()
}

/// An element handler for one selector.
fn on<'h, 's>(
    selector: &'s Selector,
    handler: impl FnMut(&mut Element<'_, '_>) -> HandlerResult + 'h,
) -> (Cow<'s, Selector>, ElementContentHandlers<'h>) {
    (
        Cow::Borrowed(selector),
        ElementContentHandlers::default().element(handler),
    )
}

/// Elements whose `href` is followed when clicked: anchors, image-map areas and VML shapes
/// (Outlook's "bulletproof buttons", `<v:roundrect href>`).
fn is_link_element(tag: &str) -> bool {
    tag == "a" || tag == "area" || tag.starts_with("v:")
}

fn found_link(el: &Element<'_, '_>, offset: usize) -> Option<FoundLink> {
    let value = attribute_value_range(el, "href")?;
    Some(FoundLink {
        value: shift(value, offset),
        no_track: el.has_attribute("data-mp-notrack"),
        unsubscribe: el.has_attribute("data-mp-unsubscribe"),
        name: el.get_attribute("data-mp-link"),
    })
}

/// The source range of the first `name` attribute's value (the first one counts, as in a
/// browser). `None` for an attribute without a value.
fn attribute_value_range(el: &Element<'_, '_>, name: &str) -> Option<Range<usize>> {
    el.attributes()
        .iter()
        .find(|attribute| attribute.name_preserve_case().eq_ignore_ascii_case(name))
        .and_then(|attribute| attribute.value_source_location())
        .map(|location| location.bytes())
}

fn shift(range: Range<usize>, offset: usize) -> Range<usize> {
    range.start + offset..range.end + offset
}

/// The HTML inside a downlevel-hidden conditional comment: for `<!--[if mso]>BODY<![endif]-->`
/// at `comment` in `html`, the range of `BODY`.
fn conditional_body(html: &[u8], comment: Range<usize>) -> Option<Range<usize>> {
    let source = html.get(comment.clone())?;
    let text = source.strip_prefix(b"<!--")?.strip_suffix(b"-->")?;
    let text_start = comment.start + 4;
    let leading = text.iter().take_while(|b| b.is_ascii_whitespace()).count();
    if !text[leading..].get(..3)?.eq_ignore_ascii_case(b"[if") {
        return None;
    }
    let open = leading + find_ignore_ascii_case(&text[leading..], b"]>")? + 2;
    let close =
        find_ignore_ascii_case(&text[open..], b"<![endif]").map_or(text.len(), |at| open + at);
    (close > open).then(|| text_start + open..text_start + close)
}

fn find_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

fn html_error(error: RewritingError) -> ToolkitError {
    ToolkitError::Html(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_document(html: &str) -> Found {
        let selectors = Selectors::new().expect("selectors parse");
        let mut found = Found::default();
        scan(&selectors, html.as_bytes(), 0, Depth::Document, &mut found).expect("scan");
        found
    }

    fn values<'a>(html: &'a str, found: &Found) -> Vec<&'a str> {
        found.links.iter().map(|l| &html[l.value.clone()]).collect()
    }

    #[test]
    fn finds_href_values_of_link_elements_only() {
        let html = r#"<link href="https://css.example/s.css"><A HREF='https://a.example/?x=1&amp;y=2'>a</A>
<area shape=rect href=https://map.example/1 alt=m><div href="https://not.a.link/">d</div>
<v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="https://vml.example/">b</v:roundrect>
<a name=top>no href</a><a href>empty</a>"#;
        let found = scan_document(html);
        assert_eq!(
            values(html, &found),
            [
                "https://a.example/?x=1&amp;y=2",
                "https://map.example/1",
                "https://vml.example/"
            ]
        );
    }

    #[test]
    fn finds_structure_positions() {
        let html = "<!DOCTYPE html><html><head><base href=\"https://b.example/\"></head><body class=x>hi</body></html>";
        let found = scan_document(html);
        assert_eq!(found.base.as_deref(), Some("https://b.example/"));
        assert_eq!(
            &html[..found.doctype_end.expect("doctype")],
            "<!DOCTYPE html>"
        );
        assert!(html[..found.body_open_end.expect("body")].ends_with("<body class=x>"));
        assert!(html[found.body_close_start.expect("</body>")..].starts_with("</body>"));
        assert!(html[..found.head_close_end.expect("</head>")].ends_with("</head>"));
        assert!(html[found.html_close_start.expect("</html>")..].starts_with("</html>"));
    }

    #[test]
    fn finds_conditional_comment_bodies() {
        let html = "<p><!--[if mso]><v:roundrect href=\"https://x.example/\"></v:roundrect><![endif]--><!-- plain --><!--[if !mso]><!--><a href=\"https://y.example/\">y</a><!--<![endif]--></p>";
        let found = scan_document(html);
        let bodies: Vec<&str> = found
            .conditional_bodies
            .iter()
            .map(|r| &html[r.clone()])
            .collect();
        assert_eq!(
            bodies,
            [
                "<v:roundrect href=\"https://x.example/\"></v:roundrect>",
                "<!"
            ]
        );
        assert_eq!(values(html, &found), ["https://y.example/"]);
    }
}
