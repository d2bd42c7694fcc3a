//! What the tracker remembers per subscriber, and that it stays bounded.

#[allow(dead_code)]
mod common;

use common::{click_at, event};
use mailpulse_enrich::ActivityTracker;
use mailpulse_event::EventKind::Open;
use mailpulse_event::NetworkClass::Other;

const UA: &str = "Mozilla/5.0";

#[test]
fn context_reports_time_since_issue_and_previous_click() {
    let mut tracker = ActivityTracker::new(100);
    let first = tracker.observe(&click_at("a", UA, Other, 60_000), false);
    assert_eq!(first.secs_since_issue, 60);
    assert_eq!(first.secs_since_prev_click, None);
    assert_eq!(first.distinct_links_recent, 1);

    let second = tracker.observe(&click_at("b", UA, Other, 90_500), false);
    assert_eq!(second.secs_since_issue, 90);
    assert_eq!(second.secs_since_prev_click, Some(30));
}

#[test]
fn distinct_links_count_only_within_the_burst_window() {
    let mut tracker = ActivityTracker::with_burst_window(100, 5);
    tracker.observe(&click_at("a", UA, Other, 0), false);
    tracker.observe(&click_at("a", UA, Other, 1_000), false);
    let third = tracker.observe(&click_at("b", UA, Other, 2_000), false);
    assert_eq!(
        third.distinct_links_recent, 2,
        "a twice and b are two links"
    );
    let later = tracker.observe(&click_at("c", UA, Other, 6_500), false);
    assert_eq!(
        later.distinct_links_recent, 2,
        "a fell out of the window; b and c remain"
    );
}

#[test]
fn opens_are_remembered_and_human_ones_told_apart() {
    let mut tracker = ActivityTracker::new(100);
    let before = tracker.observe(&click_at("a", UA, Other, 1_000), false);
    assert!(!before.any_open_seen);

    tracker.observe(&event(Open, UA, Other, 5), false);
    let after_proxy = tracker.observe(&click_at("a", UA, Other, 10_000), false);
    assert!(after_proxy.any_open_seen);
    assert!(!after_proxy.human_open_seen);

    tracker.observe(&event(Open, UA, Other, 20), true);
    let after_human = tracker.observe(&click_at("a", UA, Other, 30_000), false);
    assert!(after_human.human_open_seen);
}

#[test]
fn subscribers_and_campaigns_are_tracked_apart() {
    let mut tracker = ActivityTracker::new(100);
    tracker.observe(&event(Open, UA, Other, 5), true);
    let mut other_subscriber = click_at("a", UA, Other, 10_000);
    other_subscriber.subscriber = "sub-2".into();
    assert!(!tracker.observe(&other_subscriber, false).any_open_seen);
    let mut other_campaign = click_at("a", UA, Other, 10_000);
    other_campaign.campaign = "autumn".into();
    assert!(!tracker.observe(&other_campaign, false).any_open_seen);
}

#[test]
fn memory_stays_within_the_cap_and_recent_subscribers_survive() {
    let mut tracker = ActivityTracker::new(100);
    tracker.observe(&event(Open, UA, Other, 5), true);
    for n in 0..1_000 {
        let mut click = click_at("a", UA, Other, 10_000);
        click.subscriber = format!("other-{n}");
        tracker.observe(&click, false);
        // The busy subscriber keeps being seen, so it is never the one forgotten.
        let busy = tracker.observe(&click_at("a", UA, Other, 10_000), false);
        assert!(busy.human_open_seen, "forgotten after {n} others");
        assert!(tracker.len() <= 100, "tracker holds {}", tracker.len());
    }
}

#[test]
fn idle_subscribers_are_eventually_forgotten() {
    let mut tracker = ActivityTracker::new(10);
    tracker.observe(&event(Open, UA, Other, 5), true);
    for n in 0..20 {
        let mut click = click_at("a", UA, Other, 10_000);
        click.subscriber = format!("other-{n}");
        tracker.observe(&click, false);
    }
    assert!(
        !tracker
            .observe(&click_at("a", UA, Other, 20_000), false)
            .human_open_seen
    );
}
