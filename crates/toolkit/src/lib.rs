//! Senders' toolkit: turns an outgoing email into a tracked one for one recipient.
//!
//! - [`Rewriter::rewrite_html`] wraps every trackable link in a signed click URL, points the
//!   unsubscribe link at the recipient's signed one-click URL and inserts open pixels at the top
//!   and the bottom of the body. Everything else is copied byte for byte (see [`scan`] for how).
//! - [`Rewriter::rewrite_text`] does the same for `text/plain` parts (no pixel).
//! - [`Rewriter::list_unsubscribe_headers`] gives the RFC 8058 one-click unsubscribe headers.
//!
//! # What is tracked
//!
//! `href`s of `<a>`, `<area>` and VML elements (`<v:roundrect href>`) that resolve to an
//! absolute `http`/`https` URL, as a browser would resolve them: character references decoded,
//! surrounding whitespace dropped, relative links made absolute by `<base href>` when there is
//! one. Left alone: `mailto:`, `tel:` and other schemes, in-page anchors (`#…`), relative links
//! without a base, links marked `data-mp-notrack`, links that already point at the edge (so a
//! second rewrite changes nothing), and URLs the token format refuses (over 2 KB).
//!
//! Markers a template may use: `data-mp-link="name"` names the link in per-link statistics
//! (default: a hash of campaign and destination, the same in every recipient's copy);
//! `data-mp-unsubscribe`, or an `href` equal to a configured placeholder such as
//! `{{unsubscribe}}`, marks the unsubscribe link. Markers stay in the output: mail clients
//! ignore `data-` attributes.
//!
//! # Outlook conditional comments
//!
//! `<!--[if mso]>…<![endif]-->` hides HTML that only Outlook renders — typically the VML half of
//! a bulletproof button, whose `href` is the same destination as the HTML half. The comment's
//! body is parsed with the same tokenizer and its links are wrapped (same link id as the HTML
//! half); nothing else inside the comment changes. [`RewriteOptions::rewrite_conditional_comments`]
//! turns this off, leaving comments byte-identical.
//!
//! # Pixels
//!
//! Gmail clips messages over about 102 KB; a pixel at the bottom of a clipped message never
//! loads. So one pixel goes right after `<body…>` (`/o/TOKEN`) and one before `</body>`
//! (`/o/TOKEN.gif?at=end`, [`END_PIXEL_SUFFIX`]). Both are the same recipient's token. The edge
//! marks a fetch of the bottom one as `end_pixel` (the message was rendered to its end) and the
//! statistics do not count it as another open, so a fully rendered message is one open, not
//! two. `/o/TOKEN` and plain `/o/TOKEN.gif` stay ordinary opens for senders with one pixel.

mod entities;
mod links;
mod rewrite;
pub mod scan;
mod text;
mod unsubscribe;

pub use links::Skip;
pub use mailpulse_token::{KeyRing, UrlMinter};
pub use rewrite::{RewriteReport, Rewriter, END_PIXEL_SUFFIX};
pub use unsubscribe::{LIST_UNSUBSCRIBE, LIST_UNSUBSCRIBE_POST, ONE_CLICK};

/// The placeholder `href` that marks the unsubscribe link unless configured otherwise.
pub const DEFAULT_UNSUBSCRIBE_PLACEHOLDER: &str = "{{unsubscribe}}";

/// Who one copy of the email is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient<'a> {
    pub tenant: &'a str,
    pub campaign: &'a str,
    /// The sender's opaque subscriber id (never an email address).
    pub subscriber: &'a str,
}

/// How a [`Rewriter`] treats a message.
#[derive(Debug, Clone)]
pub struct RewriteOptions {
    /// `href` values (and, in text parts, words) that stand for the recipient's unsubscribe
    /// URL. Default `["{{unsubscribe}}"]`.
    pub unsubscribe_placeholders: Vec<String>,
    /// Insert the open pixels into HTML. Default `true`.
    pub insert_pixels: bool,
    /// Wrap links inside Outlook conditional comments. Default `true`.
    pub rewrite_conditional_comments: bool,
}

impl Default for RewriteOptions {
    fn default() -> Self {
        RewriteOptions {
            unsubscribe_placeholders: vec![DEFAULT_UNSUBSCRIBE_PLACEHOLDER.to_owned()],
            insert_pixels: true,
            rewrite_conditional_comments: true,
        }
    }
}

/// Why a message could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum ToolkitError {
    /// The recipient's ids cannot be signed (empty, over 256 bytes, control characters): fix
    /// the tenant, campaign or subscriber id.
    #[error("cannot sign for this recipient: {0}")]
    Recipient(#[source] mailpulse_token::TokenError),
    /// The HTML tokenizer gave up (it does not on malformed markup; this means a resource
    /// limit): the message cannot be tracked as it is.
    #[error("HTML rewriting failed: {0}")]
    Html(String),
    /// A `mailto:` address for `List-Unsubscribe` is unusable: fix it.
    #[error("invalid unsubscribe mailto: {0}")]
    Mailto(&'static str),
}
