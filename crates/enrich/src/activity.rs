//! Per-subscriber recent activity, for the click rules that need history.

use std::collections::HashMap;
use std::hash::{BuildHasher, DefaultHasher, Hash, Hasher};

use mailpulse_event::{Event, EventKind};

/// What the subscriber did before this event (within this campaign), as far as the tracker
/// remembers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClickContext {
    /// Seconds from the token being issued to the event (0 if the clocks disagree).
    pub secs_since_issue: u64,
    /// Seconds since this subscriber's previous click in this campaign, if remembered.
    pub secs_since_prev_click: Option<u64>,
    /// Distinct links clicked within the burst window, this event's included (0 for opens).
    pub distinct_links_recent: u32,
    /// An open judged human was seen before this event.
    pub human_open_seen: bool,
    /// Any open was seen before this event, proxied ones included. Apple's proxy fetches every
    /// message on delivery, so its users never show a human open even when they read.
    pub any_open_seen: bool,
}

/// Clicks remembered per subscriber: enough to see a burst, bounded whatever happens.
const REMEMBERED_CLICKS: usize = 8;

#[derive(Debug, Clone, Default)]
struct Activity {
    human_open_seen: bool,
    any_open_seen: bool,
    /// (link hash, event time in ms), oldest first.
    clicks: [(u64, u64); REMEMBERED_CLICKS],
    click_count: usize,
}

impl Activity {
    fn last_click_ms(&self) -> Option<u64> {
        self.click_count
            .checked_sub(1)
            .map(|last| self.clicks[last].1)
    }

    fn remember_click(&mut self, link: u64, at_ms: u64) {
        if self.click_count == REMEMBERED_CLICKS {
            self.clicks.rotate_left(1);
            self.click_count -= 1;
        }
        self.clicks[self.click_count] = (link, at_ms);
        self.click_count += 1;
    }

    /// Distinct links among the remembered clicks at or after `since_ms`.
    fn distinct_links_since(&self, since_ms: u64) -> u32 {
        let recent = &self.clicks[..self.click_count];
        let mut distinct = 0;
        for (index, &(link, at_ms)) in recent.iter().enumerate() {
            let seen_before = recent[..index]
                .iter()
                .any(|&(earlier, earlier_ms)| earlier == link && earlier_ms >= since_ms);
            if at_ms >= since_ms && !seen_before {
                distinct += 1;
            }
        }
        distinct
    }
}

/// Remembers, per (tenant, campaign, subscriber), whether an open was seen and the last few
/// clicks, for at most `max_subscribers` subscribers.
///
/// Memory is bounded by two generations: new and touched entries go to the young map; when it
/// holds half the cap the old generation is dropped and the young one becomes old. An entry
/// untouched for a whole generation is forgotten (roughly least-recently-used, in O(1)).
/// Subscribers are keyed by a 64-bit hash, so no id is copied.
///
/// Call [`observe`](Self::observe) for every event in event order (the aggregator does, per
/// partition; Kafka keys keep one subscriber's events on one partition).
#[derive(Debug)]
pub struct ActivityTracker {
    young: HashMap<u64, Activity, PassThrough>,
    old: HashMap<u64, Activity, PassThrough>,
    generation_size: usize,
    burst_window_ms: u64,
}

/// Default burst window: scanners open every link of a message within a second or two.
pub const DEFAULT_BURST_WINDOW_SECS: u64 = 5;

impl ActivityTracker {
    /// Tracks up to `max_subscribers` (at least 2) with the default burst window.
    pub fn new(max_subscribers: usize) -> ActivityTracker {
        Self::with_burst_window(max_subscribers, DEFAULT_BURST_WINDOW_SECS)
    }

    pub fn with_burst_window(max_subscribers: usize, burst_window_secs: u64) -> ActivityTracker {
        let generation_size = (max_subscribers / 2).max(1);
        ActivityTracker {
            young: HashMap::with_capacity_and_hasher(generation_size, PassThrough),
            old: HashMap::with_hasher(PassThrough),
            generation_size,
            burst_window_ms: burst_window_secs.saturating_mul(1000),
        }
    }

    /// Subscribers currently remembered.
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records `event` and returns the context it happened in. `is_human_open` is the
    /// enrichment verdict for an open (ignored for other kinds).
    pub fn observe(&mut self, event: &Event, is_human_open: bool) -> ClickContext {
        let key = subscriber_key(event);
        let secs_since_issue = (event.ts_ms / 1000).saturating_sub(event.issued_at);
        let burst_start_ms = event.ts_ms.saturating_sub(self.burst_window_ms);
        let activity = self.entry(key);
        let mut context = ClickContext {
            secs_since_issue,
            secs_since_prev_click: activity
                .last_click_ms()
                .map(|last| event.ts_ms.saturating_sub(last) / 1000),
            distinct_links_recent: 0,
            human_open_seen: activity.human_open_seen,
            any_open_seen: activity.any_open_seen,
        };
        match event.kind {
            EventKind::Open => {
                activity.any_open_seen = true;
                activity.human_open_seen |= is_human_open;
            }
            EventKind::Click => {
                let link = hash_one(|hasher| event.link.hash(hasher));
                activity.remember_click(link, event.ts_ms);
                context.distinct_links_recent = activity.distinct_links_since(burst_start_ms);
            }
            EventKind::Unsubscribe => {}
        }
        context
    }

    fn entry(&mut self, key: u64) -> &mut Activity {
        if !self.young.contains_key(&key) {
            if self.young.len() >= self.generation_size {
                self.old = std::mem::replace(
                    &mut self.young,
                    HashMap::with_capacity_and_hasher(self.generation_size, PassThrough),
                );
            }
            let promoted = self.old.remove(&key).unwrap_or_default();
            self.young.insert(key, promoted);
        }
        self.young.entry(key).or_default()
    }
}

fn subscriber_key(event: &Event) -> u64 {
    hash_one(|hasher| {
        event.tenant.hash(hasher);
        event.campaign.hash(hasher);
        event.subscriber.hash(hasher);
    })
}

/// SipHash with fixed keys: stable within the process, and ids are the sender's, not ours to
/// trust for distribution.
fn hash_one(feed: impl FnOnce(&mut DefaultHasher)) -> u64 {
    let mut hasher = DefaultHasher::new();
    feed(&mut hasher);
    hasher.finish()
}

/// The keys are already SipHash outputs; hashing them again would only cost time.
#[derive(Debug, Clone, Copy, Default)]
struct PassThrough;

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;

    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}
