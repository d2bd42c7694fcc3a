//! The dashboard's HTML: a shared layout, the login form, the campaign list and the campaign
//! page. Everything shown is rendered here, on the server, so the page is complete without
//! JavaScript; the script only switches between all and human counts and refreshes.

use std::fmt::Write;

use crate::dashboard::charts::{self, BarRow, Mode};
use crate::dashboard::format::{
    campaign_path, count, escape, or_unknown, query_value, rate, rate_attr,
};
use crate::stats::{BreakdownEntry, CampaignListEntry, CampaignSummary, LinkEntry, Series};

/// Seconds between automatic refreshes.
pub const REFRESH_SECONDS: u32 = 30;

/// The page frame. `tenant` is shown in the header when logged in.
fn layout(title: &str, tenant: Option<&str>, body: &str) -> String {
    let mut html = String::with_capacity(body.len() + 2048);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · mailpulse</title>\
         <link rel=\"stylesheet\" href=\"/assets/dashboard.css\">\
         <script src=\"/assets/dashboard.js\" defer></script></head><body>",
        escape(title)
    );
    html.push_str("<header class=\"topbar\"><a class=\"brand\" href=\"/\"><span class=\"logo\">◉</span> mailpulse</a>");
    if let Some(tenant) = tenant {
        let _ = write!(
            html,
            "<span class=\"tenant\">{}</span>\
             <div class=\"controls\">\
             <div class=\"toggle\" role=\"group\" aria-label=\"Count\">\
             <button type=\"button\" data-mode=\"all\" class=\"active\">All events</button>\
             <button type=\"button\" data-mode=\"human\">Human only</button></div>\
             <label class=\"refresh\"><input type=\"checkbox\" id=\"autorefresh\" checked> \
             Auto-refresh <span id=\"updated\" class=\"muted\"></span></label>\
             <form method=\"post\" action=\"/logout\"><button class=\"link\" type=\"submit\">Log out</button></form>\
             </div>",
            escape(tenant)
        );
    }
    let _ = write!(
        html,
        "</header><main id=\"content\" data-refresh=\"{REFRESH_SECONDS}\">{body}</main></body></html>"
    );
    html
}

/// The login form, with an error line after a failed attempt.
pub fn login(next: &str, error: Option<&str>) -> String {
    let mut body = String::from(
        "<section class=\"login card\"><h1>Sign in</h1>\
         <p class=\"muted\">Use your tenant's API key (from <code>mailpulse tenant create</code>). \
         It is kept in a cookie for this browser for 7 days.</p>",
    );
    if let Some(error) = error {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(error)
        );
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/login\">\
         <label for=\"key\">API key</label>\
         <input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <button type=\"submit\">Sign in</button></form></section>",
        escape(next)
    );
    layout("Sign in", None, &body)
}

/// A page saying what went wrong.
pub fn message(tenant: Option<&str>, title: &str, text: &str) -> String {
    let body = format!(
        "<section class=\"card notice\"><h1>{}</h1><p>{}</p><p><a href=\"/\">All campaigns</a></p></section>",
        escape(title),
        escape(text)
    );
    layout(title, tenant, &body)
}

fn dates(first: Option<&str>, last: Option<&str>) -> String {
    match (first, last) {
        (Some(first), Some(last)) if first == last => escape(first),
        (Some(first), Some(last)) => format!("{} – {}", escape(first), escape(last)),
        _ => "no events yet".to_string(),
    }
}

/// The tenant's campaigns.
pub fn campaign_list(tenant: &str, campaigns: &[CampaignListEntry]) -> String {
    let mut body = String::from("<div class=\"page-head\"><h1>Campaigns</h1></div>");
    if campaigns.is_empty() {
        body.push_str(
            "<section class=\"card notice\"><p>No campaigns yet. Statistics appear here as soon as \
             the first open or click of a tracked email arrives.</p></section>",
        );
        return layout("Campaigns", Some(tenant), &body);
    }
    body.push_str(
        "<section class=\"card table-card\"><table class=\"campaigns\"><thead><tr>\
         <th>Campaign</th><th>Active</th><th class=\"n\">Delivered</th><th class=\"n\">Opens</th>\
         <th class=\"n\">Clicks</th><th class=\"n\">Unsubscribes</th><th class=\"n\">Machine opens</th>\
         </tr></thead><tbody>",
    );
    for entry in campaigns {
        let key = format!("campaign:{}", entry.campaign);
        let machine_share = if entry.opens_total > 0 {
            Some(entry.opens_machine as f64 / entry.opens_total as f64)
        } else {
            None
        };
        let delivered = entry
            .delivered
            .map(count)
            .unwrap_or_else(|| "—".to_string());
        let _ = write!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td class=\"muted\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&campaign_path(&entry.campaign)),
            escape(&entry.campaign),
            dates(entry.first_day.as_deref(), entry.last_day.as_deref()),
            delivered,
            charts::number(&key, "opens", entry.opens_total, entry.opens_human),
            charts::number(&key, "clicks", entry.clicks_total, entry.clicks_human),
            charts::number(&key, "unsubscribes", entry.unsubscribes, entry.unsubscribes),
            rate(machine_share),
        );
    }
    body.push_str("</tbody></table></section>");
    layout("Campaigns", Some(tenant), &body)
}

/// Everything the campaign page shows.
pub struct CampaignPage<'a> {
    pub tenant: &'a str,
    pub summary: &'a CampaignSummary,
    pub series: &'a Series,
    pub links: &'a [LinkEntry],
    pub countries: &'a [BreakdownEntry],
    pub email_clients: &'a [BreakdownEntry],
    pub devices: &'a [BreakdownEntry],
    pub systems: &'a [BreakdownEntry],
}

/// Rows shown per breakdown card.
const TOP_ROWS: usize = 8;
/// Links shown.
const TOP_LINKS: usize = 10;

fn kpi(label: &str, value: &str, foot: &str, accent: &str) -> String {
    format!(
        "<div class=\"kpi card {accent}\"><div class=\"kpi-label\">{}</div>\
         <div class=\"kpi-value\">{value}</div><div class=\"kpi-foot\">{foot}</div></div>",
        escape(label)
    )
}

fn rate_value(metric: &str, all: Option<f64>, human: Option<f64>) -> String {
    format!(
        "<span class=\"rate\" data-key=\"summary\" data-metric=\"{metric}\" data-all=\"{}\" \
         data-human=\"{}\">{}</span>",
        rate_attr(all),
        rate_attr(human),
        rate(all)
    )
}

fn breakdown_rows(dimension: &str, entries: &[BreakdownEntry], clicks_too: bool) -> Vec<BarRow> {
    entries
        .iter()
        .take(TOP_ROWS)
        .map(|entry| BarRow {
            key: format!("{dimension}:{}", entry.value),
            label: or_unknown(&entry.value).to_string(),
            detail: None,
            all: entry.opens_total,
            human: entry.opens_human,
            metric: "opens",
            secondary: clicks_too.then_some(("clicks", entry.clicks_total, entry.clicks_human)),
        })
        .collect()
}

fn card(title: &str, subtitle: &str, inner: &str) -> String {
    format!(
        "<section class=\"card\"><div class=\"card-head\"><h2>{}</h2><span class=\"muted\">{}</span></div>{inner}</section>",
        escape(title),
        escape(subtitle)
    )
}

/// One campaign: headline numbers, activity chart, links, geography and clients.
pub fn campaign(page: &CampaignPage<'_>) -> String {
    let s = page.summary;
    let n = |metric: &str, all: u64, human: u64| charts::number("summary", metric, all, human);
    let mut body = String::with_capacity(32 * 1024);
    let delivered = match s.delivered {
        Some(d) => format!(
            "<span class=\"num\" data-key=\"summary\" data-metric=\"delivered\" data-all=\"{d}\" data-human=\"{d}\">{}</span> delivered",
            count(d)
        ),
        None => "deliveries not reported".to_string(),
    };
    let _ = write!(
        body,
        "<nav class=\"crumbs\"><a href=\"/\">Campaigns</a> / <span>{name}</span></nav>\
         <div class=\"page-head\"><h1>{name}</h1><p class=\"muted\">{} · {delivered}</p></div>",
        dates(s.first_day.as_deref(), s.last_day.as_deref()),
        name = escape(&s.campaign),
    );

    body.push_str("<section class=\"kpis\">");
    body.push_str(&kpi(
        "Opens",
        &n("opens_total", s.opens_total, s.opens_human),
        &format!(
            "{} unique · {} machine",
            n("opens_unique", s.opens_unique, s.opens_unique_human),
            n("opens_machine", s.opens_machine, 0)
        ),
        "accent-opens",
    ));
    body.push_str(&kpi(
        "Clicks",
        &n("clicks_total", s.clicks_total, s.clicks_human),
        &format!(
            "{} unique · {} machine",
            n("clicks_unique", s.clicks_unique, s.clicks_unique_human),
            n("clicks_machine", s.clicks_machine, 0)
        ),
        "accent-clicks",
    ));
    body.push_str(&kpi(
        "Unsubscribes",
        &n("unsubscribes", s.unsubscribes, s.unsubscribes),
        "from tracked links",
        "accent-unsubs",
    ));
    body.push_str(&kpi(
        "Open rate",
        &rate_value("open_rate", s.open_rate, s.open_rate_human),
        "unique openers / delivered",
        "accent-rate",
    ));
    body.push_str(&kpi(
        "Click-through rate",
        &rate_value(
            "click_through_rate",
            s.click_through_rate,
            s.click_through_rate_human,
        ),
        "unique clickers / delivered",
        "accent-rate",
    ));
    body.push_str(&kpi(
        "Click-to-open rate",
        &rate_value(
            "click_to_open_rate",
            s.click_to_open_rate,
            s.click_to_open_rate_human,
        ),
        "unique clickers / unique openers",
        "accent-rate",
    ));
    body.push_str("</section>");

    // Activity chart with its interval switch.
    let path = escape(&campaign_path(&s.campaign));
    let interval = page.series.interval;
    let switch = |value: &str, label: &str| {
        format!(
            "<a class=\"{}\" href=\"{path}?interval={}\">{label}</a>",
            if interval == value { "active" } else { "" },
            query_value(value)
        )
    };
    let _ = write!(
        body,
        "<section class=\"card\"><div class=\"card-head\"><h2>Activity</h2>\
         <div class=\"legend\"><span class=\"key opens\"></span>Opens <span class=\"key clicks\"></span>Clicks</div>\
         <div class=\"seg\">{}{}</div></div>{}{}</section>",
        switch("hour", "Hourly"),
        switch("day", "Daily"),
        charts::activity(&page.series.points, Mode::All),
        charts::activity(&page.series.points, Mode::Human),
    );

    let link_rows: Vec<BarRow> = page
        .links
        .iter()
        .take(TOP_LINKS)
        .map(|link| BarRow {
            key: format!("link:{}", link.link),
            label: link.link.clone(),
            detail: Some(link.url.clone()),
            all: link.clicks_total,
            human: link.clicks_human,
            metric: "clicks",
            secondary: None,
        })
        .collect();
    let _ = write!(
        body,
        "<div class=\"grid-2\">{}{}</div>",
        card(
            "Top links",
            &format!("{} links", page.links.len()),
            &charts::bar_list(&link_rows, "No clicks yet"),
        ),
        card(
            "Geography",
            "opens · clicks by country",
            &charts::bar_list(
                &breakdown_rows("country", page.countries, true),
                "No located events yet"
            ),
        ),
    );
    let _ = write!(
        body,
        "<div class=\"grid-3\">{}{}{}</div>",
        card(
            "Email clients",
            "opens",
            &charts::bar_list(
                &breakdown_rows("email_client", page.email_clients, false),
                "No opens yet"
            ),
        ),
        card(
            "Devices",
            "opens",
            &charts::bar_list(
                &breakdown_rows("device", page.devices, false),
                "No opens yet"
            ),
        ),
        card(
            "Operating systems",
            "opens",
            &charts::bar_list(&breakdown_rows("os", page.systems, false), "No opens yet"),
        ),
    );
    layout(&s.campaign, Some(page.tenant), &body)
}
