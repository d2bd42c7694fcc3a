//! The route table. Each feature module registers its routes on one [`Router`] (statistics,
//! dashboard, operational endpoints; privacy/admin routes can be added the same way), so the
//! server and the OpenAPI test see one list.
//!
//! A route is a method, a path pattern such as `/v1/campaigns/{campaign}/links` (a `{name}`
//! segment matches one percent-decoded path segment), a stable name (metric label and audit
//! action) and an [`Access`] rule. `Access::Tenant` routes run only for a valid key and are
//! audited; `Access::Public` handlers decide themselves (see [`Request::authenticate`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{HeaderMap, Method, Response};
use percent_encoding::percent_decode_str;

use crate::auth::Caller;
use crate::response::Body;
use crate::state::ApiState;
use crate::ApiError;

/// What a handler returns.
pub type HandlerResult = Result<Response<Body>, ApiError>;
/// A handler's future, boxed so routes of different modules fit one table.
pub type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;
type Handler = Arc<dyn Fn(Request) -> HandlerFuture + Send + Sync>;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; the handler authenticates if it needs to (dashboard pages, probes).
    Public,
    /// A valid API key; queries are scoped to its tenant and the call is audited.
    Tenant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(&'static str),
    Param(&'static str),
}

/// One registered route.
pub struct Route {
    method: Method,
    pattern: &'static str,
    name: &'static str,
    access: Access,
    max_body: usize,
    segments: Vec<Segment>,
    handler: Handler,
}

impl Route {
    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn pattern(&self) -> &'static str {
        self.pattern
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn access(&self) -> Access {
        self.access
    }

    pub(crate) fn max_body(&self) -> usize {
        self.max_body
    }

    pub(crate) fn call(&self, request: Request) -> HandlerFuture {
        (self.handler)(request)
    }

    /// The decoded parameters when `path` matches this route's pattern.
    fn capture(&self, path: &str) -> Option<Vec<(&'static str, String)>> {
        let mut parts = path.strip_prefix('/')?.split('/');
        let mut params = Vec::new();
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Literal(literal) => {
                    if part != *literal {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let value = percent_decode_str(part).decode_utf8().ok()?;
                    if value.is_empty() {
                        return None;
                    }
                    params.push((*name, value.into_owned()));
                }
            }
        }
        parts.next().is_none().then_some(params)
    }
}

/// Bodies larger than this are refused unless a route asks for more.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// All routes of the server.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

/// The outcome of matching a request.
pub(crate) enum Found<'r> {
    Route(&'r Route, Vec<(&'static str, String)>),
    /// The path exists with other methods (listed for `Allow`).
    WrongMethod(String),
    Nothing,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// Registers a route.
    ///
    /// # Panics
    /// On a malformed pattern or one registered twice for the same method: both are
    /// programming errors found by the first test that builds the router.
    pub fn add<F, Fut>(
        &mut self,
        method: Method,
        pattern: &'static str,
        name: &'static str,
        access: Access,
        handler: F,
    ) -> &mut Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let segments = parse_pattern(pattern);
        assert!(
            !self
                .routes
                .iter()
                .any(|r| r.method == method && r.segments == segments),
            "route {method} {pattern} registered twice"
        );
        self.routes.push(Route {
            method,
            pattern,
            name,
            access,
            max_body: DEFAULT_MAX_BODY,
            segments,
            handler: Arc::new(move |request| Box::pin(handler(request))),
        });
        self
    }

    /// Raises the body limit of the route registered last (an import, an upload).
    pub fn with_body_limit(&mut self, limit: usize) -> &mut Self {
        if let Some(route) = self.routes.last_mut() {
            route.max_body = limit;
        }
        self
    }

    /// Every route, in registration order.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// Finds the route for a request; HEAD is answered by the GET route.
    pub(crate) fn find(&self, method: &Method, path: &str) -> Found<'_> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let mut other_methods = false;
        for route in &self.routes {
            if let Some(params) = route.capture(path) {
                if route.method == *method {
                    return Found::Route(route, params);
                }
                other_methods = true;
            }
        }
        if other_methods {
            Found::WrongMethod(self.allowed(path))
        } else {
            Found::Nothing
        }
    }

    /// The `Allow` value for a path: the methods of its routes (HEAD with GET).
    fn allowed(&self, path: &str) -> String {
        let mut methods: Vec<&str> = Vec::new();
        for route in self.routes.iter().filter(|r| r.capture(path).is_some()) {
            methods.push(route.method.as_str());
            if route.method == Method::GET {
                methods.push("HEAD");
            }
        }
        methods.join(", ")
    }
}

fn parse_pattern(pattern: &'static str) -> Vec<Segment> {
    let Some(rest) = pattern.strip_prefix('/') else {
        panic!("route pattern `{pattern}` must start with /");
    };
    if rest.is_empty() {
        return vec![Segment::Literal("")];
    }
    rest.split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !name.is_empty() => Segment::Param(name),
                Some(_) => panic!("route pattern `{pattern}` has an empty parameter"),
                None => Segment::Literal(part),
            },
        )
        .collect()
}

/// A request as a handler sees it: parsed, with its body read and, on `Access::Tenant`
/// routes, its caller authenticated.
pub struct Request {
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Bytes,
    path: String,
    query: Vec<(String, String)>,
    params: Vec<(&'static str, String)>,
    caller: Option<Caller>,
    state: Arc<ApiState>,
}

impl Request {
    pub(crate) fn new(
        parts: hyper::http::request::Parts,
        body: Bytes,
        params: Vec<(&'static str, String)>,
        state: Arc<ApiState>,
    ) -> Request {
        let query = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Request {
            method: parts.method,
            headers: parts.headers,
            body,
            path: parts.uri.path().to_string(),
            query,
            params,
            caller: None,
            state,
        }
    }

    pub(crate) fn set_caller(&mut self, caller: Caller) {
        self.caller = Some(caller);
    }

    /// The shared server state (ClickHouse client, authenticator, audit log, metrics).
    pub fn state(&self) -> &Arc<ApiState> {
        &self.state
    }

    /// The request path (not decoded).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A `{name}` path parameter, percent-decoded.
    pub fn param(&self, name: &str) -> Result<&str, ApiError> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| ApiError::Internal(format!("route has no parameter {name}")))
    }

    /// A query parameter (the first, if repeated).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The authenticated caller of an `Access::Tenant` route.
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller.as_ref().ok_or(ApiError::InvalidApiKey)
    }

    /// Authenticates the request (for `Access::Public` handlers that need a caller).
    pub async fn authenticate(&self) -> Result<Caller, ApiError> {
        match &self.caller {
            Some(caller) => Ok(caller.clone()),
            None => {
                self.state
                    .auth
                    .authenticate(&self.method, &self.headers)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response;

    fn router() -> Router {
        let mut router = Router::new();
        let ok = |_: Request| async { Ok(response::text_static(hyper::StatusCode::OK, "ok")) };
        router
            .add(Method::GET, "/", "home", Access::Public, ok)
            .add(Method::GET, "/v1/campaigns", "list", Access::Tenant, ok)
            .add(
                Method::GET,
                "/v1/campaigns/{campaign}",
                "summary",
                Access::Tenant,
                ok,
            )
            .add(
                Method::PUT,
                "/v1/campaigns/{campaign}/deliveries",
                "deliveries",
                Access::Tenant,
                ok,
            );
        router
    }

    #[test]
    fn parameters_are_captured_and_percent_decoded() {
        let router = router();
        match router.find(&Method::GET, "/v1/campaigns/spring%2F2026%20sale") {
            Found::Route(route, params) => {
                assert_eq!(route.name(), "summary");
                assert_eq!(params, vec![("campaign", "spring/2026 sale".to_string())]);
            }
            _ => panic!("the summary route matches"),
        }
    }

    #[test]
    fn head_uses_get_and_other_methods_get_allow() {
        let router = router();
        assert!(matches!(router.find(&Method::HEAD, "/"), Found::Route(..)));
        assert!(matches!(
            router.find(&Method::POST, "/v1/campaigns"),
            Found::WrongMethod(allow) if allow == "GET, HEAD"
        ));
        assert!(matches!(
            router.find(&Method::GET, "/v1/campaigns/x/deliveries"),
            Found::WrongMethod(allow) if allow == "PUT"
        ));
    }

    #[test]
    fn unknown_paths_and_empty_parameters_match_nothing() {
        let router = router();
        assert!(matches!(
            router.find(&Method::GET, "/v1/nope"),
            Found::Nothing
        ));
        assert!(matches!(
            router.find(&Method::GET, "/v1/campaigns/"),
            Found::Nothing
        ));
        assert!(matches!(
            router.find(&Method::GET, "/v1/campaigns/a/b/c"),
            Found::Nothing
        ));
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_route_cannot_be_registered_twice() {
        let mut router = router();
        router.add(
            Method::GET,
            "/",
            "again",
            Access::Public,
            |_: Request| async { Err(ApiError::NotFound) },
        );
    }
}
