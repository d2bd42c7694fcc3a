use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mailpulse_config::Config;

use crate::{cmd_aggregate, cmd_migrate, cmd_stats, cmd_topics};

#[derive(Debug, Parser)]
#[command(name = "mailpulse", version, about = "Email open/click tracking and analytics")]
pub struct Cli {
    /// TOML configuration file; `MAILPULSE_<SECTION>_<KEY>` variables override it.
    #[arg(long, global = true, env = "MAILPULSE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Create the ClickHouse database and apply pending schema migrations.
    Migrate,
    /// Run the aggregator: Kafka events → enrichment → consent → ClickHouse statistics.
    Aggregate,
    /// Print a campaign's statistics as JSON.
    Stats(cmd_stats::StatsArgs),
    /// Manage the pipeline's Kafka topics.
    #[command(subcommand)]
    Topics(cmd_topics::TopicsCommand),
}

pub fn run(cli: Cli) -> Result<()> {
    let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    mailpulse_telemetry::init_logging(&config.log.level, &config.log.format);
    match cli.command {
        Command::Config => {
            println!("{config:#?}");
            Ok(())
        }
        Command::Migrate => cmd_migrate::run(&config),
        Command::Aggregate => cmd_aggregate::run(&config),
        Command::Stats(args) => cmd_stats::run(&config, args),
        Command::Topics(command) => cmd_topics::run(&config, command),
    }
}
