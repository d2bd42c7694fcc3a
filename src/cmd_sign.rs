use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use mailpulse_config::Config;
use mailpulse_token::{link_id_for, KeyRing, UrlMinter};

#[derive(Debug, Args)]
pub struct Recipient {
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub campaign: String,
    /// The sender's opaque subscriber id (never an email address).
    #[arg(long)]
    pub subscriber: String,
    /// Token lifetime in seconds (default: never expires).
    #[arg(long)]
    pub ttl: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum SignCommand {
    /// Pixel URL (`/o/…`).
    Open(Recipient),
    /// Click URL (`/c/…`) redirecting to `--url`.
    Click {
        #[command(flatten)]
        recipient: Recipient,
        /// Destination: an absolute http(s) URL.
        #[arg(long)]
        url: String,
        /// Link id for per-link statistics (default: derived from campaign and URL).
        #[arg(long)]
        link: Option<String>,
    },
    /// One-click unsubscribe URL (`/u/…`).
    Unsubscribe(Recipient),
}

pub fn run(config: &Config, command: SignCommand) -> Result<()> {
    let keys = KeyRing::parse(&config.keys.signing, &config.keys.active)
        .context("keys.signing / keys.active")?;
    let minter = |ttl: Option<u64>| -> Result<UrlMinter> {
        let minter = UrlMinter::new(&config.edge.tracking_base_url, keys.clone())
            .context("edge.tracking_base_url")?;
        Ok(match ttl {
            Some(ttl) => minter.with_ttl(ttl),
            None => minter,
        })
    };
    let url = match &command {
        SignCommand::Open(r) => minter(r.ttl)?.pixel_url(&r.tenant, &r.campaign, &r.subscriber),
        SignCommand::Click {
            recipient: r,
            url,
            link,
        } => {
            let link = link
                .clone()
                .unwrap_or_else(|| link_id_for(&r.campaign, url));
            minter(r.ttl)?.click_url(&r.tenant, &r.campaign, &r.subscriber, &link, url)
        }
        SignCommand::Unsubscribe(r) => {
            minter(r.ttl)?.unsubscribe_url(&r.tenant, &r.campaign, &r.subscriber)
        }
    }
    .context("cannot sign")?;
    println!("{url}");
    Ok(())
}
