//! Machine-event rules: which opens and clicks were not a person, and why.

use std::fmt;

use mailpulse_event::{EventKind, NetworkClass};

use crate::activity::ClickContext;
use crate::client::EmailClient;

/// Why an event was judged automated. Events are flagged, never dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MachineReason {
    /// Apple Mail Privacy Protection fetched the pixel.
    AppleMpp,
    /// Gmail's image proxy fetched the pixel.
    GmailProxy,
    /// Yahoo's image proxy fetched the pixel.
    YahooProxy,
    /// A mail-security product checked the link: by its User-Agent, or by a hosting or Microsoft
    /// network together with another weak signal.
    SecurityScanner,
    /// A headless browser, HTTP library or tool (or no real agent at all).
    HeadlessBrowser,
    /// A `HEAD` request: browsers navigate with `GET`.
    HeadRequest,
    /// Clicked within seconds of the token being issued, with another weak signal.
    TooFastAfterSend,
    /// Several distinct links clicked within a few seconds, with another weak signal.
    BurstAcrossLinks,
    /// Clicked with no open seen first, with another weak signal.
    NoPriorOpen,
}

impl MachineReason {
    pub fn as_str(self) -> &'static str {
        match self {
            MachineReason::AppleMpp => "apple_mpp",
            MachineReason::GmailProxy => "gmail_proxy",
            MachineReason::YahooProxy => "yahoo_proxy",
            MachineReason::SecurityScanner => "security_scanner",
            MachineReason::HeadlessBrowser => "headless_browser",
            MachineReason::HeadRequest => "head_request",
            MachineReason::TooFastAfterSend => "too_fast_after_send",
            MachineReason::BurstAcrossLinks => "burst_across_links",
            MachineReason::NoPriorOpen => "no_prior_open",
        }
    }
}

impl fmt::Display for MachineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The weak click signals that fired, whether or not they added up to a verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct WeakSignals(u8);

impl WeakSignals {
    /// The request came from a hosting or Microsoft network.
    pub const SCANNER_NETWORK: WeakSignals = WeakSignals(1);
    pub const TOO_FAST_AFTER_SEND: WeakSignals = WeakSignals(1 << 1);
    pub const BURST_ACROSS_LINKS: WeakSignals = WeakSignals(1 << 2);
    pub const NO_PRIOR_OPEN: WeakSignals = WeakSignals(1 << 3);

    pub fn contains(self, other: WeakSignals) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn count(self) -> u32 {
        self.0.count_ones()
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn insert_if(&mut self, condition: bool, signal: WeakSignals) {
        if condition {
            self.0 |= signal.0;
        }
    }
}

/// Thresholds of the click rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineRules {
    /// A click sooner than this after the token was issued is "too fast". Default 10 s: scanners
    /// check links as the message is delivered; a person waiting for, say, a password reset can
    /// be nearly as quick, which is why this is only a weak signal.
    pub too_fast_after_send_secs: u64,
    /// This many distinct links (counting the current one) within the
    /// [`ActivityTracker`](crate::ActivityTracker)'s burst window is a burst. Default 3.
    pub burst_min_distinct_links: u32,
    /// Weak signals needed to flag a click. Default 2.
    pub weak_signals_needed: u32,
}

impl Default for MachineRules {
    fn default() -> Self {
        MachineRules {
            too_fast_after_send_secs: 10,
            burst_min_distinct_links: 3,
            weak_signals_needed: 2,
        }
    }
}

/// The facts about one event that the rules look at.
pub(crate) struct Evidence<'a> {
    pub(crate) kind: EventKind,
    pub(crate) head: bool,
    pub(crate) network: NetworkClass,
    pub(crate) client: EmailClient,
    /// Definitive verdict from the User-Agent alone (scanner or automation).
    pub(crate) agent_verdict: Option<MachineReason>,
    pub(crate) secs_since_issue: u64,
    pub(crate) context: Option<&'a ClickContext>,
}

impl MachineRules {
    pub(crate) fn judge(&self, evidence: &Evidence<'_>) -> (Option<MachineReason>, WeakSignals) {
        if evidence.kind == EventKind::Open {
            let proxy = match evidence.client {
                EmailClient::AppleMailPrivacyProxy => Some(MachineReason::AppleMpp),
                EmailClient::GmailImageProxy => Some(MachineReason::GmailProxy),
                EmailClient::YahooMailProxy => Some(MachineReason::YahooProxy),
                _ => None,
            };
            if proxy.is_some() {
                return (proxy, WeakSignals::default());
            }
        }
        let definitive = evidence
            .agent_verdict
            .or(evidence.head.then_some(MachineReason::HeadRequest));
        if definitive.is_some() || evidence.kind != EventKind::Click {
            return (definitive, WeakSignals::default());
        }
        let signals = self.weak_signals(evidence);
        if signals.count() < self.weak_signals_needed {
            return (None, signals);
        }
        let reason = [
            (WeakSignals::SCANNER_NETWORK, MachineReason::SecurityScanner),
            (
                WeakSignals::TOO_FAST_AFTER_SEND,
                MachineReason::TooFastAfterSend,
            ),
            (
                WeakSignals::BURST_ACROSS_LINKS,
                MachineReason::BurstAcrossLinks,
            ),
            (WeakSignals::NO_PRIOR_OPEN, MachineReason::NoPriorOpen),
        ]
        .into_iter()
        .find(|(signal, _)| signals.contains(*signal))
        .map(|(_, reason)| reason);
        (reason, signals)
    }

    fn weak_signals(&self, evidence: &Evidence<'_>) -> WeakSignals {
        let mut signals = WeakSignals::default();
        signals.insert_if(
            matches!(
                evidence.network,
                NetworkClass::Hosting | NetworkClass::Microsoft
            ),
            WeakSignals::SCANNER_NETWORK,
        );
        signals.insert_if(
            evidence.secs_since_issue < self.too_fast_after_send_secs,
            WeakSignals::TOO_FAST_AFTER_SEND,
        );
        if let Some(context) = evidence.context {
            signals.insert_if(
                context.distinct_links_recent >= self.burst_min_distinct_links,
                WeakSignals::BURST_ACROSS_LINKS,
            );
            signals.insert_if(!context.any_open_seen, WeakSignals::NO_PRIOR_OPEN);
        }
        signals
    }
}
