//! Enrichment of tracking events, run by the aggregator once per event: pure, deterministic and
//! allocation-free per event (names are `&'static str`, the version borrows the event).
//!
//! [`Enricher::enrich`] adds:
//! - **browser, version, OS, device category** from [woothee](https://github.com/woothee);
//! - **[`EmailClient`]**: Apple Mail (macOS, iOS), Apple Mail Privacy Protection, Gmail's and
//!   Yahoo's image proxies, Outlook (desktop, web, mobile), Thunderbird, Samsung Email, Spark,
//!   Superhuman, a browser (webmail), or unknown — from User-Agent fragments in
//!   `signatures.rs`, Apple Mail's WebKit agent shape, and the network class the edge resolved;
//! - **a machine verdict**: a [`MachineReason`] when the event was not a person. Events are
//!   flagged, never dropped, so reports can count them either way (as Mailgun's
//!   `client-info.bot` and SendGrid's `sg_machine_open` do).
//!
//! # Machine rules
//!
//! Opens (first match wins):
//! - `apple_mpp`: a bare `Mozilla/5.0` agent, or Apple Mail's agent from Apple's network;
//! - `gmail_proxy`: `GoogleImageProxy` / `ggpht.com` in the agent;
//! - `yahoo_proxy`: `YahooMailProxy` in the agent;
//! - then the definitive signals below.
//!
//! Definitive signals, each enough on its own for any event kind:
//! - `security_scanner`: the agent names a mail-security product (Mimecast, Proofpoint,
//!   Barracuda, Cisco IronPort, Symantec, Trend Micro, Sophos, Bitdefender, Fortinet,
//!   Forcepoint, Avanan, BingPreview, Office link discovery);
//! - `headless_browser`: HeadlessChrome, PhantomJS, HTTP libraries and tools (curl, Wget,
//!   python-requests, Go-http-client, Java, okhttp, …), woothee crawlers, an empty or bare
//!   `Mozilla/5.0` agent;
//! - `head_request`: the request was a `HEAD`.
//!
//! Weak signals, for clicks only; **two** of them flag a click (as Mautic flags a hit when two
//! of its three checks fire), one alone does not, because each has a common human cause:
//! - scanner network: the request came from a hosting or Microsoft network (Defender Safe Links
//!   runs in Azure without a telling agent; but so do corporate proxies and VPNs);
//! - `too_fast_after_send`: sooner than [`MachineRules::too_fast_after_send_secs`] after the
//!   token was issued (a person waiting for a password reset can be quick);
//! - `burst_across_links`: at least [`MachineRules::burst_min_distinct_links`] distinct links
//!   within the [`ActivityTracker`]'s burst window (this click included, so the first clicks
//!   of a burst are not flagged by it);
//! - `no_prior_open`: no open at all was seen for the subscriber before the click. Any open
//!   counts, proxied ones included: Apple's proxy hides whether an Apple Mail user read the
//!   message, and such users on iCloud Private Relay click from hosting networks — counting only
//!   human opens would flag them all. Outlook blocks images by default, so this is weak too.
//!
//! The reason reported for two weak signals is `security_scanner` when one of them is the
//! network, else the first of `too_fast_after_send`, `burst_across_links`, `no_prior_open`;
//! [`Enrichment::weak_signals`] lists every weak signal that fired.
//!
//! # History
//!
//! The burst and open rules need per-subscriber history: [`ActivityTracker::observe`] each
//! event in order and pass the [`ClickContext`] it returns to [`Enricher::enrich`]. Without a
//! context, only the network and timing signals apply.

mod activity;
mod agent;
mod cache;
mod client;
mod enricher;
mod machine;
mod signatures;

pub use activity::{ActivityTracker, ClickContext, DEFAULT_BURST_WINDOW_SECS};
pub use agent::{DeviceCategory, UNKNOWN};
pub use client::EmailClient;
pub use enricher::{Enricher, Enrichment, DEFAULT_AGENT_CACHE};
pub use machine::{MachineReason, MachineRules, WeakSignals};
