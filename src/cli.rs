use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mailpulse_config::Config;

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
}

pub fn run(cli: Cli) -> Result<()> {
    let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    mailpulse_telemetry::init_logging(&config.log.level, &config.log.format);
    match cli.command {
        Command::Config => {
            println!("{config:#?}");
            Ok(())
        }
    }
}
