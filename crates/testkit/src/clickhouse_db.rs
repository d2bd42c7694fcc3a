//! Per-test ClickHouse databases on the stack's server.

use std::time::Duration;

use clickhouse::Client;

use crate::detached::run_cleanup;
use crate::error::within;
use crate::{try_stack, unique_name, TestkitError};

/// Bound on DDL: the local server answers in milliseconds.
const DDL_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for the stack's ClickHouse. Validation is off because 18.16 lacks what it asks for
/// (`RowBinaryWithNamesAndTypes`); that also means a row struct that mismatches its table is
/// not detected, so check each row struct against `DESCRIBE TABLE` in a test.
fn client(url: &str) -> Client {
    Client::default().with_url(url).with_validation(false)
}

/// A database that exists for one test and is dropped (with its tables) on `Drop`.
#[derive(Clone)]
pub struct TestDatabase {
    name: String,
    url: String,
    client: Client,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl TestDatabase {
    /// Creates a database named `<prefix>_<unique suffix>`.
    pub async fn new(prefix: &str) -> Result<TestDatabase, TestkitError> {
        Self::with_name(&unique_name(prefix)).await
    }

    /// Creates a database with exactly this name (e.g. one from [`crate::test_config`]).
    pub async fn with_name(name: &str) -> Result<TestDatabase, TestkitError> {
        if !mailpulse_config::valid_identifier(name) {
            return Err(TestkitError::Stack(format!(
                "`{name}` is not a valid ClickHouse database name"
            )));
        }
        let url = try_stack()?.clickhouse_url.clone();
        let action = format!("create database {name}");
        within(DDL_TIMEOUT, action.clone(), async {
            client(&url)
                .query(&format!("CREATE DATABASE {name}"))
                .execute()
                .await
                .map_err(|error| TestkitError::clickhouse(action.clone(), error))
        })
        .await?;
        Ok(TestDatabase {
            name: name.to_string(),
            client: client(&url).with_database(name),
            url,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A client whose default database is this one (validation off, see above).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The server's HTTP endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let url = self.url.clone();
        // A fresh client: the test's pooled connections belong to its runtime, which is busy
        // waiting for this drop.
        run_cleanup(
            format!("drop database {name}"),
            DDL_TIMEOUT,
            move || async move {
                client(&url)
                    .query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute()
                    .await
            },
        );
    }
}
