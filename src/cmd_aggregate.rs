//! `mailpulse aggregate`: run the aggregator until SIGTERM or Ctrl-C.

use anyhow::{Context, Result};
use mailpulse_config::Config;
use tokio::sync::watch;

pub fn run(config: &Config) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            stop_requested().await;
            tracing::info!("shutdown requested");
            stop.send_replace(true);
        });
        // Raw-event retention (docs/privacy.md) runs beside the aggregator, every hour.
        let retention = mailpulse_privacy::Privacy::new(config)
            .context("setting up the retention job")
            .map(|privacy| {
                tokio::spawn(mailpulse_privacy::retention::run_periodically(
                    std::sync::Arc::new(privacy),
                    mailpulse_privacy::retention::RETENTION_INTERVAL,
                    stopped.clone(),
                ))
            })?;
        let result = mailpulse_aggregator::run(config, stopped)
            .await
            .context("running the aggregator");
        retention.abort();
        result
    })
}

/// A single-threaded runtime for the short commands (migrate, stats, topics).
pub fn small_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Resolves on SIGTERM or SIGINT.
async fn stop_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM; Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
