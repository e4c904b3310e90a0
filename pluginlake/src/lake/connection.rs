//! [`LakeConnection`]: a DuckDB connection for ad-hoc SQL that keeps its lake's database open.

use std::sync::Arc;

use duckdb::{Connection, Params, Row, Statement};

use crate::error::{Context, Result};
use crate::lake::database::Database;

/// A DuckDB connection with the lake attached, from [`Lake::connection`](crate::Lake::connection):
/// for ad-hoc SQL (`SELECT * FROM lake.omop.person`).
///
/// It keeps the lake's DuckDB database open, so it may outlive every [`Lake`](crate::Lake)
/// handle. It offers duckdb-rs's [`Connection`] methods for running SQL ([`execute_batch`],
/// [`execute`], [`query_row`], [`prepare`]) rather than the `Connection` itself, because a
/// `Connection` cloned from it would not keep the database open.
///
/// [`execute_batch`]: LakeConnection::execute_batch
/// [`execute`]: LakeConnection::execute
/// [`query_row`]: LakeConnection::query_row
/// [`prepare`]: LakeConnection::prepare
pub struct LakeConnection {
    // Field order is drop order: the connection goes before the database it uses.
    conn: Connection,
    database: Arc<Database>,
}

impl LakeConnection {
    pub(crate) fn new(conn: Connection, database: Arc<Database>) -> Self {
        LakeConnection { conn, database }
    }

    /// Another connection to the same database (its own transactions and settings).
    pub fn try_clone(&self) -> Result<LakeConnection> {
        let conn = self
            .conn
            .try_clone()
            .context(|| "cloning a DuckDB connection".into())?;
        Ok(LakeConnection::new(conn, self.database.clone()))
    }

    /// Run statements separated by `;` (no parameters), as [`Connection::execute_batch`].
    pub fn execute_batch(&self, sql: &str) -> duckdb::Result<()> {
        self.conn.execute_batch(sql)
    }

    /// Run one statement with parameters and return the rows it changed, as
    /// [`Connection::execute`].
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> duckdb::Result<usize> {
        self.conn.execute(sql, params)
    }

    /// Run a query and map its first row, as [`Connection::query_row`].
    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> duckdb::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> duckdb::Result<T>,
    {
        self.conn.query_row(sql, params, f)
    }

    /// Prepare a statement (rows, Arrow batches, ...), as [`Connection::prepare`].
    pub fn prepare(&self, sql: &str) -> duckdb::Result<Statement<'_>> {
        self.conn.prepare(sql)
    }

    /// The duckdb-rs connection, for pluginlake's own use (never handed out: a clone of it would
    /// not keep the database open).
    pub(crate) fn duckdb(&self) -> &Connection {
        &self.conn
    }
}

impl std::fmt::Debug for LakeConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeConnection").finish_non_exhaustive()
    }
}
