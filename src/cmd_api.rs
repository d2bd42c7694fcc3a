//! `mailpulse api`: the statistics API and dashboard on `api.listen`.

use anyhow::{Context, Result};
use clap::Args;
use mailpulse_config::Config;

use crate::cli::{runtime, shutdown_signal};

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Listen address (overrides `api.listen`).
    #[arg(long)]
    pub listen: Option<String>,
}

pub fn run(mut config: Config, args: ApiArgs) -> Result<()> {
    if let Some(listen) = args.listen {
        config.api.listen = listen;
    }
    // Statistics queries wait on ClickHouse, not on the CPU: two workers are plenty.
    let runtime = runtime(2)?;
    // Statistics, dashboard, privacy and delivery routes: the same list `tests/api_openapi.rs`
    // checks against schemas/openapi.yaml.
    let router = mailpulse_api::served_router(&config).context("setting up the routes")?;
    runtime
        .block_on(mailpulse_api::run(&config, router, shutdown_signal()))
        .context("API failed")
}
