//! The campaign statistics API and dashboard (`mailpulse api`).
//!
//! - Tenancy: tenants own API keys, stored as BLAKE3 hashes in `tenants` ([`tenant`]); a
//!   request is authenticated by [`auth`] (bearer key, or the dashboard cookie on reads) and
//!   every statistics query is scoped to the caller's tenant. Calls are recorded in
//!   `audit_log` ([`audit`]).
//! - Routes: one [`Router`] that feature modules register on — [`ops`] (probes, metrics,
//!   OpenAPI), [`stats_routes`] (JSON/CSV views of the aggregate tables, never `events`),
//!   [`dashboard`] (server-rendered HTML with SVG charts), [`privacy_routes`] (data-subject
//!   rights) and [`delivery_routes`] (senders' delivery statuses). [`served_router`] is what
//!   `mailpulse api` serves; `schemas/openapi.yaml` documents it, and `tests/api_openapi.rs`
//!   holds the two to each other.
//! - [`server`]: hyper HTTP/1 with a connection cap and graceful shutdown.

pub mod audit;
pub mod auth;
pub mod dashboard;
pub mod delivery_batch;
pub mod delivery_routes;
mod dispatch;
mod error;
pub mod metrics;
pub mod ops;
pub mod privacy_routes;
pub mod queries;
pub mod response;
pub mod router;
pub mod server;
pub mod state;
pub mod stats;
pub mod stats_routes;
pub mod tenant;
pub mod time;

use std::sync::Arc;

use mailpulse_config::Config;

pub use auth::{Authenticator, Caller};
pub use dispatch::{with_audit_subject, AuditSubject};
pub use error::ApiError;
pub use router::{Access, Request, Router};
pub use server::{run, ApiServer};
pub use state::ApiState;
pub use tenant::TenantId;

/// The standard routes: operations, statistics and the dashboard.
pub fn default_router() -> Router {
    let mut router = Router::new();
    ops::register(&mut router);
    stats_routes::register(&mut router);
    dashboard::register(&mut router);
    router
}

/// Every route `mailpulse api` serves: the standard ones plus the privacy and delivery routes,
/// with their Kafka producers and ClickHouse client built from `config` (nothing connects
/// before the first call).
pub fn served_router(config: &Config) -> Result<Router, ApiError> {
    let mut router = default_router();
    let privacy = mailpulse_privacy::Privacy::new(config)
        .map_err(|error| ApiError::Startup(format!("privacy routes: {error}")))?;
    privacy_routes::register(&mut router, Arc::new(privacy));
    let ingest = mailpulse_aggregator::delivery_ingest::DeliveryIngest::new(&config.kafka)
        .map_err(|error| ApiError::Startup(format!("delivery route: {error}")))?;
    delivery_routes::register(&mut router, Arc::new(ingest));
    Ok(router)
}
