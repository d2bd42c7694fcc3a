//! The weak-signal rule for clicks: one weak signal is a person, two are a machine.

#[allow(dead_code)]
mod common;

use common::{click_at, event};
use mailpulse_enrich::{ActivityTracker, ClickContext, Enricher, MachineReason, WeakSignals};
use mailpulse_event::EventKind::{Click, Open};
use mailpulse_event::NetworkClass::{Apple, Hosting, Microsoft, Other};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
     Gecko) Chrome/124.0.0.0 Safari/537.36";
const APPLE_MAIL_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";

/// A context in which the subscriber opened earlier and clicked nothing else recently.
fn opened_before(secs_since_issue: u64) -> ClickContext {
    ClickContext {
        secs_since_issue,
        secs_since_prev_click: None,
        distinct_links_recent: 1,
        human_open_seen: true,
        any_open_seen: true,
    }
}

#[test]
fn no_weak_signal_is_a_person() {
    let click = event(Click, CHROME, Other, 3600);
    let enrichment = Enricher::new().enrich(&click, Some(&opened_before(3600)));
    assert_eq!(enrichment.machine, None);
    assert!(enrichment.weak_signals.is_empty());
}

#[test]
fn each_weak_signal_alone_is_a_person() {
    let enricher = Enricher::new();

    let from_cloud = event(Click, CHROME, Hosting, 3600);
    let alone = enricher.enrich(&from_cloud, Some(&opened_before(3600)));
    assert_eq!(alone.machine, None);
    assert_eq!(alone.weak_signals, WeakSignals::SCANNER_NETWORK);

    let fast = event(Click, CHROME, Other, 2);
    let alone = enricher.enrich(&fast, Some(&opened_before(2)));
    assert_eq!(alone.machine, None);
    assert_eq!(alone.weak_signals, WeakSignals::TOO_FAST_AFTER_SEND);

    let burst = ClickContext {
        distinct_links_recent: 4,
        ..opened_before(3600)
    };
    let late_click = event(Click, CHROME, Other, 3600);
    let alone = enricher.enrich(&late_click, Some(&burst));
    assert_eq!(alone.machine, None);
    assert_eq!(alone.weak_signals, WeakSignals::BURST_ACROSS_LINKS);

    let unopened = ClickContext {
        human_open_seen: false,
        any_open_seen: false,
        ..opened_before(3600)
    };
    let alone = enricher.enrich(&late_click, Some(&unopened));
    assert_eq!(alone.machine, None);
    assert_eq!(alone.weak_signals, WeakSignals::NO_PRIOR_OPEN);
}

#[test]
fn microsoft_network_and_fast_click_is_a_scanner() {
    // Defender Safe Links: an ordinary browser agent, from Azure, seconds after delivery.
    let click = event(Click, CHROME, Microsoft, 3);
    let enrichment = Enricher::new().enrich(&click, Some(&opened_before(3)));
    assert_eq!(enrichment.machine, Some(MachineReason::SecurityScanner));
    assert!(enrichment
        .weak_signals
        .contains(WeakSignals::SCANNER_NETWORK));
    assert!(enrichment
        .weak_signals
        .contains(WeakSignals::TOO_FAST_AFTER_SEND));
}

#[test]
fn two_behavioural_signals_name_the_first_of_them() {
    let burst_unopened = ClickContext {
        distinct_links_recent: 3,
        human_open_seen: false,
        any_open_seen: false,
        ..opened_before(3600)
    };
    let late_click = event(Click, CHROME, Other, 3600);
    let enrichment = Enricher::new().enrich(&late_click, Some(&burst_unopened));
    assert_eq!(enrichment.machine, Some(MachineReason::BurstAcrossLinks));
    assert_eq!(enrichment.weak_signals.count(), 2);
}

#[test]
fn weak_signals_do_not_flag_opens() {
    let open = event(Open, CHROME, Hosting, 1);
    let enrichment = Enricher::new().enrich(&open, None);
    assert_eq!(enrichment.machine, None);
}

#[test]
fn tracked_scanner_burst_is_flagged_from_the_third_link() {
    // A scanner on a residential-looking network clicks every link within a second, an hour
    // after the send, with no open: burst + no prior open.
    let enricher = Enricher::new();
    let mut tracker = ActivityTracker::new(1000);
    let verdicts: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .enumerate()
        .map(|(n, link)| {
            let click = click_at(link, CHROME, Other, 3_600_000 + n as u64 * 200);
            let context = tracker.observe(&click, false);
            enricher.enrich(&click, Some(&context)).machine
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            None,
            None,
            Some(MachineReason::BurstAcrossLinks),
            Some(MachineReason::BurstAcrossLinks)
        ]
    );
}

#[test]
fn apple_mail_user_on_private_relay_is_not_flagged() {
    // Apple's proxy fetched the pixel on delivery; the person clicks later, and iCloud Private
    // Relay makes the click come from a hosting network. One weak signal only.
    let enricher = Enricher::new();
    let mut tracker = ActivityTracker::new(1000);
    let proxy_open = event(Open, "Mozilla/5.0", Apple, 30);
    let open_verdict = enricher.enrich(&proxy_open, None);
    assert_eq!(open_verdict.machine, Some(MachineReason::AppleMpp));
    tracker.observe(&proxy_open, !open_verdict.is_machine());

    let click = event(Click, APPLE_MAIL_IOS, Hosting, 3600);
    let context = tracker.observe(&click, false);
    assert!(!context.human_open_seen);
    assert!(context.any_open_seen);
    let enrichment = enricher.enrich(&click, Some(&context));
    assert_eq!(enrichment.machine, None);
    assert_eq!(enrichment.weak_signals, WeakSignals::SCANNER_NETWORK);
}

#[test]
fn without_history_timing_and_network_still_apply() {
    let click = event(Click, CHROME, Hosting, 1);
    let enrichment = Enricher::new().enrich(&click, None);
    assert_eq!(enrichment.machine, Some(MachineReason::SecurityScanner));
}
