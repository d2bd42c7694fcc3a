use clickhouse::Client;
use mailpulse_config::ClickHouseConfig;

/// A client for the configured server and database.
///
/// Validation is off: ClickHouse 18.16 knows neither `RowBinaryWithNamesAndTypes` nor
/// `describe_include_subcolumns`, which validation needs. Row types are checked against the
/// schema by tests instead (see [`crate::wire`]).
pub fn connect(config: &ClickHouseConfig) -> Client {
    server(config).with_database(&config.database)
}

/// A client without a default database, for `CREATE DATABASE`.
pub(crate) fn server(config: &ClickHouseConfig) -> Client {
    let mut client = Client::default()
        .with_url(&config.url)
        .with_user(&config.user)
        .with_validation(false);
    if !config.password.is_empty() {
        client = client.with_password(&config.password);
    }
    client
}
