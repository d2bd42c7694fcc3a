use anyhow::{Context, Result};
use clap::Args;
use mailpulse_config::Config;

use crate::cli::{runtime, shutdown_signal};

#[derive(Debug, Args)]
pub struct EdgeArgs {
    /// Listen address (overrides `edge.listen`).
    #[arg(long)]
    pub listen: Option<String>,
}

pub fn run(mut config: Config, args: EdgeArgs) -> Result<()> {
    if let Some(listen) = args.listen {
        config.edge.listen = listen;
    }
    let runtime = runtime(config.edge.workers)?;
    runtime
        .block_on(mailpulse_edge::run(config, shutdown_signal()))
        .context("edge failed")
}
