//! Data-subject rights and tracking settings over HTTP (`docs/privacy.md`): the same
//! `mailpulse_privacy::Privacy` calls as the command line.
//!
//! Every route is `Access::Tenant`: the tenant is the one the API key belongs to and is never
//! taken from the request, so a key of tenant A cannot read, change or erase tenant B's data.
//! `DELETE /v1/tenants/{tenant}` names the tenant only as a confirmation; another tenant's id
//! answers `404 tenant_not_found`, whether that tenant exists or not. Calls naming a
//! subscriber are audited with that subscriber as the subject.
//!
//! Errors are `{"error":{"code","message"}}` with the codes of `PrivacyError::code` (plus
//! `invalid_body`, `tenant_not_found`); a refused import adds `"report"` with every bad line.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Response, StatusCode};
use mailpulse_event::{TrackingBasis, TrackingLevel};
use mailpulse_privacy::tracking::{parse_basis, parse_level};
use mailpulse_privacy::{ImportFormat, ImportMode, Privacy, PrivacyError, Tracking};
use serde::Deserialize;
use serde_json::json;

use crate::dispatch::with_audit_subject;
use crate::response::{self, Body};
use crate::router::{Access, HandlerResult, Request, Router};
use crate::ApiError;

/// Largest import body accepted in one call (about 200 000 lines).
pub const MAX_IMPORT_BODY: usize = 16 * 1024 * 1024;

/// Registers the privacy routes, served by `privacy`.
pub fn register(router: &mut Router, privacy: Arc<Privacy>) {
    macro_rules! route {
        ($method:expr, $pattern:literal, $name:literal, $handler:ident) => {{
            let privacy = privacy.clone();
            router.add($method, $pattern, $name, Access::Tenant, move |request| {
                $handler(privacy.clone(), request)
            });
        }};
    }
    route!(
        Method::PUT,
        "/v1/subscribers/{subscriber}/consent",
        "privacy.consent_set",
        put_consent
    );
    route!(
        Method::GET,
        "/v1/subscribers/{subscriber}/consent",
        "privacy.consent_show",
        get_consent
    );
    route!(
        Method::GET,
        "/v1/subscribers/{subscriber}/export",
        "privacy.export",
        get_export
    );
    route!(
        Method::POST,
        "/v1/subscribers/{subscriber}/forget",
        "privacy.forget",
        post_forget
    );
    route!(
        Method::POST,
        "/v1/consent/import",
        "privacy.consent_import",
        post_import
    );
    router.with_body_limit(MAX_IMPORT_BODY);
    route!(
        Method::GET,
        "/v1/tracking-policy",
        "privacy.policies_show",
        get_policy
    );
    route!(
        Method::PUT,
        "/v1/tracking-policy",
        "privacy.policy_set",
        put_policy
    );
    route!(
        Method::PUT,
        "/v1/campaigns/{campaign}/tracking-policy",
        "privacy.campaign_policy_set",
        put_campaign_policy
    );
    route!(
        Method::PUT,
        "/v1/retention",
        "privacy.retention_set",
        put_retention
    );
    route!(
        Method::DELETE,
        "/v1/tenants/{tenant}",
        "privacy.tenant_delete",
        delete_tenant
    );
}

/// The caller's tenant.
fn tenant(request: &Request) -> Result<String, ApiError> {
    Ok(request.caller()?.tenant.as_str().to_string())
}

/// The API key id, recorded as the `source` of consent changes.
fn source(request: &Request) -> Result<String, ApiError> {
    Ok(format!("api:{}", request.caller()?.key_id))
}

/// A privacy error as a JSON answer with the right status (an `Ok` response, so the
/// dispatcher audits it with that status).
fn failure(error: &PrivacyError) -> Response<Body> {
    let status = match error {
        PrivacyError::Invalid { .. } => StatusCode::BAD_REQUEST,
        PrivacyError::MalformedImport(_) => StatusCode::UNPROCESSABLE_ENTITY,
        PrivacyError::ImportTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        PrivacyError::Input(_) => StatusCode::BAD_REQUEST,
        PrivacyError::Output(_) | PrivacyError::Store(_) if !error.is_retryable() => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    if status.is_server_error() {
        tracing::warn!(%error, code = error.code(), "privacy call failed");
    }
    let mut body = json!({ "error": { "code": error.code(), "message": error.to_string() } });
    match error {
        PrivacyError::MalformedImport(report) | PrivacyError::ImportInterrupted(report) => {
            body["report"] = json!(report);
        }
        _ => {}
    }
    response::with_body(
        status,
        body.to_string(),
        HeaderValue::from_static("application/json"),
    )
}

fn bad_body(message: String) -> Response<Body> {
    response::with_body(
        StatusCode::BAD_REQUEST,
        json!({ "error": { "code": "invalid_body", "message": message } }).to_string(),
        HeaderValue::from_static("application/json"),
    )
}

/// A successful result as JSON, or the failure.
fn answer<T: serde::Serialize>(result: Result<T, PrivacyError>) -> HandlerResult {
    match result {
        Ok(value) => response::json(&value),
        Err(error) => Ok(failure(&error)),
    }
}

fn parse_json<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|error| format!("the body is not valid: {error}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    tracking: String,
}

async fn put_consent(privacy: Arc<Privacy>, request: Request) -> HandlerResult {
    let tenant = tenant(&request)?;
    let subscriber = request.param("subscriber")?.to_string();
    let body: ConsentBody = match parse_json(&request.body) {
        Ok(body) => body,
        Err(message) => return Ok(with_audit_subject(bad_body(message), &subscriber)),
    };
    let result = match body.tracking.parse::<Tracking>() {
        Ok(tracking) => {
            privacy
                .set_consent(&tenant, &subscriber, tracking, &source(&request)?)
                .await
        }
        Err(invalid) => Err(invalid),
    };
    Ok(with_audit_subject(answer(result)?, &subscriber))
}

async fn get_consent(privacy: Arc<Privacy>, request: Request) -> HandlerResult {
    let tenant = tenant(&request)?;
    let subscriber = request.param("subscriber")?.to_string();
    let result = privacy.consent(&tenant, &subscriber).await;
    Ok(with_audit_subject(answer(result)?, &subscriber))
}

async fn get_export(privacy: Arc<Privacy>, request: Request) -> HandlerResult {
    let tenant = tenant(&request)?;
    let subscriber = request.param("subscriber")?.to_string();
    // Buffered: the server's bodies are whole (`Full`); `mailpulse export` streams.
    let mut lines = Vec::new();
    let response = match privacy.export(&tenant, &subscriber, &mut lines).await {
        Ok(_) => {
            let mut response = response::with_body(
                StatusCode::OK,
                lines,
                HeaderValue::from_static("application/x-ndjson"),
            );
            response.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"export.jsonl\""),
            );
            response
        }
        Err(error) => failure(&error),
    };
    Ok(with_audit_subject(response, &subscriber))
}

async fn post_forget(privacy: Arc<Privacy>, request: Request) -> HandlerResult {
    let tenant = tenant(&request)?;
    let subscriber = request.param("subscriber")?.to_string();
    let result = privacy.forget(&tenant, &subscriber).await;
    Ok(with_audit_subject(answer(result)?, &subscriber))
}

async fn post_import(privacy: Arc<Privacy>, request: Request) -> HandlerResult {
    let tenant = tenant(&request)?;
    let format = match request.query("format").unwrap_or("csv") {
        "csv" => ImportFormat::Csv,
        "jsonl" | "ndjson" => ImportFormat::Jsonl,
        other => return Ok(bad_body(format!("format `{other}` is not csv or jsonl"))),
    };
    let mode = match request.query("partial") {
        None | Some("false") => ImportMode::AllOrNothing,
        Some("true") => ImportMode::Partial,
        Some(other) => return Ok(bad_body(format!("partial `{other}` is not true or false"))),
    };
    let source = source(&request)?;
    answer(
        privacy
            .import(&tenant, request.body.as_ref(), format, mode, &source)
            .await,
    )
}

async fn get_policy(privacy: Arc<Privacy>, request: Request) -> HandlerResult {
    let tenant = tenant(&request)?;
    answer(privacy.policies(&tenant).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    /// `opt_in`, `legitimate_interest`, or absent/null for the deployment default.
    #[serde(default)]
    basis: Option<String>,
    /// A level, or absent/null for no limit.
    #[serde(default)]
    level: Option<String>,
}

fn parse_settings(
    basis: Option<&str>,
    level: Option<&str>,
) -> Result<(Option<TrackingBasis>, Option<TrackingLevel>), PrivacyError> {
    Ok((
        basis.map(parse_basis).transpose()?,
        level.map(parse_level).transpose()?,
    ))
}

async fn put_policy(privacy: Arc<Privacy>, request: Request) -> HandlerResult {
    let tenant = tenant(&request)?;
    let body: PolicyBody = match parse_json(&request.body) {
        Ok(body) => body,
        Err(message) => return Ok(bad_body(message)),
    };
    let result = match parse_settings(body.basis.as_deref(), body.level.as_deref()) {
        Ok((basis, level)) => {
            privacy
                .set_policy(&tenant, None, basis, level, &source(&request)?)
                .await
        }
        Err(invalid) => Err(invalid),
    };
    answer(result)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignPolicyBody {
    #[serde(default)]
    level: Option<String>,
}

async fn put_campaign_policy(privacy: Arc<Privacy>, request: Request) -> HandlerResult {
    let tenant = tenant(&request)?;
    let campaign = request.param("campaign")?.to_string();
    let body: CampaignPolicyBody = match parse_json(&request.body) {
        Ok(body) => body,
        Err(message) => return Ok(bad_body(message)),
    };
    let result = match parse_settings(None, body.level.as_deref()) {
        Ok((_, level)) => {
            privacy
                .set_policy(&tenant, Some(&campaign), None, level, &source(&request)?)
                .await
        }
        Err(invalid) => Err(invalid),
    };
    answer(result)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionBody {
    /// Days of raw events to keep; null for the deployment default.
    days: Option<u32>,
}

async fn put_retention(privacy: Arc<Privacy>, request: Request) -> HandlerResult {
    let tenant = tenant(&request)?;
    let body: RetentionBody = match parse_json(&request.body) {
        Ok(body) => body,
        Err(message) => return Ok(bad_body(message)),
    };
    answer(
        privacy
            .set_retention(&tenant, body.days)
            .await
            .map(|()| json!({ "tenant": tenant, "retention_days": body.days })),
    )
}

async fn delete_tenant(privacy: Arc<Privacy>, request: Request) -> HandlerResult {
    let tenant = tenant(&request)?;
    if request.param("tenant")? != tenant {
        return Ok(response::with_body(
            StatusCode::NOT_FOUND,
            json!({ "error": { "code": "tenant_not_found", "message": "no such tenant for this API key" } })
                .to_string(),
            HeaderValue::from_static("application/json"),
        ));
    }
    answer(privacy.delete_tenant(&tenant, &source(&request)?).await)
}
