//! DuckLake's maintenance functions, and the catalog's file references the orphan cleanup
//! checks against. Each statement runs inside an explicit transaction (see
//! [`crate::lake::maintenance`]) and returns one count, never the functions' rows (whose
//! columns may be NULL).

use chrono::{DateTime, SecondsFormat, Utc};

use super::{quote_literal, Ident};

fn timestamp(at: DateTime<Utc>) -> String {
    format!(
        "CAST({} AS TIMESTAMPTZ)",
        quote_literal(&at.to_rfc3339_opts(SecondsFormat::Micros, true))
    )
}

fn flag(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

/// How many snapshots `ducklake_expire_snapshots` expires: those committed before `older_than`
/// (never the latest).
pub(crate) fn expire_snapshots(
    catalog: &Ident,
    older_than: DateTime<Utc>,
    dry_run: bool,
) -> String {
    format!(
        "SELECT count(*) FROM ducklake_expire_snapshots({}, older_than => {}, dry_run => {})",
        quote_literal(catalog.as_str()),
        timestamp(older_than),
        flag(dry_run)
    )
}

/// `ducklake_merge_adjacent_files`: small adjacent files of every table merged (one count row).
pub(crate) fn merge_adjacent_files(catalog: &Ident) -> String {
    format!(
        "SELECT count(*) FROM ducklake_merge_adjacent_files({})",
        quote_literal(catalog.as_str())
    )
}

/// How many files `ducklake_cleanup_old_files` removes: those scheduled for deletion (by expiry
/// or merging) before `older_than`.
pub(crate) fn cleanup_old_files(
    catalog: &Ident,
    older_than: DateTime<Utc>,
    dry_run: bool,
) -> String {
    format!(
        "SELECT count(*) FROM ducklake_cleanup_old_files({}, older_than => {}, dry_run => {})",
        quote_literal(catalog.as_str()),
        timestamp(older_than),
        flag(dry_run)
    )
}

/// Every file path the catalog references in `metadata` (data files, delete files, files
/// scheduled for deletion), as stored (relative or absolute).
pub(crate) fn referenced_files(metadata: &str) -> String {
    format!(
        "SELECT path FROM (SELECT path FROM {metadata}.ducklake_data_file \
         UNION ALL SELECT path FROM {metadata}.ducklake_delete_file \
         UNION ALL SELECT path FROM {metadata}.ducklake_files_scheduled_for_deletion) \
         WHERE path IS NOT NULL"
    )
}
