//! The privacy routes of the API server: tenant isolation (a key acts on its own tenant only),
//! clear errors (status + stable code), a refused import with per-line errors and nothing
//! applied, and the audit trail.

mod privacy_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use mailpulse_api::{tenant, ApiServer, TenantId};
use privacy_common::*;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

const TENANT_A: &str = "tenant-a";
const TENANT_B: &str = "tenant-b";
/// The same subscriber id at both tenants.
const SHARED: &str = "shared-sub";

struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "expected JSON ({error}), got {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

async fn call(addr: SocketAddr, method: Method, path: &str, key: &str, body: &str) -> Answer {
    let stream = TcpStream::connect(addr).await.expect("connect to the API");
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {key}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let response = tokio::time::timeout(Duration::from_secs(60), sender.send_request(request))
        .await
        .expect("answered within 60 s")
        .expect("response");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Answer { status, body }
}

/// Rows of `table` for a tenant.
async fn tenant_rows(client: &mailpulse_store::Client, table: &str, tenant: &str) -> u64 {
    count(
        client,
        &format!("SELECT count() FROM {table} WHERE tenant = ?"),
        &[tenant],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reads_changes_and_erases_only_its_own_tenant() {
    let env = Env::new("priv_http").await;
    let client = env.client();
    let privacy = Arc::new(env.privacy());
    let aggregator = Aggregator::start(&env.config);

    // Both tenants have the same subscriber id, consented and with stored events.
    for tenant in [TENANT_A, TENANT_B] {
        privacy
            .set_consent(tenant, SHARED, mailpulse_privacy::Tracking::Granted, "test")
            .await
            .expect("consent");
    }
    let events: Vec<_> = [TENANT_A, TENANT_B]
        .iter()
        .flat_map(|tenant| (0..3).map(move |_| open(tenant, CAMPAIGN, SHARED)))
        .collect();
    env.produce(&events).await;
    wait_until(
        Duration::from_secs(30),
        "both tenants' opens stored",
        || async { rows_with_key(&client, SHARED).await == 6 },
    )
    .await;

    let key_a = tenant::create_key(&client, &TenantId::parse(TENANT_A).expect("id"))
        .await
        .expect("key for A")
        .key;
    let key_b = tenant::create_key(&client, &TenantId::parse(TENANT_B).expect("id"))
        .await
        .expect("key for B")
        .key;
    let mut router = mailpulse_api::default_router();
    mailpulse_api::privacy_routes::register(&mut router, privacy.clone());
    let server = ApiServer::build(&env.config, router, Duration::from_millis(200));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    let consent_path = format!("/v1/subscribers/{SHARED}/consent");

    // A bad key is refused with a stable code.
    let refused = call(addr, Method::GET, &consent_path, "not-a-key", "").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.code(), "invalid_api_key");

    // A's change is A's only.
    let denied = call(
        addr,
        Method::PUT,
        &consent_path,
        &key_a,
        r#"{"tracking":"denied"}"#,
    )
    .await;
    assert_eq!(
        denied.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&denied.body)
    );
    assert_eq!(denied.json()["tenant"], TENANT_A);
    let seen_by_b = call(addr, Method::GET, &consent_path, &key_b, "")
        .await
        .json();
    assert_eq!(seen_by_b["tenant"], TENANT_B);
    assert_eq!(
        seen_by_b["tracking"], "granted",
        "B's subscriber is untouched"
    );
    assert_eq!(seen_by_b["history"].as_array().map(Vec::len), Some(1));
    let seen_by_a = call(addr, Method::GET, &consent_path, &key_a, "")
        .await
        .json();
    assert_eq!(seen_by_a["tracking"], "denied");

    let invalid = call(
        addr,
        Method::PUT,
        &consent_path,
        &key_a,
        r#"{"tracking":"maybe"}"#,
    )
    .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid.code(), "invalid_request");
    let garbled = call(addr, Method::PUT, &consent_path, &key_a, "{").await;
    assert_eq!(garbled.code(), "invalid_body");

    // A's export holds A's rows only.
    let export = call(
        addr,
        Method::GET,
        &format!("/v1/subscribers/{SHARED}/export"),
        &key_a,
        "",
    )
    .await;
    assert_eq!(export.status, StatusCode::OK);
    let lines: Vec<Value> = String::from_utf8_lossy(&export.body)
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    let tenants: Vec<&Value> = lines
        .iter()
        .filter(|line| line["record"] == "event")
        .map(|line| &line["tenant"])
        .collect();
    assert_eq!(tenants, vec![&Value::from(TENANT_A); 3]);

    // A malformed import: 422, every bad line, nothing applied.
    let history_before = tenant_rows(&client, "consent_history", TENANT_A).await;
    let import = call(
        addr,
        Method::POST,
        "/v1/consent/import?format=csv",
        &key_a,
        "x1,granted\nx2,nope\nx3\n",
    )
    .await;
    assert_eq!(import.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(import.code(), "malformed_import");
    let lines: Vec<u64> = import.json()["report"]["errors"]
        .as_array()
        .expect("per-line errors")
        .iter()
        .filter_map(|e| e["line"].as_u64())
        .collect();
    assert_eq!(lines, vec![2, 3]);
    assert_eq!(
        tenant_rows(&client, "consent_history", TENANT_A).await,
        history_before
    );
    let good = call(
        addr,
        Method::POST,
        "/v1/consent/import?format=jsonl",
        &key_a,
        "{\"subscriber\":\"x1\",\"tracking\":\"granted\"}\n",
    )
    .await;
    assert_eq!(good.json()["applied"], 1);

    // A's erasure of the shared id erases A's rows only.
    let forget = call(
        addr,
        Method::POST,
        &format!("/v1/subscribers/{SHARED}/forget"),
        &key_a,
        "",
    )
    .await;
    assert_eq!(
        forget.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&forget.body)
    );
    assert_eq!(forget.json()["tenant"], TENANT_A);
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM events WHERE tenant = ? AND subscriber_key = ?",
            &[TENANT_A, SHARED]
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM events WHERE tenant = ? AND subscriber_key = ?",
            &[TENANT_B, SHARED]
        )
        .await,
        3,
        "B's rows of the same id are untouched"
    );

    // A cannot remove B; B's data and key stay.
    let events_b = tenant_rows(&client, "events", TENANT_B).await;
    let not_yours = call(
        addr,
        Method::DELETE,
        &format!("/v1/tenants/{TENANT_B}"),
        &key_a,
        "",
    )
    .await;
    assert_eq!(not_yours.status, StatusCode::NOT_FOUND);
    assert_eq!(not_yours.code(), "tenant_not_found");
    assert_eq!(tenant_rows(&client, "events", TENANT_B).await, events_b);
    let b_still = call(addr, Method::GET, &consent_path, &key_b, "").await;
    assert_eq!(b_still.status, StatusCode::OK);

    // A removes itself: its key stops working, B is whole.
    let removed = call(
        addr,
        Method::DELETE,
        &format!("/v1/tenants/{TENANT_A}"),
        &key_a,
        "",
    )
    .await;
    assert_eq!(
        removed.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&removed.body)
    );
    assert!(removed.json()["rows_removed_total"].as_u64() > Some(0));
    wait_until(Duration::from_secs(5), "A's key is refused", || async {
        call(addr, Method::GET, &consent_path, &key_a, "")
            .await
            .status
            == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(tenant_rows(&client, "events", TENANT_B).await, events_b);
    assert_eq!(tenant_rows(&client, "tenants", TENANT_B).await, 1);

    let _ = stop.send(());
    serving
        .await
        .expect("server task")
        .expect("server ends cleanly");
    aggregator.stop().await;

    // The audit log (flushed at shutdown) names B's calls with B's key only, and records A's
    // removal after the removal itself.
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM audit_log WHERE tenant = ? AND action = 'privacy.consent_show' \
             AND subject = ?",
            &[TENANT_B, SHARED]
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM audit_log WHERE tenant = ?",
            &[TENANT_A]
        )
        .await,
        1,
        "A's earlier entries went with A (even those still queued when it was removed)"
    );
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM audit_log WHERE tenant = ? AND action = 'privacy.tenant_delete' \
             AND outcome = 'ok'",
            &[TENANT_A]
        )
        .await,
        1,
        "the removal itself is on record"
    );
}
