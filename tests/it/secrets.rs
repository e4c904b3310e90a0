//! Passwords in connection strings never reach errors, `Debug` output or logs, however they are
//! written.

use crate::common;

use pluginlake::run::RunStore;
use pluginlake::{Catalog, Lake};

/// Nothing listens on port 1: opening fails, and DuckDB's PostgreSQL extension quotes the
/// connection string in its message.
const UNREACHABLE: [&str; 4] = [
    "host=127.0.0.1 port=1 user=postgres password=s3cret dbname=test",
    "host=127.0.0.1 port=1 user=postgres password = s3cret dbname=test",
    "host=127.0.0.1 port=1 user=postgres password='a s3cret' dbname=test",
    "postgresql://postgres:s3cret@127.0.0.1:1/test",
];

#[test]
fn a_catalog_that_cannot_be_reached_is_an_error_without_its_password() {
    for conn in UNREACHABLE {
        let dir = tempfile::tempdir().unwrap();
        let config = common::config_in(dir.path()).with_catalog(Catalog::postgres(conn));
        let err = Lake::open(config).unwrap_err();
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains("s3cret"), "{conn:?}: {shown}");
        }
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
    }
}

#[test]
fn a_lake_on_a_catalog_with_a_password_shows_none() {
    // The local server trusts every connection and ignores the password.
    let Some(Catalog::Postgres { connection, schema }) = common::postgres_catalog("secrets") else {
        return;
    };
    let catalog = Catalog::Postgres {
        connection: format!("{connection} password='a s3cret'"),
        schema,
    };
    let _cleanup = common::DropPostgresSchema(catalog.clone());
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(common::config_in(dir.path()).with_catalog(catalog)).unwrap();
    let err = lake
        .connection()
        .unwrap()
        .execute_batch("SELECT * FROM lake.main.nowhere")
        .unwrap_err();
    for shown in [
        format!("{lake:?}"),
        format!("{:?}", lake.config()),
        err.to_string(),
    ] {
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}

#[tokio::test]
async fn a_run_store_that_cannot_be_reached_is_an_error_without_its_password() {
    // (Each PostgreSQL URL takes the pool's 30 s to give up; the other spellings of a password
    // are covered by `lake::redact`'s tests.)
    for url in [
        "postgres://postgres:s3cret@127.0.0.1:1/test",
        "mysql://root:s3cret@127.0.0.1:1/test",
    ] {
        let err = match RunStore::open(url).await {
            Err(e) => e,
            Ok(_) => panic!("nothing listens on port 1"),
        };
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains("s3cret"), "{url}: {shown}");
        }
    }
}
