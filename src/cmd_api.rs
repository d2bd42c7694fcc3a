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
    // Other modules register their routes here, before the server starts, and the same in
    // `served_router()` of tests/api_common (tests/api_openapi.rs checks the routes against
    // schemas/openapi.yaml both ways).
    let mut router = mailpulse_api::default_router();
    // Data-subject rights (docs/privacy.md); not yet in served_router()/openapi.yaml.
    let privacy = mailpulse_privacy::Privacy::new(&config).context("setting up privacy routes")?;
    mailpulse_api::privacy_routes::register(&mut router, std::sync::Arc::new(privacy));
    runtime
        .block_on(mailpulse_api::run(&config, router, shutdown_signal()))
        .context("API failed")
}
