//! ClickHouse storage: migrations, row types, queries
