//! User-Agent fragments that name an email client, a mail provider's proxy, a security scanner
//! or an automation tool. All matched case-insensitively in one pass.
//!
//! The table is data: add a fragment here and a case to `tests/user_agents.rs`.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

/// What a User-Agent fragment reveals. Several can match one User-Agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Mark {
    GmailProxy,
    YahooProxy,
    OutlookDesktop,
    OutlookMobile,
    OutlookWeb,
    Thunderbird,
    SamsungEmail,
    Spark,
    Superhuman,
    /// A mail-security product fetching links to check them.
    SecurityScanner,
    /// An HTTP library, command-line tool or headless browser.
    Automation,
}

/// The fragments, lower case.
const SIGNATURES: &[(&str, Mark)] = &[
    // Gmail fetches images through its proxy: "… (via ggpht.com GoogleImageProxy)".
    ("googleimageproxy", Mark::GmailProxy),
    ("ggpht.com", Mark::GmailProxy),
    ("yahoomailproxy", Mark::YahooProxy),
    // Outlook for Windows / Mac: "Microsoft Outlook 16.0…", "Microsoft Office/16.0 (…)",
    // "ms-office; MSOffice 16".
    ("microsoft outlook", Mark::OutlookDesktop),
    ("ms-office", Mark::OutlookDesktop),
    ("msoffice", Mark::OutlookDesktop),
    ("microsoft office/", Mark::OutlookDesktop),
    ("outlook-ios", Mark::OutlookMobile),
    ("outlook-android", Mark::OutlookMobile),
    // Outlook on the web and the new Outlook for Windows, which is Outlook on the web in a shell.
    ("owa/", Mark::OutlookWeb),
    ("oneoutlook/", Mark::OutlookWeb),
    ("thunderbird/", Mark::Thunderbird),
    ("samsungemail", Mark::SamsungEmail),
    ("com.samsung.android.email", Mark::SamsungEmail),
    ("spark/", Mark::Spark),
    ("superhuman", Mark::Superhuman),
    // Link scanners that say who they are (e.g. `Barracuda Sentinel (EE)`). Microsoft Defender Safe Links mostly does not: it is
    // caught by its network and timing (see the crate docs).
    ("bingpreview", Mark::SecurityScanner),
    (
        "microsoft office existence discovery",
        Mark::SecurityScanner,
    ),
    ("mimecast", Mark::SecurityScanner),
    ("proofpoint", Mark::SecurityScanner),
    ("barracuda", Mark::SecurityScanner),
    ("ironport", Mark::SecurityScanner),
    ("ciscosecureemail", Mark::SecurityScanner),
    ("symantec", Mark::SecurityScanner),
    ("messagelabs", Mark::SecurityScanner),
    ("trendmicro", Mark::SecurityScanner),
    ("trend micro", Mark::SecurityScanner),
    ("sophos", Mark::SecurityScanner),
    ("bitdefender", Mark::SecurityScanner),
    ("fortinet", Mark::SecurityScanner),
    ("fortiguard", Mark::SecurityScanner),
    ("forcepoint", Mark::SecurityScanner),
    ("avanan", Mark::SecurityScanner),
    // Headless browsers, HTTP libraries and tools.
    ("headlesschrome", Mark::Automation),
    ("phantomjs", Mark::Automation),
    ("python-requests", Mark::Automation),
    ("python-urllib", Mark::Automation),
    ("python-httpx", Mark::Automation),
    ("aiohttp", Mark::Automation),
    ("scrapy", Mark::Automation),
    ("curl/", Mark::Automation),
    ("wget/", Mark::Automation),
    ("go-http-client", Mark::Automation),
    ("java/", Mark::Automation),
    ("apache-httpclient", Mark::Automation),
    ("okhttp", Mark::Automation),
    ("libwww-perl", Mark::Automation),
    ("lua-resty-http", Mark::Automation),
    // Not "electron/": desktop mail apps (Superhuman, Mailspring) are Electron apps.
    ("node-fetch", Mark::Automation),
    ("axios/", Mark::Automation),
];

/// The set of marks found in one User-Agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Marks(u16);

impl Marks {
    pub(crate) fn has(self, mark: Mark) -> bool {
        self.0 & (1 << mark as u8) != 0
    }

    fn add(&mut self, mark: Mark) {
        self.0 |= 1 << mark as u8;
    }
}

static MATCHER: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(SIGNATURES.iter().map(|(fragment, _)| fragment))
        .ok()
});

/// Every mark whose fragment occurs in `ua`.
pub(crate) fn scan(ua: &str) -> Marks {
    let mut marks = Marks::default();
    // Building from this fixed table cannot fail (a test checks); were it to, nothing matches.
    if let Some(matcher) = MATCHER.as_ref() {
        for found in matcher.find_overlapping_iter(ua) {
            marks.add(SIGNATURES[found.pattern().as_usize()].1);
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_builds_from_the_table() {
        assert!(MATCHER.is_some());
    }

    #[test]
    fn fragments_are_lower_case_so_case_folding_is_symmetric() {
        for (fragment, _) in SIGNATURES {
            assert_eq!(*fragment, fragment.to_ascii_lowercase());
        }
    }

    #[test]
    fn overlapping_marks_are_all_found() {
        let marks = scan("Mozilla/5.0 (compatible; Mimecast) python-requests/2.31");
        assert!(marks.has(Mark::SecurityScanner));
        assert!(marks.has(Mark::Automation));
        assert!(!marks.has(Mark::GmailProxy));
    }

    #[test]
    fn matching_ignores_case() {
        assert!(scan("Mozilla/5.0 (via GGPHT.COM GoogleImageProxy)").has(Mark::GmailProxy));
    }
}
