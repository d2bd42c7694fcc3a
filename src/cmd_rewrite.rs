//! `mailpulse rewrite`: the tracked copy of one message part for one recipient, stdin → stdout,
//! with URLs under `edge.tracking_base_url` signed by `keys.*`.

use std::io::{Read, Write};

use anyhow::{Context, Result};
use clap::Args;
use mailpulse_config::Config;
use mailpulse_toolkit::{
    KeyRing, Recipient, RewriteOptions, Rewriter, UrlMinter, DEFAULT_UNSUBSCRIBE_PLACEHOLDER,
    LIST_UNSUBSCRIBE, LIST_UNSUBSCRIBE_POST,
};

#[derive(Debug, Args)]
pub struct RewriteArgs {
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub campaign: String,
    /// The sender's opaque subscriber id (never an email address).
    #[arg(long)]
    pub subscriber: String,
    /// The input is a `text/plain` part (default: HTML).
    #[arg(long)]
    pub text: bool,
    /// `href` (or, in text, word) that stands for the unsubscribe link; repeatable.
    #[arg(long = "unsubscribe-placeholder", default_value = DEFAULT_UNSUBSCRIBE_PLACEHOLDER)]
    pub unsubscribe_placeholders: Vec<String>,
    /// Do not insert open pixels.
    #[arg(long)]
    pub no_pixels: bool,
    /// Leave Outlook conditional comments (`<!--[if mso]>`) byte-identical.
    #[arg(long)]
    pub keep_conditional_comments: bool,
    /// Token lifetime in seconds (default: never expires).
    #[arg(long)]
    pub ttl: Option<u64>,
    /// Print the `List-Unsubscribe` and `List-Unsubscribe-Post` headers instead of rewriting.
    #[arg(long)]
    pub list_unsubscribe_headers: bool,
    /// With `--list-unsubscribe-headers`: also offer this `mailto:` address.
    #[arg(long, requires = "list_unsubscribe_headers")]
    pub mailto: Option<String>,
}

pub fn run(config: &Config, args: RewriteArgs) -> Result<()> {
    let keys = KeyRing::parse(&config.keys.signing, &config.keys.active)
        .context("keys.signing / keys.active")?;
    let mut minter =
        UrlMinter::new(&config.edge.tracking_base_url, keys).context("edge.tracking_base_url")?;
    if let Some(ttl) = args.ttl {
        minter = minter.with_ttl(ttl);
    }
    let options = RewriteOptions {
        unsubscribe_placeholders: args.unsubscribe_placeholders.clone(),
        insert_pixels: !args.no_pixels,
        rewrite_conditional_comments: !args.keep_conditional_comments,
    };
    let rewriter = Rewriter::new(minter, options).context("building the rewriter")?;
    let recipient = Recipient {
        tenant: &args.tenant,
        campaign: &args.campaign,
        subscriber: &args.subscriber,
    };
    let mut stdout = std::io::stdout().lock();
    if args.list_unsubscribe_headers {
        let (list, post) = rewriter
            .list_unsubscribe_headers(&recipient, args.mailto.as_deref())
            .context("List-Unsubscribe headers")?;
        writeln!(stdout, "{LIST_UNSUBSCRIBE}: {list}")?;
        writeln!(stdout, "{LIST_UNSUBSCRIBE_POST}: {post}")?;
        return Ok(());
    }
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut input)
        .context("reading stdin")?;
    if args.text {
        let text = String::from_utf8(input).context("a text part must be UTF-8")?;
        let output = rewriter
            .rewrite_text(&text, &recipient)
            .context("rewriting the text part")?;
        stdout.write_all(output.as_bytes())?;
    } else {
        let (output, report) = rewriter
            .rewrite_html_with_report(&input, &recipient)
            .context("rewriting the HTML part")?;
        stdout.write_all(&output)?;
        tracing::info!(
            tracked = report.tracked,
            unsubscribe = report.unsubscribe,
            pixels = report.pixels,
            left_not_web = report.not_web,
            left_relative = report.relative,
            left_no_track = report.no_track,
            left_already_tracked = report.already_tracked,
            left_unsignable = report.unsignable,
            "message rewritten"
        );
    }
    stdout.flush().context("writing stdout")
}
