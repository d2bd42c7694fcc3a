//! Deleting rows: which tables hold a column, counting what a condition matches, running
//! `ALTER TABLE … DELETE` mutations and waiting until `system.mutations` reports them done
//! (ClickHouse 18.16 has no `mutations_sync`).
//!
//! A mutation rewrites the parts that exist when it is created; rows inserted afterwards are
//! untouched. That is why erasure stops new rows first (see `erasure`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use clickhouse::Client;
use serde::{Deserialize, Serialize};

use crate::PrivacyError;

/// Rows a deletion removed from one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCount {
    pub table: String,
    pub rows: u64,
}

/// A `WHERE` condition with `?` placeholders and their string values, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    pub sql: String,
    pub binds: Vec<String>,
}

impl Condition {
    pub fn new(sql: impl Into<String>, binds: Vec<String>) -> Condition {
        Condition {
            sql: sql.into(),
            binds,
        }
    }

    /// `column IN (?, ?, …)` for `values` (never empty: an empty list matches nothing).
    pub fn one_of(column: &str, values: &[String]) -> Condition {
        if values.is_empty() {
            return Condition::new("0", Vec::new());
        }
        let marks = vec!["?"; values.len()].join(", ");
        Condition::new(format!("{column} IN ({marks})"), values.to_vec())
    }

    /// Appends `other`'s binds only (its SQL is placed elsewhere in the statement).
    pub fn and_binds(mut self, other: &Condition) -> Condition {
        self.binds.extend(other.binds.iter().cloned());
        self
    }

    pub fn and(mut self, other: Condition) -> Condition {
        self.sql = format!("({}) AND ({})", self.sql, other.sql);
        self.binds.extend(other.binds);
        self
    }

    fn bound(&self, client: &Client, sql: &str) -> clickhouse::query::Query {
        self.binds
            .iter()
            .fold(client.query(sql), |query, value| query.bind(value.as_str()))
    }
}

/// `name` quoted as a ClickHouse identifier.
pub(crate) fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct TableName {
    table: String,
}

/// Tables (not views) of `database` that have every one of `columns`, sorted.
pub(crate) async fn tables_with_columns(
    client: &Client,
    database: &str,
    columns: &[&str],
) -> Result<Vec<String>, PrivacyError> {
    let marks = vec!["?"; columns.len()].join(", ");
    let sql = format!(
        "SELECT table FROM system.columns \
         WHERE database = ? AND name IN ({marks}) \
           AND table IN (SELECT name FROM system.tables WHERE database = ? \
                         AND engine NOT IN ('View', 'MaterializedView')) \
         GROUP BY table HAVING count() = ? ORDER BY table"
    );
    let mut query = client.query(&sql).bind(database);
    for column in columns {
        query = query.bind(*column);
    }
    let rows = query
        .bind(database)
        .bind(columns.len() as u64)
        .fetch_all::<TableName>()
        .await?;
    Ok(rows.into_iter().map(|row| row.table).collect())
}

/// Rows of `table` matching `condition`.
pub(crate) async fn count(
    client: &Client,
    table: &str,
    condition: &Condition,
) -> Result<u64, PrivacyError> {
    let sql = format!(
        "SELECT count() FROM {} WHERE {}",
        quoted(table),
        condition.sql
    );
    Ok(condition.bound(client, &sql).fetch_one::<u64>().await?)
}

/// Starts `ALTER TABLE table DELETE WHERE condition` (returns once the mutation is queued).
pub(crate) async fn start_delete(
    client: &Client,
    table: &str,
    condition: &Condition,
) -> Result<(), PrivacyError> {
    let sql = format!(
        "ALTER TABLE {} DELETE WHERE {}",
        quoted(table),
        condition.sql
    );
    condition.bound(client, &sql).execute().await?;
    Ok(())
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Pending {
    table: String,
}

/// Waits until no mutation of `tables` in `database` is unfinished.
pub(crate) async fn wait_done(
    client: &Client,
    database: &str,
    tables: &BTreeSet<String>,
    timeout: Duration,
) -> Result<(), PrivacyError> {
    if tables.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    let marks = vec!["?"; tables.len()].join(", ");
    let sql = format!(
        "SELECT table FROM system.mutations \
         WHERE database = ? AND table IN ({marks}) AND is_done = 0 \
         GROUP BY table ORDER BY table"
    );
    loop {
        let mut query = client.query(&sql).bind(database);
        for table in tables {
            query = query.bind(table.as_str());
        }
        let pending = query.fetch_all::<Pending>().await?;
        let Some(first) = pending.first() else {
            return Ok(());
        };
        if started.elapsed() >= timeout {
            return Err(PrivacyError::MutationTimeout {
                table: first.table.clone(),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

/// Counts, deletes and waits: for each (table, condition) with matching rows, one mutation.
/// Returns the rows each table had matching, in the given order.
pub(crate) async fn delete_everywhere(
    client: &Client,
    database: &str,
    plan: &[(String, Condition)],
    timeout: Duration,
) -> Result<Vec<TableCount>, PrivacyError> {
    let mut counts = Vec::with_capacity(plan.len());
    let mut mutated = BTreeSet::new();
    for (table, condition) in plan {
        let rows = count(client, table, condition).await?;
        if rows > 0 {
            start_delete(client, table, condition).await?;
            mutated.insert(table.clone());
        }
        counts.push(TableCount {
            table: table.clone(),
            rows,
        });
    }
    wait_done(client, database, &mutated, timeout).await?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_combine_with_their_binds_in_order() {
        let keys = vec!["s1".to_string(), "p1".to_string()];
        let condition = Condition::new("tenant = ?", vec!["acme".into()])
            .and(Condition::one_of("subscriber_key", &keys));
        assert_eq!(condition.sql, "(tenant = ?) AND (subscriber_key IN (?, ?))");
        assert_eq!(condition.binds, vec!["acme", "s1", "p1"]);
        assert_eq!(Condition::one_of("x", &[]).sql, "0");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quoted("events"), "`events`");
        assert_eq!(quoted("a`b"), "`a\\`b`");
    }
}
