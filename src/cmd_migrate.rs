//! `mailpulse migrate`: create the ClickHouse database and apply pending schema migrations.

use anyhow::{Context, Result};
use mailpulse_config::Config;

pub fn run(config: &Config) -> Result<()> {
    let runtime = crate::cmd_aggregate::small_runtime()?;
    let report = runtime
        .block_on(mailpulse_store::migrate::migrate(&config.clickhouse))
        .with_context(|| {
            format!(
                "migrating ClickHouse database `{}`",
                config.clickhouse.database
            )
        })?;
    for (version, name) in &report.applied {
        println!("applied {version:04}_{name}");
    }
    println!(
        "database `{}`: {} applied now, {} already applied",
        config.clickhouse.database,
        report.applied.len(),
        report.already_applied.len()
    );
    Ok(())
}
