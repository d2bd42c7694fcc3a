//! GeoIP and autonomous-system lookups for the edge's hot path.
//!
//! [`GeoResolver`] reads two MMDB files: a location database (DB-IP's flat layout such as
//! `{"country_code": "EE"}`, or MaxMind's nested GeoIP2 layout such as `country.iso_code`) and an
//! ASN database in MaxMind's GeoLite2-ASN layout. [`GeoResolver::lookup`] turns an address into
//! the [`Geo`](mailpulse_event::Geo) and [`Network`](mailpulse_event::Network) an event carries,
//! at the configured [`GeoGranularity`](mailpulse_config::GeoGranularity). An address without a
//! record yields empty fields, never an error: the pixel must be served regardless.
//!
//! The databases are swapped in place by [`GeoResolver::reload_if_changed`], which the edge calls
//! every few seconds; a file that fails to load leaves the previous database serving.
//!
//! [`classify_network`] maps an autonomous system to a coarse [`NetworkClass`]
//! (mail-provider proxies, hosting networks), from the table in [`networks`].
//!
//! [`NetworkClass`]: mailpulse_event::NetworkClass

mod error;
pub mod networks;
mod prefix;
mod record;
mod resolver;

pub use error::GeoError;
pub use networks::classify_network;
pub use prefix::network_prefix;
pub use resolver::GeoResolver;
