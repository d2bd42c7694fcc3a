//! Which email client (or mail provider's proxy) sent a request.

use mailpulse_event::NetworkClass;

use crate::agent::AgentInfo;
use crate::signatures::{Mark, Marks};

/// The email client behind an open, or the browser behind a click.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailClient {
    AppleMailMacos,
    AppleMailIos,
    /// Apple Mail Privacy Protection: Apple fetches every image on delivery, whether or not the
    /// message is ever read.
    AppleMailPrivacyProxy,
    /// Gmail fetches images through its proxy when the message is opened.
    GmailImageProxy,
    YahooMailProxy,
    OutlookDesktop,
    OutlookWeb,
    OutlookMobile,
    Thunderbird,
    SamsungEmail,
    Spark,
    Superhuman,
    /// A web browser: webmail for an open, the browser a link opened in for a click.
    Webmail,
    Unknown,
}

impl EmailClient {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailClient::AppleMailMacos => "apple_mail_macos",
            EmailClient::AppleMailIos => "apple_mail_ios",
            EmailClient::AppleMailPrivacyProxy => "apple_mail_privacy_proxy",
            EmailClient::GmailImageProxy => "gmail_image_proxy",
            EmailClient::YahooMailProxy => "yahoo_mail_proxy",
            EmailClient::OutlookDesktop => "outlook_desktop",
            EmailClient::OutlookWeb => "outlook_web",
            EmailClient::OutlookMobile => "outlook_mobile",
            EmailClient::Thunderbird => "thunderbird",
            EmailClient::SamsungEmail => "samsung_email",
            EmailClient::Spark => "spark",
            EmailClient::Superhuman => "superhuman",
            EmailClient::Webmail => "webmail",
            EmailClient::Unknown => "unknown",
        }
    }
}

/// What the User-Agent alone says about the client; the network can still turn an Apple Mail
/// agent into Apple's proxy (see [`ClientByAgent::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientByAgent {
    Known(EmailClient),
    /// Apple Mail's WebKit agent without a browser token; from Apple's own network it is the
    /// Privacy Protection proxy presenting a generic Mac agent.
    AppleMail(EmailClient),
    /// Exactly `Mozilla/5.0`, as Apple's proxy sends.
    BareMozilla,
}

impl ClientByAgent {
    pub(crate) fn detect(ua: &str, marks: Marks, agent: &AgentInfo) -> ClientByAgent {
        use EmailClient::*;
        const BY_MARK: &[(Mark, EmailClient)] = &[
            (Mark::GmailProxy, GmailImageProxy),
            (Mark::YahooProxy, YahooMailProxy),
            (Mark::OutlookMobile, OutlookMobile),
            (Mark::OutlookWeb, OutlookWeb),
            (Mark::OutlookDesktop, OutlookDesktop),
            (Mark::Thunderbird, Thunderbird),
            (Mark::SamsungEmail, SamsungEmail),
            (Mark::Spark, Spark),
            (Mark::Superhuman, Superhuman),
        ];
        if let Some(&(_, client)) = BY_MARK.iter().find(|(mark, _)| marks.has(*mark)) {
            return ClientByAgent::Known(client);
        }
        let ua = ua.trim();
        if ua == "Mozilla/5.0" {
            return ClientByAgent::BareMozilla;
        }
        if let Some(apple) = apple_mail(ua) {
            return ClientByAgent::AppleMail(apple);
        }
        if is_browser(agent) {
            return ClientByAgent::Known(Webmail);
        }
        ClientByAgent::Known(Unknown)
    }

    pub(crate) fn resolve(self, network: NetworkClass) -> EmailClient {
        match self {
            ClientByAgent::Known(client) => client,
            ClientByAgent::BareMozilla => EmailClient::AppleMailPrivacyProxy,
            ClientByAgent::AppleMail(_) if network == NetworkClass::Apple => {
                EmailClient::AppleMailPrivacyProxy
            }
            ClientByAgent::AppleMail(client) => client,
        }
    }
}

/// Apple Mail loads images with WebKit's agent and no `Safari/` or `Version/` token (Safari and
/// in-app browsers add them): `Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)
/// AppleWebKit/605.1.15 (KHTML, like Gecko)`, or `(iPhone; CPU iPhone OS …) … Mobile/15E148`.
fn apple_mail(ua: &str) -> Option<EmailClient> {
    if !ua.contains("AppleWebKit/") || ua.contains("Safari/") || ua.contains("Version/") {
        return None;
    }
    if ua.contains("(Macintosh;") {
        Some(EmailClient::AppleMailMacos)
    } else if ua.contains("(iPhone;") || ua.contains("(iPad;") || ua.contains("(iPod") {
        Some(EmailClient::AppleMailIos)
    } else {
        None
    }
}

fn is_browser(agent: &AgentInfo) -> bool {
    use crate::agent::DeviceCategory::*;
    agent.browser != crate::agent::UNKNOWN
        && matches!(agent.device, Pc | Smartphone | Mobilephone | Appliance)
}
