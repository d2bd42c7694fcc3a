//! What every handler shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clickhouse::Client;
use mailpulse_telemetry::Registry;

use crate::audit::{AuditLog, AuditWriter};
use crate::auth::Authenticator;
use crate::metrics::ApiMetrics;

/// Shared by all requests.
pub struct ApiState {
    /// ClickHouse, with the configured database as default.
    pub client: Client,
    /// Checks API keys (cached key list).
    pub auth: Authenticator,
    /// Queue of the audit log's background writer.
    pub audit: AuditLog,
    pub metrics: ApiMetrics,
    /// Rendered on `/metrics`; modules may register more before the server starts.
    pub registry: Registry,
    /// Set once shutdown begins: `/readyz` turns 503 so load balancers stop sending.
    draining: AtomicBool,
}

impl ApiState {
    /// Builds the state and starts the audit writer (needs a Tokio runtime).
    pub fn new(client: Client, key_ttl: Duration) -> (ApiState, AuditWriter) {
        let mut registry = Registry::default();
        let metrics = ApiMetrics::register(&mut registry);
        let (audit, writer) = AuditLog::start(client.clone(), metrics.audit.clone());
        let state = ApiState {
            auth: Authenticator::new(client.clone(), key_ttl),
            client,
            audit,
            metrics,
            registry,
            draining: AtomicBool::new(false),
        };
        (state, writer)
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub(crate) fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }
}
