//! Numbered schema migrations, embedded in the binary and applied in order, once each.
//!
//! `schemas/migrations/NNNN_name.sql` holds one or more statements; a statement ends with `;`
//! at the end of a line, and lines starting with `--` are comments. Every statement is written
//! with `IF NOT EXISTS` (or is a `DROP TABLE IF EXISTS`), so a migration interrupted half-way is
//! simply applied again. ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`, so such a statement
//! is run here as a check of `system.columns` plus a plain `ADD COLUMN`. Applied
//! versions are recorded in `schema_migrations`. Two `migrate` runs at the same moment are not
//! coordinated: run one (a deploy hook or an init container), not one per replica.

use clickhouse::Client;
use mailpulse_config::{valid_identifier, ClickHouseConfig};
use serde::Deserialize;

use crate::client::{connect, server};
use crate::StoreError;

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in the order they apply. Add new files here; never edit an applied one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "events",
        sql: include_str!("../../../schemas/migrations/0001_events.sql"),
    },
    Migration {
        version: 2,
        name: "campaign_stats",
        sql: include_str!("../../../schemas/migrations/0002_campaign_stats.sql"),
    },
    Migration {
        version: 3,
        name: "campaign_uniques",
        sql: include_str!("../../../schemas/migrations/0003_campaign_uniques.sql"),
    },
    Migration {
        version: 4,
        name: "ingest_offsets",
        sql: include_str!("../../../schemas/migrations/0004_ingest_offsets.sql"),
    },
    Migration {
        version: 5,
        name: "privacy",
        sql: include_str!("../../../schemas/migrations/0005_privacy.sql"),
    },
    Migration {
        version: 6,
        name: "api_tenants",
        sql: include_str!("../../../schemas/migrations/0006_api_tenants.sql"),
    },
    Migration {
        version: 7,
        name: "bi_views",
        sql: include_str!("../../../schemas/migrations/0007_bi_views.sql"),
    },
    Migration {
        version: 8,
        name: "deliveries",
        sql: include_str!("../../../schemas/migrations/0008_deliveries.sql"),
    },
    Migration {
        version: 9,
        name: "end_pixel",
        sql: include_str!("../../../schemas/migrations/0009_end_pixel.sql"),
    },
];

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations \
     (version UInt32, name String, applied_at DateTime('UTC')) \
     ENGINE = MergeTree ORDER BY version";

/// What [`migrate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this run.
    pub applied: Vec<(u32, &'static str)>,
    /// Versions that were already recorded.
    pub already_applied: Vec<u32>,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct AppliedVersion {
    version: u32,
}

/// Creates the database if needed and applies every migration not yet recorded.
pub async fn migrate(config: &ClickHouseConfig) -> Result<MigrationReport, StoreError> {
    if !valid_identifier(&config.database) {
        return Err(StoreError::InvalidDatabase(config.database.clone()));
    }
    server(config)
        .query(&format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            config.database
        ))
        .execute()
        .await?;
    let client = connect(config);
    client.query(CREATE_MIGRATIONS_TABLE).execute().await?;
    let recorded: Vec<u32> = client
        .query("SELECT version FROM schema_migrations")
        .fetch_all::<AppliedVersion>()
        .await?
        .into_iter()
        .map(|row| row.version)
        .collect();

    let mut report = MigrationReport::default();
    for migration in MIGRATIONS {
        if recorded.contains(&migration.version) {
            report.already_applied.push(migration.version);
            continue;
        }
        apply(&client, migration).await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
        report.applied.push((migration.version, migration.name));
    }
    Ok(report)
}

async fn apply(client: &Client, migration: &Migration) -> Result<(), StoreError> {
    let failed = |source| StoreError::Migration {
        version: migration.version,
        name: migration.name,
        source,
    };
    for statement in statements(migration.sql) {
        let sql = match AddColumn::parse(&statement) {
            Some(add) if add.column_exists(client).await.map_err(failed)? => continue,
            Some(add) => add.unguarded,
            None => statement,
        };
        client.query(&sql).execute().await.map_err(failed)?;
    }
    client
        .query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, now())")
        .bind(migration.version)
        .bind(migration.name)
        .execute()
        .await
        .map_err(failed)?;
    Ok(())
}

/// An `ALTER TABLE t ADD COLUMN IF NOT EXISTS c …` statement, which ClickHouse 18.16 cannot
/// parse: applied as "if `c` is missing, `ADD COLUMN c …`", valid on every version.
#[derive(Debug, PartialEq, Eq)]
struct AddColumn<'a> {
    table: &'a str,
    column: &'a str,
    /// The statement without `IF NOT EXISTS`.
    unguarded: String,
}

impl<'a> AddColumn<'a> {
    const GUARD: &'static str = "ADD COLUMN IF NOT EXISTS ";

    fn parse(statement: &'a str) -> Option<AddColumn<'a>> {
        let rest = statement.strip_prefix("ALTER TABLE ")?.trim_start();
        let (table, rest) = rest.split_once(char::is_whitespace)?;
        let rest = rest.trim_start().strip_prefix(Self::GUARD)?;
        let column = rest.split_whitespace().next()?;
        let unguarded = format!("ALTER TABLE {table} ADD COLUMN {rest}");
        Some(AddColumn {
            table,
            column,
            unguarded,
        })
    }

    async fn column_exists(&self, client: &Client) -> Result<bool, clickhouse::error::Error> {
        let count: u64 = client
            .query(
                "SELECT count() FROM system.columns \
                 WHERE database = currentDatabase() AND table = ? AND name = ?",
            )
            .bind(self.table)
            .bind(self.column)
            .fetch_one()
            .await?;
        Ok(count > 0)
    }
}

/// Splits a migration file into statements: each ends with `;` at the end of a line.
pub fn statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        let trimmed = line.trim_end();
        if let Some(last) = trimmed.strip_suffix(';') {
            current.push_str(last);
            push_statement(&mut statements, &mut current);
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    push_statement(&mut statements, &mut current);
    statements
}

fn push_statement(statements: &mut Vec<String>, current: &mut String) {
    let statement = current.trim();
    if !statement.is_empty() {
        statements.push(statement.to_string());
    }
    current.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_line_ending_semicolons_and_skip_comments() {
        let sql = "-- a comment; with a semicolon;\nCREATE TABLE a\n(x UInt8);\n\n\
                   SELECT 'not;the end'\nFROM b;\nSELECT 3";
        assert_eq!(
            statements(sql),
            vec![
                "CREATE TABLE a\n(x UInt8)".to_string(),
                "SELECT 'not;the end'\nFROM b".to_string(),
                "SELECT 3".to_string(),
            ]
        );
    }

    #[test]
    fn a_guarded_add_column_is_split_into_a_check_and_a_plain_alter() {
        let add = AddColumn::parse(
            "ALTER TABLE events ADD COLUMN IF NOT EXISTS end_pixel UInt8 DEFAULT 0 AFTER gpc",
        )
        .expect("recognised");
        assert_eq!(
            add,
            AddColumn {
                table: "events",
                column: "end_pixel",
                unguarded: "ALTER TABLE events ADD COLUMN end_pixel UInt8 DEFAULT 0 AFTER gpc"
                    .to_string(),
            }
        );
        assert_eq!(
            AddColumn::parse("ALTER TABLE events ADD COLUMN end_pixel UInt8"),
            None
        );
        assert_eq!(
            AddColumn::parse("CREATE TABLE IF NOT EXISTS t (x UInt8)"),
            None
        );
    }

    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("schemas/migrations is readable")
            .map(|entry| entry.expect("directory entry").file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, listed);
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                migration.version as usize,
                index + 1,
                "versions are 1, 2, 3, …"
            );
        }
    }

    #[test]
    fn every_statement_is_idempotent() {
        for migration in MIGRATIONS {
            for statement in statements(migration.sql) {
                assert!(
                    statement.contains("IF NOT EXISTS")
                        || statement.starts_with("DROP TABLE IF EXISTS "),
                    "migration {} has a statement that fails when applied twice: {statement}",
                    migration.version
                );
            }
        }
    }
}
