//! The statistics API under `/v1`: every route needs a tenant key and answers JSON, or CSV
//! with `?format=csv` or `Accept: text/csv`. Campaigns are looked up within the caller's
//! tenant only, so another tenant's campaign id answers `404 campaign_not_found`.

use hyper::header::ACCEPT;
use hyper::Method;
use serde::{Deserialize, Serialize};

use crate::response;
use crate::router::{Access, HandlerResult, Request, Router};
use crate::stats::{self, Interval, DIMENSIONS};
use crate::tenant::MAX_TENANT_LEN;
use crate::time::parse_timestamp;
use crate::ApiError;

pub fn register(router: &mut Router) {
    router
        .add(
            Method::GET,
            "/v1/campaigns",
            "stats.campaigns",
            Access::Tenant,
            campaigns,
        )
        .add(
            Method::GET,
            "/v1/campaigns/{campaign}",
            "stats.summary",
            Access::Tenant,
            summary,
        )
        .add(
            Method::GET,
            "/v1/campaigns/{campaign}/links",
            "stats.links",
            Access::Tenant,
            links,
        )
        .add(
            Method::GET,
            "/v1/campaigns/{campaign}/breakdown/{dimension}",
            "stats.breakdown",
            Access::Tenant,
            breakdown,
        )
        .add(
            Method::GET,
            "/v1/campaigns/{campaign}/timeseries",
            "stats.timeseries",
            Access::Tenant,
            timeseries,
        )
        .add(
            Method::PUT,
            "/v1/campaigns/{campaign}/deliveries",
            "stats.deliveries",
            Access::Tenant,
            deliveries,
        );
}

/// Answer format of a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// `?format=` wins; else `Accept: text/csv` asks for CSV; else JSON.
pub fn format(request: &Request) -> Result<Format, ApiError> {
    match request.query("format") {
        Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(_) => Err(ApiError::invalid("format must be `json` or `csv`")),
        None => {
            let accepts_csv = request
                .headers
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/csv"));
            Ok(if accepts_csv {
                Format::Csv
            } else {
                Format::Json
            })
        }
    }
}

/// The `{campaign}` parameter, held to the tracking token's id rules.
pub fn campaign_param(request: &Request) -> Result<&str, ApiError> {
    let campaign = request.param("campaign")?;
    if campaign.len() > MAX_TENANT_LEN || campaign.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "campaign ids are at most 256 bytes without control characters",
        ));
    }
    Ok(campaign)
}

fn timestamp_param(request: &Request, name: &str) -> Result<Option<u32>, ApiError> {
    request
        .query(name)
        .map(|text| {
            parse_timestamp(text).ok_or_else(|| {
                ApiError::invalid(format!(
                    "`{name}` must be YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]Z or Unix seconds"
                ))
            })
        })
        .transpose()
}

#[derive(Serialize)]
struct CampaignList<'a> {
    campaigns: &'a [stats::CampaignListEntry],
}

async fn campaigns(request: Request) -> HandlerResult {
    let format = format(&request)?;
    let caller = request.caller()?;
    let list = stats::campaigns(&request.state().client, &caller.tenant).await?;
    match format {
        Format::Json => response::json(&CampaignList { campaigns: &list }),
        Format::Csv => response::csv(&list, "campaigns.csv"),
    }
}

async fn summary(request: Request) -> HandlerResult {
    let format = format(&request)?;
    let campaign = campaign_param(&request)?;
    let caller = request.caller()?;
    let summary = stats::summary(&request.state().client, &caller.tenant, campaign).await?;
    match format {
        Format::Json => response::json(&summary),
        Format::Csv => response::csv(&[summary], &format!("{campaign}-summary.csv")),
    }
}

#[derive(Serialize)]
struct Links<'a> {
    campaign: &'a str,
    links: &'a [stats::LinkEntry],
}

async fn links(request: Request) -> HandlerResult {
    let format = format(&request)?;
    let campaign = campaign_param(&request)?;
    let caller = request.caller()?;
    let links = stats::links(&request.state().client, &caller.tenant, campaign).await?;
    match format {
        Format::Json => response::json(&Links {
            campaign,
            links: &links,
        }),
        Format::Csv => response::csv(&links, &format!("{campaign}-links.csv")),
    }
}

#[derive(Serialize)]
struct Breakdown<'a> {
    campaign: &'a str,
    dimension: &'a str,
    values: &'a [stats::BreakdownEntry],
}

async fn breakdown(request: Request) -> HandlerResult {
    let format = format(&request)?;
    let campaign = campaign_param(&request)?;
    let dimension = request.param("dimension")?;
    if !DIMENSIONS.contains(&dimension) {
        return Err(ApiError::invalid(format!(
            "dimension must be one of {}",
            DIMENSIONS.join(", ")
        )));
    }
    let caller = request.caller()?;
    let values =
        stats::breakdown(&request.state().client, &caller.tenant, campaign, dimension).await?;
    match format {
        Format::Json => response::json(&Breakdown {
            campaign,
            dimension,
            values: &values,
        }),
        Format::Csv => response::csv(&values, &format!("{campaign}-{dimension}.csv")),
    }
}

async fn timeseries(request: Request) -> HandlerResult {
    let format = format(&request)?;
    let campaign = campaign_param(&request)?;
    let interval = Interval::parse(request.query("interval").unwrap_or("day"))?;
    let from = timestamp_param(&request, "from")?;
    let to = timestamp_param(&request, "to")?;
    let caller = request.caller()?;
    let series = stats::series(
        &request.state().client,
        &caller.tenant,
        campaign,
        interval,
        from,
        to,
    )
    .await?;
    match format {
        Format::Json => response::json(&series),
        Format::Csv => response::csv(
            &series.points,
            &format!("{campaign}-{}.csv", interval.as_str()),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesBody {
    delivered: u64,
}

#[derive(Serialize)]
struct DeliveriesAnswer<'a> {
    campaign: &'a str,
    delivered: u64,
}

async fn deliveries(request: Request) -> HandlerResult {
    let campaign = campaign_param(&request)?;
    let body: DeliveriesBody = serde_json::from_slice(&request.body).map_err(|e| {
        ApiError::invalid(format!(
            "the body must be {{\"delivered\": <non-negative integer>}}: {e}"
        ))
    })?;
    let caller = request.caller()?;
    stats::report_deliveries(
        &request.state().client,
        &caller.tenant,
        campaign,
        body.delivered,
    )
    .await?;
    response::json(&DeliveriesAnswer {
        campaign,
        delivered: body.delivered,
    })
}
