//! Everything a request needs, built once at start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mailpulse_geo::GeoResolver;
use mailpulse_telemetry::Registry;
use mailpulse_token::KeyRing;

use crate::client_ip::TrustedProxies;
use crate::metrics::EdgeMetrics;
use crate::salt::SaltKeeper;
use crate::sink::EventSink;

pub struct EdgeState {
    /// Keys that verify tokens (several during a rotation).
    pub keys: KeyRing,
    /// Proxies whose forwarding headers we believe.
    pub proxies: TrustedProxies,
    /// Country/region/city and autonomous system, from MMDB files.
    pub geo: GeoResolver,
    /// Today's visitor-hash salt.
    pub salt: SaltKeeper,
    /// Kafka, or the spool when Kafka is away.
    pub sink: EventSink,
    pub metrics: Arc<EdgeMetrics>,
    pub registry: Registry,
    /// Shown on events: which replica accepted the request.
    pub instance: String,
    /// Set at shutdown so load balancers stop sending traffic before we stop listening.
    pub draining: AtomicBool,
}

impl EdgeState {
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Ready to take traffic: keys and GeoIP loaded, not shutting down. A broker outage does
    /// not make the edge unready: it spools.
    pub fn ready(&self) -> bool {
        !self.draining() && self.keys.key_ids().next().is_some() && self.geo.is_loaded()
    }
}
