//! The privacy commands of the real `mailpulse` binary: each prints its JSON result, refuses a
//! malformed import with a per-line report and a failing exit status, and is audited as `cli`.

mod privacy_common;

use std::process::{Command, Output};

use privacy_common::*;
use serde_json::Value;

fn mailpulse(env: &Env, args: &[&str], stdin_file: Option<&std::path::Path>) -> Output {
    let c = &env.config;
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailpulse"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MAILPULSE_KAFKA_BROKERS", &c.kafka.brokers)
        .env("MAILPULSE_KAFKA_EVENTS_TOPIC", &c.kafka.events_topic)
        .env("MAILPULSE_KAFKA_CONSENT_TOPIC", &c.kafka.consent_topic)
        .env("MAILPULSE_CLICKHOUSE_URL", &c.clickhouse.url)
        .env("MAILPULSE_CLICKHOUSE_DATABASE", &c.clickhouse.database)
        .env("MAILPULSE_LOG_LEVEL", "warn");
    if let Some(path) = stdin_file {
        command.stdin(std::fs::File::open(path).expect("input file"));
    }
    command.output().expect("mailpulse runs")
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_privacy_command_works_from_the_command_line_and_is_audited() {
    let env = Env::new("priv_cli").await;
    let client = env.client();
    let dir = tempfile::tempdir().expect("temp dir");

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "subscriber,tracking\nc1,granted\nc2,perhaps\n").expect("written");
    let refused = mailpulse(
        &env,
        &[
            "consent",
            "import",
            "--tenant",
            TENANT,
            bad.to_str().expect("path"),
        ],
        None,
    );
    assert!(!refused.status.success(), "a malformed import fails");
    let report = json(&refused);
    assert_eq!(report["applied"], 0);
    assert_eq!(report["errors"][0]["line"], 3);
    assert_eq!(report["errors"][0]["code"], "invalid_tracking");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nothing applied"));

    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, "{\"subscriber\":\"c1\",\"tracking\":\"granted\"}\n").expect("written");
    let imported = mailpulse(
        &env,
        &[
            "consent", "import", "--tenant", TENANT, "--format", "jsonl", "-",
        ],
        Some(&good),
    );
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert_eq!(json(&imported)["applied"], 1);

    let set = mailpulse(
        &env,
        &[
            "consent",
            "set",
            "--tenant",
            TENANT,
            "--subscriber",
            "c1",
            "--tracking",
            "restricted",
        ],
        None,
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert_eq!(json(&set)["tracking"], "restricted");
    let wrong = mailpulse(
        &env,
        &[
            "consent",
            "set",
            "--tenant",
            TENANT,
            "--subscriber",
            "c1",
            "--tracking",
            "maybe",
        ],
        None,
    );
    assert!(!wrong.status.success());

    let shown = mailpulse(
        &env,
        &["consent", "show", "--tenant", TENANT, "--subscriber", "c1"],
        None,
    );
    let view = json(&shown);
    assert_eq!(view["tracking"], "restricted");
    assert_eq!(view["history"].as_array().map(Vec::len), Some(2));

    let policy = mailpulse(
        &env,
        &[
            "consent",
            "policy",
            "--tenant",
            TENANT,
            "--level",
            "pseudonymous",
        ],
        None,
    );
    assert!(
        policy.status.success(),
        "{}",
        String::from_utf8_lossy(&policy.stderr)
    );
    let policy = mailpulse(
        &env,
        &["consent", "policy", "--tenant", TENANT, "--basis", "opt_in"],
        None,
    );
    assert_eq!(
        json(&policy)["level"],
        "pseudonymous",
        "a left-out option keeps its value"
    );
    assert_eq!(json(&policy)["basis"], "opt_in");

    let exported = mailpulse(
        &env,
        &["export", "--tenant", TENANT, "--subscriber", "c1"],
        None,
    );
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&exported.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(
        lines.first().map(|l| l["record"].clone()),
        Some("export".into())
    );
    assert_eq!(
        lines.last().map(|l| l["consent_changes"].clone()),
        Some(2.into())
    );

    // No aggregator runs: nothing to wait for, the erasure goes straight to the deletes.
    let forgotten = mailpulse(
        &env,
        &["forget", "--tenant", TENANT, "--subscriber", "c1"],
        None,
    );
    assert!(
        forgotten.status.success(),
        "{}",
        String::from_utf8_lossy(&forgotten.stderr)
    );
    let receipt = json(&forgotten);
    assert_eq!(receipt["subscriber"], "c1");
    let history_removed = receipt["removed"]
        .as_array()
        .expect("removed tables")
        .iter()
        .find(|t| t["table"] == "consent_history")
        .map(|t| t["rows"].clone());
    assert_eq!(history_removed, Some(2.into()));

    let retention = mailpulse(&env, &["retention", "run"], None);
    assert!(
        retention.status.success(),
        "{}",
        String::from_utf8_lossy(&retention.stderr)
    );
    assert_eq!(json(&retention)["default_days"], 396);

    let audited = count(
        &client,
        "SELECT count() FROM audit_log WHERE tenant = ? AND actor = 'cli' \
         AND action IN ('privacy.consent_import', 'privacy.consent_set', 'privacy.consent_show', \
                        'privacy.policy_set', 'privacy.export', 'privacy.forget')",
        &[TENANT],
    )
    .await;
    assert_eq!(
        audited, 9,
        "two imports, two sets, show, two policies, export, forget"
    );

    let deleted = mailpulse(&env, &["tenant", "delete", TENANT], None);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    assert_eq!(json(&deleted)["tenant"], TENANT);
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM consent_history WHERE tenant = ?",
            &[TENANT]
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &client,
            "SELECT count() FROM audit_log WHERE tenant = ?",
            &[TENANT]
        )
        .await,
        1,
        "only the record of the removal itself"
    );
}
