//! The BI surface: the SQL views of `schemas/migrations/0007_bi_views.sql` give the same
//! numbers as the API, and the Grafana dashboard `dashboards/mailpulse.json` is valid JSON
//! whose every query reads only views the migrations create and runs on ClickHouse.

mod api_common;

use std::collections::BTreeSet;

use api_common::*;
use serde_json::Value;

const DASHBOARD: &str = include_str!("../dashboards/mailpulse.json");

/// Names of every table and view the migrations create.
fn created_relations() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for migration in mailpulse_store::migrate::MIGRATIONS {
        for statement in mailpulse_store::migrate::statements(migration.sql) {
            let words: Vec<&str> = statement.split_whitespace().collect();
            if let Some(i) = words.iter().position(|w| *w == "EXISTS") {
                if words.first() == Some(&"CREATE") {
                    if let Some(name) = words.get(i + 1) {
                        names.insert(name.trim_matches('(').to_string());
                    }
                }
            }
        }
    }
    names
}

/// Relations a query reads: the word after each FROM or JOIN.
fn relations_read(sql: &str) -> Vec<String> {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|pair| pair[0].eq_ignore_ascii_case("from") || pair[0].eq_ignore_ascii_case("join"))
        .map(|pair| pair[1].to_string())
        .collect()
}

/// Every query of the dashboard: panel targets and template variables.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let sql = target["rawSql"].as_str().expect("rawSql").to_string();
            queries.push((panel["title"].as_str().expect("title").to_string(), sql));
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        if variable["type"] == "query" {
            let sql = variable["query"]
                .as_str()
                .expect("variable query")
                .to_string();
            queries.push((
                format!("${}", variable["name"].as_str().expect("name")),
                sql,
            ));
        }
    }
    queries
}

#[test]
fn the_grafana_dashboard_is_valid_and_reads_only_the_bi_views() {
    let dashboard: Value =
        serde_json::from_str(DASHBOARD).expect("dashboards/mailpulse.json parses");
    let panels = dashboard["panels"].as_array().expect("panels array");
    assert!(panels.len() >= 6, "the dashboard has its panels");
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_u64().expect("panel id")),
            "panel ids are unique"
        );
        assert_eq!(
            panel["datasource"]["type"], "grafana-clickhouse-datasource",
            "{}",
            panel["title"]
        );
        let grid = &panel["gridPos"];
        assert!(grid["w"].as_u64().is_some_and(|w| w > 0 && w <= 24));
    }
    let created = created_relations();
    for view in [
        "v_campaign_summary",
        "v_campaign_uniques",
        "v_campaign_daily",
        "v_campaign_hourly",
        "v_link_clicks",
        "v_campaign_breakdown",
    ] {
        assert!(created.contains(view), "the migrations create {view}");
    }
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() > panels.len());
    for (title, sql) in &queries {
        let read = relations_read(sql);
        assert!(!read.is_empty(), "{title}: no FROM in {sql}");
        for relation in read {
            assert!(
                created.contains(&relation),
                "{title} reads `{relation}`, which no migration creates"
            );
            assert!(
                relation.starts_with("v_"),
                "{title} reads `{relation}`: BI queries use the documented v_* views"
            );
        }
    }
}

/// Grafana's macros and variables, as the ClickHouse plugin expands them.
fn expand(sql: &str, tenant: &str, campaign: &str) -> String {
    let mut sql = sql
        .replace("${tenant}", tenant)
        .replace("${campaign}", campaign);
    while let Some(start) = sql.find("$__timeFilter(") {
        let rest = &sql[start + "$__timeFilter(".len()..];
        let end = rest.find(')').expect("macro closes");
        let column = rest[..end].to_string();
        let expansion = format!("{column} >= toDateTime(0) AND {column} <= toDateTime(4102444800)");
        sql.replace_range(start..start + "$__timeFilter(".len() + end + 1, &expansion);
    }
    assert!(!sql.contains('$'), "unexpanded macro in {sql}");
    sql
}

async fn rows(client: &mailpulse_store::Client, sql: &str) -> Vec<Value> {
    let bytes = client
        .query(sql)
        .fetch_bytes("JSONEachRow")
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON row"))
        .collect()
}

/// JSONEachRow quotes 64-bit integers.
fn int(row: &Value, field: &str) -> u64 {
    match &row[field] {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("{field}: {s}")),
        other => other.as_u64().unwrap_or_else(|| panic!("{field}: {other}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_runs_and_the_views_equal_the_api() {
    let mut env = ApiEnv::start("api_bi").await;
    insert(env.client(), &generate(31, "acme", "bi-camp", 1_500, 50)).await;
    insert(env.client(), &generate(32, "acme", "other", 200, 5)).await;
    let key = env.key("acme").await;
    let client = env.client().clone();

    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("dashboard parses");
    for (title, sql) in dashboard_queries(&dashboard) {
        let answer = rows(&client, &expand(&sql, "acme", "bi-camp")).await;
        assert!(!answer.is_empty(), "{title} returns rows");
    }

    let summary = env.get("/v1/campaigns/bi-camp", &key).await.json();
    let view = rows(
        &client,
        "SELECT * FROM v_campaign_summary WHERE tenant = 'acme' AND campaign = 'bi-camp'",
    )
    .await;
    assert_eq!(view.len(), 1);
    for field in [
        "opens_total",
        "opens_machine",
        "opens_human",
        "clicks_total",
        "clicks_machine",
        "clicks_human",
        "unsubscribes",
    ] {
        assert_eq!(
            int(&view[0], field),
            n(&summary, field),
            "v_campaign_summary.{field}"
        );
    }
    assert_eq!(view[0]["first_day"], summary["first_day"]);
    assert_eq!(view[0]["last_day"], summary["last_day"]);
    let uniques = rows(
        &client,
        "SELECT * FROM v_campaign_uniques WHERE tenant = 'acme' AND campaign = 'bi-camp'",
    )
    .await;
    for field in [
        "opens_unique",
        "opens_unique_human",
        "clicks_unique",
        "clicks_unique_human",
    ] {
        assert_eq!(
            int(&uniques[0], field),
            n(&summary, field),
            "v_campaign_uniques.{field}"
        );
    }

    let links = env.get("/v1/campaigns/bi-camp/links", &key).await.json();
    let view = rows(
        &client,
        "SELECT link, clicks_total, clicks_human FROM v_link_clicks \
         WHERE tenant = 'acme' AND campaign = 'bi-camp' ORDER BY clicks_total DESC, link",
    )
    .await;
    let api: Vec<(String, u64, u64)> = links["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| {
            (
                l["link"].as_str().expect("link").to_string(),
                n(l, "clicks_total"),
                n(l, "clicks_human"),
            )
        })
        .collect();
    let from_view: Vec<(String, u64, u64)> = view
        .iter()
        .map(|l| {
            (
                l["link"].as_str().expect("link").to_string(),
                int(l, "clicks_total"),
                int(l, "clicks_human"),
            )
        })
        .collect();
    assert_eq!(from_view, api, "v_link_clicks");

    let series = env
        .get("/v1/campaigns/bi-camp/timeseries?interval=day", &key)
        .await
        .json();
    let view = rows(
        &client,
        "SELECT toString(day) AS day, opens_total, clicks_total FROM v_campaign_daily \
         WHERE tenant = 'acme' AND campaign = 'bi-camp' ORDER BY day",
    )
    .await;
    let api: Vec<(String, u64, u64)> = series["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter(|p| n(p, "opens_total") + n(p, "clicks_total") + n(p, "unsubscribes") > 0)
        .map(|p| {
            (
                p["bucket"].as_str().expect("bucket").to_string(),
                n(p, "opens_total"),
                n(p, "clicks_total"),
            )
        })
        .collect();
    let from_view: Vec<(String, u64, u64)> = view
        .iter()
        .map(|d| {
            (
                d["day"].as_str().expect("day").to_string(),
                int(d, "opens_total"),
                int(d, "clicks_total"),
            )
        })
        .collect();
    assert_eq!(from_view, api, "v_campaign_daily");

    let countries = env
        .get("/v1/campaigns/bi-camp/breakdown/country", &key)
        .await
        .json();
    let view = rows(
        &client,
        "SELECT value, opens_total, clicks_total FROM v_campaign_breakdown \
         WHERE tenant = 'acme' AND campaign = 'bi-camp' AND dimension = 'country' \
         ORDER BY opens_total + clicks_total DESC, value",
    )
    .await;
    let api: Vec<(String, u64, u64)> = countries["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| {
            (
                v["value"].as_str().expect("value").to_string(),
                n(v, "opens_total"),
                n(v, "clicks_total"),
            )
        })
        .collect();
    let from_view: Vec<(String, u64, u64)> = view
        .iter()
        .map(|v| {
            (
                v["value"].as_str().expect("value").to_string(),
                int(v, "opens_total"),
                int(v, "clicks_total"),
            )
        })
        .collect();
    assert_eq!(from_view, api, "v_campaign_breakdown");
    env.stop().await;
}
