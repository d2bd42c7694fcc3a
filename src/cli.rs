use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mailpulse_config::Config;

use crate::{
    cmd_aggregate, cmd_api, cmd_edge, cmd_migrate, cmd_privacy, cmd_sign, cmd_stats, cmd_tenant,
    cmd_topics,
};

use crate::cmd_rewrite;

#[derive(Debug, Parser)]
#[command(
    name = "mailpulse",
    version,
    about = "Email open/click tracking and analytics"
)]
pub struct Cli {
    /// TOML configuration file; `MAILPULSE_<SECTION>_<KEY>` variables override it.
    #[arg(long, global = true, env = "MAILPULSE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the edge: tracking pixel and click redirects.
    Edge(cmd_edge::EdgeArgs),
    /// Mint signed tracking URLs.
    #[command(subcommand)]
    Sign(cmd_sign::SignCommand),
    /// Rewrite one message part for one recipient (stdin → stdout): signed links, pixels,
    /// unsubscribe link; or print its List-Unsubscribe headers.
    Rewrite(cmd_rewrite::RewriteArgs),
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
    /// Run the statistics API and dashboard on `api.listen`.
    Api(cmd_api::ApiArgs),
    /// Manage tenants' API keys.
    #[command(subcommand)]
    Tenant(cmd_tenant::TenantCommand),
    /// Consent registry (set, show, import) and tenant/campaign tracking policies.
    #[command(subcommand)]
    Consent(cmd_privacy::ConsentCommand),
    /// Print everything held about a subscriber as JSON Lines (schemas/export.v1.json).
    Export(cmd_privacy::SubscriberArgs),
    /// Erase a subscriber: deny tracking, delete every subscriber-level row, print a receipt.
    Forget(cmd_privacy::SubscriberArgs),
    /// Raw-event retention: run it now, or set a tenant's.
    #[command(subcommand)]
    Retention(cmd_privacy::RetentionCommand),
}

pub fn run(cli: Cli) -> Result<()> {
    let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    mailpulse_telemetry::init_logging(&config.log.level, &config.log.format);
    match cli.command {
        Command::Edge(args) => cmd_edge::run(config, args),
        Command::Sign(command) => cmd_sign::run(&config, command),
        Command::Rewrite(args) => cmd_rewrite::run(&config, args),
        Command::Config => {
            println!("{:#?}", redacted(config));
            Ok(())
        }
        Command::Migrate => cmd_migrate::run(&config),
        Command::Aggregate => cmd_aggregate::run(&config),
        Command::Stats(args) => cmd_stats::run(&config, args),
        Command::Topics(command) => cmd_topics::run(&config, command),
        Command::Api(args) => cmd_api::run(config, args),
        Command::Tenant(command) => cmd_tenant::run(&config, command),
        Command::Consent(command) => cmd_privacy::consent(&config, command),
        Command::Export(args) => cmd_privacy::export(&config, args),
        Command::Forget(args) => cmd_privacy::forget(&config, args),
        Command::Retention(command) => cmd_privacy::retention(&config, command),
    }
}

fn redacted(mut config: Config) -> Config {
    let hidden = "<redacted>".to_string();
    config.keys.signing = hidden.clone();
    config.keys.subscriber_hash = hidden.clone();
    if !config.clickhouse.password.is_empty() {
        config.clickhouse.password = hidden;
    }
    config
}

/// A multi-threaded runtime with `workers` threads (0: one per core).
pub fn runtime(workers: usize) -> Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if workers > 0 {
        builder.worker_threads(workers);
    }
    builder
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
