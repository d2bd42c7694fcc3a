//! The `mailpulse` binary: parse the command line and configuration, start telemetry, run the
//! chosen component, shut down.

mod cli;
mod cmd_aggregate;
mod cmd_api;
mod cmd_edge;
mod cmd_migrate;
mod cmd_privacy;
mod cmd_rewrite;
mod cmd_sign;
mod cmd_stats;
mod cmd_tenant;
mod cmd_topics;

use anyhow::Result;
use clap::Parser;

fn main() -> Result<()> {
    let cli = cli::Cli::parse();
    cli::run(cli)
}
