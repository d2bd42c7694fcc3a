//! Enrichment in event order: opens are judged first and then remembered, clicks are judged in
//! the context of what the subscriber did before (see `mailpulse_enrich`).

use mailpulse_enrich::{ActivityTracker, Enricher, Enrichment};
use mailpulse_event::{Event, EventKind};

use crate::row::Enriched;

/// Subscribers whose recent activity is remembered for the click rules.
const TRACKED_SUBSCRIBERS: usize = 1 << 20;

#[derive(Debug)]
pub struct Enrichments {
    enricher: Enricher,
    activity: ActivityTracker,
}

impl Default for Enrichments {
    fn default() -> Self {
        Enrichments {
            enricher: Enricher::new(),
            activity: ActivityTracker::new(TRACKED_SUBSCRIBERS),
        }
    }
}

impl Enrichments {
    /// Enriches `event`, which must come after every earlier event of its subscriber.
    pub fn enrich(&mut self, event: &Event) -> Enriched {
        let enrichment = match event.kind {
            EventKind::Open => {
                let enrichment = self.enricher.enrich(event, None);
                self.activity.observe(event, !enrichment.is_machine());
                enrichment
            }
            EventKind::Click => {
                let context = self.activity.observe(event, false);
                self.enricher.enrich(event, Some(&context))
            }
            EventKind::Unsubscribe => self.enricher.enrich(event, None),
        };
        to_row_fields(&enrichment)
    }
}

fn to_row_fields(enrichment: &Enrichment<'_>) -> Enriched {
    Enriched {
        browser: enrichment.browser,
        os: enrichment.os,
        device: enrichment.device.as_str(),
        email_client: enrichment.email_client.as_str(),
        machine_reason: enrichment.machine.map(|reason| reason.as_str()),
    }
}
