//! `mailpulse stats`: print a campaign's statistics as JSON, read from the aggregate tables.

use anyhow::{Context, Result};
use clap::Args;
use mailpulse_config::Config;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Tenant id.
    #[arg(long)]
    pub tenant: String,
    /// Campaign id.
    #[arg(long)]
    pub campaign: String,
}

pub fn run(config: &Config, args: StatsArgs) -> Result<()> {
    let runtime = crate::cmd_aggregate::small_runtime()?;
    let client = mailpulse_store::connect(&config.clickhouse);
    let summary = runtime
        .block_on(mailpulse_store::stats::campaign_summary(
            &client,
            &args.tenant,
            &args.campaign,
        ))
        .context("reading campaign statistics from ClickHouse")?;
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).context("encoding the summary")?
    );
    Ok(())
}
