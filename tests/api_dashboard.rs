//! The dashboard in headless Chromium (Debian's `chromium`, installed by `scripts/chromium` if
//! missing): logged in through `/login?key=…`, the campaign page shows exactly the API's
//! numbers for a seeded campaign, and screenshots are kept in `target/artifacts/`.

mod api_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use api_common::*;
use hyper::Method;
use serde_json::Value;

const TENANT: &str = "acme";
const CAMPAIGN: &str = "spring-sale";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn artifacts() -> PathBuf {
    let dir = repo().join("target").join("artifacts");
    std::fs::create_dir_all(&dir).expect("target/artifacts is writable");
    dir
}

async fn chromium_path() -> String {
    let output = tokio::process::Command::new(repo().join("scripts/chromium"))
        .output()
        .await
        .expect("scripts/chromium runs");
    assert!(
        output.status.success(),
        "scripts/chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Runs headless Chromium on `url` with `extra` arguments; returns stdout.
async fn chromium(browser: &str, url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let profile_arg = format!("--user-data-dir={}", profile.path().display());
    let mut command = tokio::process::Command::new(browser);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
            profile_arg.as_str(),
        ])
        .args(extra)
        .arg(url)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .expect("chromium finished within 90 s")
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A number the page shows: its identity, raw values and visible text.
#[derive(Debug, Clone)]
struct Shown {
    all: String,
    human: String,
    text: String,
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(&tag[start..end])
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Every element with `data-key`/`data-metric`, keyed by (key, metric).
fn shown_numbers(dom: &str) -> BTreeMap<(String, String), Shown> {
    let mut found = BTreeMap::new();
    for piece in dom.split('<').skip(1) {
        let Some((tag, rest)) = piece.split_once('>') else {
            continue;
        };
        let (Some(key), Some(metric), Some(all), Some(human)) = (
            attribute(tag, "data-key"),
            attribute(tag, "data-metric"),
            attribute(tag, "data-all"),
            attribute(tag, "data-human"),
        ) else {
            continue;
        };
        found.insert(
            (unescape(key), metric.to_string()),
            Shown {
                all: all.to_string(),
                human: human.to_string(),
                text: unescape(rest),
            },
        );
    }
    found
}

fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate as the page prints it: one decimal, halves up.
fn percent(rate: f64) -> String {
    format!("{:.1}%", (rate * 1000.0).round() / 10.0)
}

fn assert_count(
    shown: &BTreeMap<(String, String), Shown>,
    key: &str,
    metric: &str,
    all: u64,
    human: u64,
) {
    let entry = shown
        .get(&(key.to_string(), metric.to_string()))
        .unwrap_or_else(|| panic!("the page shows no {key}/{metric}"));
    assert_eq!(entry.all, all.to_string(), "{key}/{metric} (all)");
    assert_eq!(entry.human, human.to_string(), "{key}/{metric} (human)");
    assert_eq!(entry.text, grouped(all), "{key}/{metric} as displayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_campaign_page_shows_the_apis_numbers_in_chromium() {
    let browser = chromium_path().await;
    let mut env = ApiEnv::start("api_dash").await;
    let mut events = generate(21, TENANT, CAMPAIGN, 2_500, 40);
    events.extend(generate(22, TENANT, "welcome-series", 700, 200));
    events.extend(generate(23, TENANT, "black-friday", 1_200, 20));
    insert(env.client(), &events).await;
    let key = env.key(TENANT).await;
    let auth = format!("Bearer {key}");
    let put = request(
        env.addr,
        Method::PUT,
        &format!("/v1/campaigns/{CAMPAIGN}/deliveries"),
        &[("authorization", &auth)],
        r#"{"delivered": 400}"#,
    )
    .await;
    assert_eq!(put.status, 200);

    let base = format!("http://{}", env.addr);
    let login = format!("{base}/login?key={key}&next=/campaigns/{CAMPAIGN}");
    let dom = chromium(&browser, &login, &["--dump-dom"]).await;
    assert!(dom.contains("Activity") && dom.contains(CAMPAIGN), "{dom}");
    let shown = shown_numbers(&dom);

    let summary = env
        .get(&format!("/v1/campaigns/{CAMPAIGN}"), &key)
        .await
        .json();
    for (metric, human) in [
        ("opens_total", "opens_human"),
        ("opens_unique", "opens_unique_human"),
        ("clicks_total", "clicks_human"),
        ("clicks_unique", "clicks_unique_human"),
        ("unsubscribes", "unsubscribes"),
        ("delivered", "delivered"),
    ] {
        assert_count(
            &shown,
            "summary",
            metric,
            n(&summary, metric),
            n(&summary, human),
        );
    }
    for metric in ["open_rate", "click_through_rate", "click_to_open_rate"] {
        let entry = &shown[&("summary".to_string(), metric.to_string())];
        let page: f64 = entry.all.parse().expect("rate on the page");
        let api = rate(&summary, metric).expect("rate in the API");
        assert!((page - api).abs() < 1e-12, "{metric}: {page} vs {api}");
        let human: f64 = entry.human.parse().expect("human rate");
        let api_human = rate(&summary, &format!("{metric}_human")).expect("human rate in the API");
        assert!((human - api_human).abs() < 1e-12, "{metric} human");
        assert_eq!(entry.text, percent(api), "{metric} as displayed");
    }

    let links = env
        .get(&format!("/v1/campaigns/{CAMPAIGN}/links"), &key)
        .await
        .json();
    let links = links["links"].as_array().expect("links");
    assert!(!links.is_empty());
    for link in links {
        let key = format!("link:{}", link["link"].as_str().expect("link id"));
        assert_count(
            &shown,
            &key,
            "clicks",
            n(link, "clicks_total"),
            n(link, "clicks_human"),
        );
    }
    for (dimension, with_clicks) in [
        ("country", true),
        ("email_client", false),
        ("device", false),
        ("os", false),
    ] {
        let answer = env
            .get(
                &format!("/v1/campaigns/{CAMPAIGN}/breakdown/{dimension}"),
                &key,
            )
            .await
            .json();
        let values: Vec<&Value> = answer["values"]
            .as_array()
            .expect("values")
            .iter()
            .collect();
        assert!(!values.is_empty());
        for value in values.iter().take(8) {
            let key = format!("{dimension}:{}", value["value"].as_str().expect("value"));
            assert_count(
                &shown,
                &key,
                "opens",
                n(value, "opens_total"),
                n(value, "opens_human"),
            );
            if with_clicks {
                assert_count(
                    &shown,
                    &key,
                    "clicks",
                    n(value, "clicks_total"),
                    n(value, "clicks_human"),
                );
            }
        }
    }
    // The activity chart has one hover band per hour of the series.
    let series = env
        .get(
            &format!("/v1/campaigns/{CAMPAIGN}/timeseries?interval=hour"),
            &key,
        )
        .await
        .json();
    let hours = series["points"].as_array().expect("points").len();
    assert_eq!(
        dom.matches("class=\"hover\"").count(),
        2 * hours,
        "all + human charts"
    );

    // The script's human-only mode: every number shows its human count, the body says so.
    let human_login =
        format!("{base}/login?key={key}&next=%2Fcampaigns%2F{CAMPAIGN}%3Fmode%3Dhuman");
    let human_dom = chromium(&browser, &human_login, &["--dump-dom"]).await;
    assert!(
        human_dom.contains("class=\"mode-human\""),
        "the toggle applied"
    );
    let human_shown = shown_numbers(&human_dom);
    let opens = &human_shown[&("summary".to_string(), "opens_total".to_string())];
    assert_eq!(opens.text, grouped(n(&summary, "opens_human")));
    let ctor = &human_shown[&("summary".to_string(), "click_to_open_rate".to_string())];
    let api_ctor = rate(&summary, "click_to_open_rate_human").expect("human CTOR");
    assert_eq!(ctor.text, percent(api_ctor));
    for ((key, metric), entry) in &human_shown {
        if !metric.ends_with("rate") {
            let human: u64 = entry.human.parse().expect("a count");
            assert_eq!(entry.text, grouped(human), "{key}/{metric} in human mode");
        }
    }

    let campaign_png = artifacts().join("dashboard_campaign.png");
    let _ = std::fs::remove_file(&campaign_png);
    let screenshot_arg = format!("--screenshot={}", campaign_png.display());
    chromium(
        &browser,
        &login,
        &[&screenshot_arg, "--window-size=1440,1800"],
    )
    .await;
    let png = std::fs::read(&campaign_png).expect("campaign screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a real screenshot"
    );

    // The campaign list, with every campaign's totals.
    let list_login = format!("{base}/login?key={key}&next=/");
    let list_dom = chromium(&browser, &list_login, &["--dump-dom"]).await;
    let shown = shown_numbers(&list_dom);
    let list = env.get("/v1/campaigns", &key).await.json();
    for campaign in list["campaigns"].as_array().expect("campaigns") {
        let key = format!("campaign:{}", campaign["campaign"].as_str().expect("name"));
        assert_count(
            &shown,
            &key,
            "opens",
            n(campaign, "opens_total"),
            n(campaign, "opens_human"),
        );
        assert_count(
            &shown,
            &key,
            "clicks",
            n(campaign, "clicks_total"),
            n(campaign, "clicks_human"),
        );
    }
    let list_png = artifacts().join("dashboard_campaigns.png");
    let screenshot_arg = format!("--screenshot={}", list_png.display());
    chromium(
        &browser,
        &list_login,
        &[&screenshot_arg, "--window-size=1440,700"],
    )
    .await;
    assert!(list_png.is_file(), "list screenshot written");

    let login_png = artifacts().join("dashboard_login.png");
    let screenshot_arg = format!("--screenshot={}", login_png.display());
    chromium(
        &browser,
        &format!("{base}/"),
        &[&screenshot_arg, "--window-size=1200,700"],
    )
    .await;
    assert!(login_png.is_file(), "login screenshot written");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_an_http_only_cookie_and_pages_need_it() {
    let mut env = ApiEnv::start("api_login").await;
    insert(env.client(), &generate(24, TENANT, CAMPAIGN, 100, 3)).await;
    let key = env.key(TENANT).await;

    let anonymous = request(env.addr, Method::GET, "/campaigns/spring-sale", &[], "").await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(
        anonymous.headers["location"],
        "/login?next=%2Fcampaigns%2Fspring-sale"
    );

    let form = [("content-type", "application/x-www-form-urlencoded")];
    let wrong = request(env.addr, Method::POST, "/login", &form, "key=nope&next=/").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("not valid"));
    assert!(!wrong.headers.contains_key("set-cookie"));

    let body = format!("key={key}&next=%2Fcampaigns%2Fspring-sale");
    let right = request(env.addr, Method::POST, "/login", &form, &body).await;
    assert_eq!(right.status, 303);
    assert_eq!(right.headers["location"], "/campaigns/spring-sale");
    let cookie = right.headers["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("name=value").to_string();

    let page = request(
        env.addr,
        Method::GET,
        "/campaigns/spring-sale",
        &[("cookie", &pair)],
        "",
    )
    .await;
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!page.text().contains("<script>"), "no inline script");

    // An off-site `next` is ignored.
    let body = format!("key={key}&next=https%3A%2F%2Fevil.example%2F");
    let answer = request(env.addr, Method::POST, "/login", &form, &body).await;
    assert_eq!(answer.headers["location"], "/");

    // Another tenant's campaign is "not found" on the dashboard as in the API.
    let other = env.key("globex").await;
    let page = request(
        env.addr,
        Method::GET,
        "/campaigns/spring-sale",
        &[("authorization", &format!("Bearer {other}"))],
        "",
    )
    .await;
    assert_eq!(page.status, 404);
    assert!(page.text().contains("Campaign not found"));

    let out = request(env.addr, Method::POST, "/logout", &[("cookie", &pair)], "").await;
    assert_eq!(out.status, 303);
    assert!(out.headers["set-cookie"]
        .to_str()
        .is_ok_and(|c| c.contains("Max-Age=0")));
    env.stop().await;
}
