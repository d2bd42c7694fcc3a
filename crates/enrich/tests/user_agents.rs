//! Real-world User-Agents → email client and machine verdict.

#[allow(dead_code)]
mod common;

use common::event;
use mailpulse_enrich::{DeviceCategory, EmailClient, Enricher, MachineReason};
use mailpulse_event::EventKind::{self, Click, Open};
use mailpulse_event::NetworkClass::{self, Apple, Google, Hosting, Microsoft, Other, Yahoo};

const APPLE_MAIL_MACOS: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)";
const APPLE_MAIL_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
const GMAIL_PROXY: &str =
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
const YAHOO_PROXY: &str =
    "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html";
const OUTLOOK_2016: &str =
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.4266; Pro)";
const OUTLOOK_365: &str = "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; .NET4.0E; \
     .NET CLR 2.0.50727; Microsoft Outlook 16.0.5197; ms-office; MSOffice 16)";
const OUTLOOK_IOS: &str = "Outlook-iOS/709.2189947.prod.iphone (3.24.1)";
const OUTLOOK_ANDROID: &str = "Outlook-Android/2.0";
const THUNDERBIRD: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 \
     Thunderbird/115.10.1";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
     Gecko) Chrome/124.0.0.0 Safari/537.36";
const FIREFOX: &str =
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";
const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
     (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15";
const HEADLESS_CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like \
     Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36";

/// (agent, kind, network, expected client, expected machine reason)
type Case = (
    &'static str,
    EventKind,
    NetworkClass,
    EmailClient,
    Option<MachineReason>,
);

const CASES: &[Case] = &[
    // Opens by mail clients, from residential networks: human.
    (
        APPLE_MAIL_MACOS,
        Open,
        Other,
        EmailClient::AppleMailMacos,
        None,
    ),
    (APPLE_MAIL_IOS, Open, Other, EmailClient::AppleMailIos, None),
    (OUTLOOK_2016, Open, Other, EmailClient::OutlookDesktop, None),
    (OUTLOOK_365, Open, Other, EmailClient::OutlookDesktop, None),
    (OUTLOOK_IOS, Open, Other, EmailClient::OutlookMobile, None),
    (
        OUTLOOK_ANDROID,
        Open,
        Other,
        EmailClient::OutlookMobile,
        None,
    ),
    (THUNDERBIRD, Open, Other, EmailClient::Thunderbird, None),
    (CHROME, Open, Other, EmailClient::Webmail, None),
    (FIREFOX, Open, Other, EmailClient::Webmail, None),
    (SAFARI, Open, Other, EmailClient::Webmail, None),
    // Proxies and Apple Mail Privacy Protection.
    (
        "Mozilla/5.0",
        Open,
        Apple,
        EmailClient::AppleMailPrivacyProxy,
        Some(MachineReason::AppleMpp),
    ),
    (
        APPLE_MAIL_MACOS,
        Open,
        Apple,
        EmailClient::AppleMailPrivacyProxy,
        Some(MachineReason::AppleMpp),
    ),
    (
        GMAIL_PROXY,
        Open,
        Google,
        EmailClient::GmailImageProxy,
        Some(MachineReason::GmailProxy),
    ),
    (
        YAHOO_PROXY,
        Open,
        Yahoo,
        EmailClient::YahooMailProxy,
        Some(MachineReason::YahooProxy),
    ),
    // Clicks by people, long after the send.
    (CHROME, Click, Other, EmailClient::Webmail, None),
    (SAFARI, Click, Other, EmailClient::Webmail, None),
    // Scanners and automation, by agent alone (any network, any time).
    (
        "Barracuda Sentinel (EE)",
        Click,
        Other,
        EmailClient::Unknown,
        Some(MachineReason::SecurityScanner),
    ),
    (
        "Mozilla/5.0 (compatible; Mimecast URL Protect)",
        Click,
        Other,
        EmailClient::Unknown,
        Some(MachineReason::SecurityScanner),
    ),
    (
        "Mozilla/5.0 (compatible; ProofpointURLDefense/1.0)",
        Click,
        Other,
        EmailClient::Unknown,
        Some(MachineReason::SecurityScanner),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
         BingPreview/1.0b",
        Click,
        Microsoft,
        EmailClient::Unknown,
        Some(MachineReason::SecurityScanner),
    ),
    (
        HEADLESS_CHROME,
        Click,
        Hosting,
        EmailClient::Webmail,
        Some(MachineReason::HeadlessBrowser),
    ),
    (
        "curl/8.5.0",
        Click,
        Other,
        EmailClient::Unknown,
        Some(MachineReason::HeadlessBrowser),
    ),
    (
        "python-requests/2.31.0",
        Click,
        Hosting,
        EmailClient::Unknown,
        Some(MachineReason::HeadlessBrowser),
    ),
    (
        "Go-http-client/1.1",
        Open,
        Hosting,
        EmailClient::Unknown,
        Some(MachineReason::HeadlessBrowser),
    ),
    (
        "",
        Click,
        Other,
        EmailClient::Unknown,
        Some(MachineReason::HeadlessBrowser),
    ),
    (
        "Mozilla/5.0",
        Click,
        Hosting,
        EmailClient::AppleMailPrivacyProxy,
        Some(MachineReason::HeadlessBrowser),
    ),
];

#[test]
fn real_world_agents_get_the_expected_client_and_verdict() {
    let enricher = Enricher::new();
    // Long after the send, so the timing rule stays out of it.
    const AN_HOUR: u64 = 3600;
    for &(ua, kind, network, client, machine) in CASES {
        let event = event(kind, ua, network, AN_HOUR);
        let enrichment = enricher.enrich(&event, None);
        assert_eq!(
            enrichment.email_client, client,
            "client of {kind:?} by {ua:?}"
        );
        assert_eq!(
            enrichment.machine, machine,
            "verdict on {kind:?} by {ua:?} from {network:?}"
        );
        assert_eq!(enrichment.is_machine(), machine.is_some());
    }
}

#[test]
fn cached_and_uncached_enrichers_agree() {
    let cached = Enricher::new();
    let uncached = Enricher::with_rules(Default::default(), 0);
    for _ in 0..2 {
        for &(ua, kind, network, _, _) in CASES {
            let event = event(kind, ua, network, 3600);
            assert_eq!(
                cached.enrich(&event, None),
                uncached.enrich(&event, None),
                "{ua:?}"
            );
        }
    }
}

#[test]
fn human_gmail_user_in_a_browser_is_not_flagged() {
    let enricher = Enricher::new();
    let open = event(Open, CHROME, Other, 3600);
    let enrichment = enricher.enrich(&open, None);
    assert_eq!(enrichment.email_client, EmailClient::Webmail);
    assert_eq!(enrichment.machine, None);
    assert_eq!(enrichment.browser, "Chrome");
    assert_eq!(enrichment.browser_version, Some("124.0.0.0"));
    assert_eq!(enrichment.os, "Windows 10");
    assert_eq!(enrichment.device, DeviceCategory::Pc);
}

#[test]
fn apple_mail_on_iphone_is_a_smartphone() {
    let open = event(Open, APPLE_MAIL_IOS, Other, 3600);
    let enrichment = Enricher::new().enrich(&open, None);
    assert_eq!(enrichment.device, DeviceCategory::Smartphone);
    assert_eq!(enrichment.os, "iPhone");
}

#[test]
fn head_request_is_a_machine_whatever_the_agent() {
    let mut click = event(Click, CHROME, Other, 3600);
    click.head = true;
    let enrichment = Enricher::new().enrich(&click, None);
    assert_eq!(enrichment.machine, Some(MachineReason::HeadRequest));
}

#[test]
fn reason_codes_are_the_documented_strings() {
    let codes = [
        (MachineReason::AppleMpp, "apple_mpp"),
        (MachineReason::GmailProxy, "gmail_proxy"),
        (MachineReason::YahooProxy, "yahoo_proxy"),
        (MachineReason::SecurityScanner, "security_scanner"),
        (MachineReason::HeadlessBrowser, "headless_browser"),
        (MachineReason::HeadRequest, "head_request"),
        (MachineReason::TooFastAfterSend, "too_fast_after_send"),
        (MachineReason::BurstAcrossLinks, "burst_across_links"),
        (MachineReason::NoPriorOpen, "no_prior_open"),
    ];
    for (reason, code) in codes {
        assert_eq!(reason.as_str(), code);
    }
}
