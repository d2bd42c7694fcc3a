//! One error type for every route: each variant is an HTTP status plus a stable, documented
//! `code` that clients can branch on (`schemas/openapi.yaml`, `components/schemas/Error`).

use hyper::StatusCode;
use mailpulse_store::StoreError;

/// Why a request or an API operation failed, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No API key, a malformed one, an unknown one or a revoked one: send a valid key.
    #[error("missing, unknown or revoked API key")]
    InvalidApiKey,
    /// The key is valid but may not do this (a cookie on a state-changing call, an admin-only
    /// route): use a key or credential that may.
    #[error("{0}")]
    Forbidden(String),
    /// The authenticated tenant has no campaign of that id. Another tenant's campaign answers
    /// the same way, so ids of other tenants cannot be probed.
    #[error("campaign `{0}` not found")]
    CampaignNotFound(String),
    /// A path, query or body parameter is invalid: fix the request.
    #[error("{0}")]
    InvalidParameter(String),
    /// No route has this path.
    #[error("no such resource")]
    NotFound,
    /// The path exists but not with this method; `Allow` lists the methods it has.
    #[error("method not allowed")]
    MethodNotAllowed(String),
    /// The request body is larger than the route accepts.
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// ClickHouse cannot be reached right now: retry later.
    #[error("statistics storage is unavailable, retry later")]
    Unavailable(#[source] StoreError),
    /// ClickHouse refused a query or the server failed otherwise: nothing the caller can fix;
    /// details are logged, never sent.
    #[error("internal error")]
    Internal(String),
    /// A tenant id given to a management command is unusable.
    #[error("invalid tenant id: {0}")]
    InvalidTenant(&'static str),
    /// The server cannot start (address taken, bad `api.listen`): fix the configuration.
    #[error("the API cannot start: {0}")]
    Startup(String),
}

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidApiKey => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::CampaignNotFound(_) | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::InvalidParameter(_) | ApiError::InvalidTenant(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) | ApiError::Startup(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code in the error body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidApiKey => "invalid_api_key",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::CampaignNotFound(_) => "campaign_not_found",
            ApiError::InvalidParameter(_) | ApiError::InvalidTenant(_) => "invalid_parameter",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) | ApiError::Startup(_) => "internal",
        }
    }

    /// The `{"error":{"code":…,"message":…}}` body.
    pub fn body(&self) -> String {
        serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string() }
        })
        .to_string()
    }

    /// Shorthand for [`ApiError::InvalidParameter`].
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::InvalidParameter(message.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if error.is_transient() {
            ApiError::Unavailable(error)
        } else {
            ApiError::Internal(error.to_string())
        }
    }
}

impl From<clickhouse::error::Error> for ApiError {
    fn from(error: clickhouse::error::Error) -> Self {
        ApiError::from(StoreError::from(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_carries_the_stable_code_and_message() {
        let error = ApiError::CampaignNotFound("spring".into());
        let body: serde_json::Value =
            serde_json::from_str(&error.body()).expect("error body is JSON");
        assert_eq!(body["error"]["code"], "campaign_not_found");
        assert_eq!(body["error"]["message"], "campaign `spring` not found");
        assert_eq!(error.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn internal_details_stay_out_of_the_body() {
        let error = ApiError::Internal("Code: 60, table secret_table doesn't exist".into());
        assert!(!error.body().contains("secret_table"));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
