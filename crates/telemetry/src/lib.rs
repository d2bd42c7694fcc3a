//! Logging and metrics plumbing shared by the components.
//!
//! Logs are structured `tracing` events. No component logs an IP address: the edge drops it
//! before anything is recorded, and this crate offers no field for one.
//! Metrics use `prometheus-client`; each component registers its own typed metrics in a
//! [`Registry`] and serves [`render`] on `/metrics`.

pub use prometheus_client;
pub use prometheus_client::registry::Registry;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `format` is `text` or `json`; `level` a `tracing` filter
/// such as `info` or `mailpulse_edge=debug,info`. `RUST_LOG` wins when set.
pub fn init_logging(level: &str, format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The registry in Prometheus text format (OpenMetrics 1.0 exposition).
pub fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(4096);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

/// Content type for [`render`]'s output.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
