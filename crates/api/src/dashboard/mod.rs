//! The built-in dashboard: `/` (campaigns), `/campaigns/{campaign}` (one campaign with
//! charts), `/login` and `/logout`, and two assets built into the binary.
//!
//! Login stores the API key in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` when the request
//! came through HTTPS, as `X-Forwarded-Proto` says). The cookie authenticates GET and HEAD
//! only (see [`crate::auth`]), which is all the dashboard needs. `GET /login?key=…` logs in
//! without the form, for kiosks and scripted screenshots.

mod charts;
mod format;
mod pages;

use hyper::header::{HeaderValue, SET_COOKIE};
use hyper::{Method, Response, StatusCode};

use crate::audit::{AuditEntry, Outcome};
use crate::auth::{Caller, KEY_COOKIE};
use crate::response::{self, Body};
use crate::router::{Access, HandlerResult, Request, Router};
use crate::stats::{self, Interval};
use crate::stats_routes::campaign_param;
use crate::time::{parse_timestamp, DAY};
use crate::ApiError;

const CSS: &str = include_str!("assets/dashboard.css");
const JS: &str = include_str!("assets/dashboard.js");
/// How long the login cookie lasts.
const COOKIE_MAX_AGE_SECS: u32 = 7 * 86_400;
/// Campaigns spanning at most this many days get an hourly chart by default.
const HOURLY_UP_TO_DAYS: u32 = 3;

pub fn register(router: &mut Router) {
    router
        .add(Method::GET, "/", "dashboard.home", Access::Public, home)
        .add(
            Method::GET,
            "/campaigns/{campaign}",
            "dashboard.campaign",
            Access::Public,
            campaign,
        )
        .add(
            Method::GET,
            "/login",
            "dashboard.login_form",
            Access::Public,
            login_form,
        )
        .add(
            Method::POST,
            "/login",
            "dashboard.login",
            Access::Public,
            login,
        )
        .add(
            Method::POST,
            "/logout",
            "dashboard.logout",
            Access::Public,
            logout,
        )
        .add(
            Method::GET,
            "/assets/dashboard.css",
            "dashboard.css",
            Access::Public,
            |_: Request| async { Ok(response::asset(CSS, "text/css; charset=utf-8")) },
        )
        .add(
            Method::GET,
            "/assets/dashboard.js",
            "dashboard.js",
            Access::Public,
            |_: Request| async { Ok(response::asset(JS, "text/javascript; charset=utf-8")) },
        );
}

/// The caller, or the answer to give instead: the login page for a missing or bad key.
async fn page_caller(request: &Request) -> Result<Caller, Response<Body>> {
    match request.authenticate().await {
        Ok(caller) => Ok(caller),
        Err(ApiError::InvalidApiKey) => {
            request.state().metrics.auth_failures.inc();
            Err(response::see_other(&format!(
                "/login?next={}",
                format::query_value(request.path())
            )))
        }
        Err(error) => Err(error_page(None, &error)),
    }
}

fn error_page(tenant: Option<&str>, error: &ApiError) -> Response<Body> {
    let (title, text) = match error {
        ApiError::CampaignNotFound(_) => (
            "Campaign not found",
            "This tenant has no campaign with that id.".to_string(),
        ),
        ApiError::Unavailable(_) => (
            "Statistics unavailable",
            "The statistics store does not answer right now; this page will work again shortly."
                .to_string(),
        ),
        ApiError::InvalidParameter(message) => ("Invalid request", message.clone()),
        _ => ("Something went wrong", "The error was logged.".to_string()),
    };
    if let ApiError::Internal(detail) = error {
        tracing::error!(%detail, "dashboard page failed");
    }
    response::html(error.status(), pages::message(tenant, title, &text))
}

fn audit(request: &Request, caller: &Caller, action: &str, status: StatusCode) {
    request.state().audit.record(AuditEntry::now(
        caller.tenant.as_str(),
        caller.key_id.as_str(),
        action,
        Outcome::of_status(status.as_u16()),
    ));
}

async fn home(request: Request) -> HandlerResult {
    let caller = match page_caller(&request).await {
        Ok(caller) => caller,
        Err(answer) => return Ok(answer),
    };
    let tenant = caller.tenant.as_str();
    let answer = match stats::campaigns(&request.state().client, &caller.tenant).await {
        Ok(list) => response::html(StatusCode::OK, pages::campaign_list(tenant, &list)),
        Err(error) => error_page(Some(tenant), &error),
    };
    audit(&request, &caller, "dashboard.home", answer.status());
    Ok(answer)
}

async fn campaign(request: Request) -> HandlerResult {
    let caller = match page_caller(&request).await {
        Ok(caller) => caller,
        Err(answer) => return Ok(answer),
    };
    let tenant = caller.tenant.as_str();
    let answer = match campaign_page(&request, &caller).await {
        Ok(page) => response::html(StatusCode::OK, page),
        Err(error) => error_page(Some(tenant), &error),
    };
    audit(&request, &caller, "dashboard.campaign", answer.status());
    Ok(answer)
}

async fn campaign_page(request: &Request, caller: &Caller) -> Result<String, ApiError> {
    let client = &request.state().client;
    let campaign = campaign_param(request)?;
    let summary = stats::summary(client, &caller.tenant, campaign).await?;
    let interval = match request.query("interval") {
        Some(text) => Interval::parse(text)?,
        None => default_interval(summary.first_day.as_deref(), summary.last_day.as_deref()),
    };
    let tenant = &caller.tenant;
    let (series, links, countries, email_clients, devices, systems) = tokio::try_join!(
        stats::series(client, tenant, campaign, interval, None, None),
        stats::links(client, tenant, campaign),
        stats::breakdown(client, tenant, campaign, "country"),
        stats::breakdown(client, tenant, campaign, "email_client"),
        stats::breakdown(client, tenant, campaign, "device"),
        stats::breakdown(client, tenant, campaign, "os"),
    )?;
    Ok(pages::campaign(&pages::CampaignPage {
        tenant: tenant.as_str(),
        summary: &summary,
        series: &series,
        links: &links,
        countries: &countries,
        email_clients: &email_clients,
        devices: &devices,
        systems: &systems,
    }))
}

/// Hourly for a campaign of a few days, daily beyond.
fn default_interval(first_day: Option<&str>, last_day: Option<&str>) -> Interval {
    let span = first_day
        .and_then(parse_timestamp)
        .zip(last_day.and_then(parse_timestamp))
        .map(|(first, last)| last.saturating_sub(first) / DAY);
    match span {
        Some(days) if days >= HOURLY_UP_TO_DAYS => Interval::Day,
        _ => Interval::Hour,
    }
}

/// Only local paths: never a redirect to another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control)
                && !path.starts_with("/login") =>
        {
            path
        }
        _ => "/",
    }
}

async fn login_form(request: Request) -> HandlerResult {
    let next = safe_next(request.query("next")).to_string();
    match request.query("key") {
        Some(key) => Ok(log_in(&request, key, &next).await),
        None => Ok(response::html(StatusCode::OK, pages::login(&next, None))),
    }
}

async fn login(request: Request) -> HandlerResult {
    let mut key = None;
    let mut next = None;
    for (name, value) in form_urlencoded::parse(&request.body) {
        match name.as_ref() {
            "key" => key = Some(value.into_owned()),
            "next" => next = Some(value.into_owned()),
            _ => {}
        }
    }
    let next = safe_next(next.as_deref()).to_string();
    Ok(log_in(&request, key.as_deref().unwrap_or_default(), &next).await)
}

async fn log_in(request: &Request, key: &str, next: &str) -> Response<Body> {
    let key = key.trim();
    match request.state().auth.authenticate_key(key).await {
        Ok(caller) => {
            audit(request, &caller, "dashboard.login", StatusCode::OK);
            let secure = request
                .headers
                .get("x-forwarded-proto")
                .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
            let cookie = format!(
                "{KEY_COOKIE}={key}; Path=/; HttpOnly; SameSite=Lax; Max-Age={COOKIE_MAX_AGE_SECS}{}",
                if secure { "; Secure" } else { "" }
            );
            let mut answer = response::see_other(next);
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                answer.headers_mut().insert(SET_COOKIE, value);
            }
            answer
        }
        Err(ApiError::InvalidApiKey) => {
            request.state().metrics.auth_failures.inc();
            response::html(
                StatusCode::UNAUTHORIZED,
                pages::login(next, Some("That key is not valid (unknown or revoked).")),
            )
        }
        Err(error) => error_page(None, &error),
    }
}

async fn logout(_: Request) -> HandlerResult {
    let mut answer = response::see_other("/login");
    answer.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static("mailpulse_key=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_after_login_stay_on_this_site() {
        assert_eq!(safe_next(Some("/campaigns/x")), "/campaigns/x");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/login?next=/")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn short_campaigns_chart_by_hour() {
        assert_eq!(
            default_interval(Some("2026-01-01"), Some("2026-01-02")),
            Interval::Hour
        );
        assert_eq!(
            default_interval(Some("2026-01-01"), Some("2026-01-20")),
            Interval::Day
        );
        assert_eq!(default_interval(None, None), Interval::Hour);
    }
}
