//! Within a run, an upstream's value is handed to its downstream assets in memory, and what a
//! downstream gets is exactly what a load from DuckLake at the upstream's snapshot gives: the same
//! Arrow schema and batches in both layouts a handler can ask for, and the same value, for every
//! handler.
//!
//! Each downstream asset first loads its upstream from DuckLake, then makes that snapshot
//! unreadable (another commit, then `ducklake_expire_snapshots`), then loads it again through its
//! context: the second load can only have come from memory.

use crate::common;
use crate::roundtrip::{all_types_batch, all_types_frame};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use pluginlake::graph::{AssetDef, AssetSpec};
use pluginlake::io::{
    CsvFile, JsonDocuments, JsonRows, ParquetFile, ParquetFiles, Rows, TableData, TableSink,
    XmlDocuments, XmlRows,
};
use pluginlake::prelude::*;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

/// A table's Arrow data exactly as a handler's `load` receives it, in the plain layout
/// (`VIEWS = false`) or with string views.
#[derive(Debug, PartialEq)]
struct Raw<const VIEWS: bool> {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl<const VIEWS: bool> TypeHandler for Raw<VIEWS> {
    const STRING_VIEWS: bool = VIEWS;

    fn store(self, sink: &mut TableSink) -> pluginlake::Result<()> {
        sink.put_batches(self.schema, self.batches)
    }

    fn load(data: TableData) -> pluginlake::Result<Self> {
        let (schema, batches) = data.into_batches();
        Ok(Raw { schema, batches })
    }
}

/// What the downstream asset got: from DuckLake, then handed over.
struct Seen<T> {
    read: T,
    handed: T,
    raw: [Raw<false>; 2],
    views: [Raw<true>; 2],
}

/// Load `upstream` as `T` from DuckLake, make its snapshot unreadable, load it through `ctx`.
async fn read_then_handed<T: TypeHandler>(ctx: &AssetContext, upstream: &AssetKey) -> (T, T) {
    let key = upstream.clone();
    let read = ctx
        .blocking(move |ctx| ctx.lake().load::<T>(key))
        .await
        .unwrap()
        .expect("the upstream's table as DuckLake reads it");
    ctx.blocking(expire_all_but_a_new_snapshot).await.unwrap();
    let handed = ctx
        .load::<T>(upstream.clone())
        .await
        .expect("the upstream's value, handed over in memory");
    (read, handed)
}

/// Commit a snapshot that touches no asset, then expire every older one.
fn expire_all_but_a_new_snapshot(ctx: &AssetContext) {
    let conn = ctx.lake().connection().unwrap();
    conn.execute_batch(
        "CREATE SCHEMA IF NOT EXISTS lake.handoff_other; \
         CREATE OR REPLACE TABLE lake.handoff_other.t AS SELECT 1 AS x; \
         CALL ducklake_expire_snapshots('lake', older_than => now());",
    )
    .unwrap();
}

/// Run a two-asset chain: `up` stores `make()`, `down` loads it as `T` (and raw, in both layouts)
/// from DuckLake and then handed over. Returns what `down` saw.
fn handed_over<U, T>(make: impl Fn() -> U + Send + Sync + 'static) -> Seen<T>
where
    U: TypeHandler,
    T: TypeHandler,
{
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let up = AssetKey::new(["handoff", "up"]);
    let seen: Arc<Mutex<Option<Seen<T>>>> = Arc::default();
    let upstream = AssetDef::new(AssetSpec::new(up.clone()), move |ctx| {
        let value = make();
        async move { ctx.store(value).await }
    });
    let slot = seen.clone();
    let downstream = AssetDef::new(
        AssetSpec::new(["handoff", "down"]).with_deps([up.clone()]),
        move |ctx| {
            let (slot, up) = (slot.clone(), up.clone());
            async move {
                let (read, handed) = read_then_handed::<T>(&ctx, &up).await;
                let (raw_read, raw_handed) = read_then_handed::<Raw<false>>(&ctx, &up).await;
                let (views_read, views_handed) = read_then_handed::<Raw<true>>(&ctx, &up).await;
                *slot.lock().unwrap() = Some(Seen {
                    read,
                    handed,
                    raw: [raw_read, raw_handed],
                    views: [views_read, views_handed],
                });
                ctx.store(df!["done" => [true]].unwrap()).await
            }
        },
    );
    let defs = Definitions::new([upstream, downstream]).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let run = runtime
        .block_on(defs.materialize(&lake, &Selection::all(), &MaterializeOptions::default()))
        .unwrap();
    assert!(run.success(), "{run:#?}");
    let seen = seen.lock().unwrap().take().expect("the downstream ran");
    assert_eq!(seen.raw[0], seen.raw[1], "plain layout");
    assert_eq!(seen.views[0], seen.views[1], "string views");
    seen
}

fn assert_same_frame(read: &DataFrame, handed: &DataFrame) {
    assert_eq!(read.schema(), handed.schema());
    assert!(read.equals_missing(handed), "{read}\n{handed}");
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Visit {
    visit_id: i64,
    person: String,
    cost: Option<f64>,
    codes: Vec<String>,
}

const PATIENTS: &str = r#"<patients>
  <patient id="1"><name><family>Smith</family></name><born>1970-01-02</born></patient>
  <patient id="2"><name><family>Jones</family></name></patient>
</patients>"#;

/// A file written once per test under a folder that outlives the run.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn parquet_file() -> PathBuf {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let path = dir.path().join("visits.parquet");
    let mut df = all_types_frame(100);
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    path
}

#[test]
fn a_dataframe_is_handed_over_as_dataframe_loads_it() {
    let seen = handed_over::<DataFrame, DataFrame>(|| all_types_frame(1_000));
    assert_same_frame(&seen.read, &seen.handed);
}

#[test]
fn a_lazyframe_is_handed_over_as_lazyframe_loads_it() {
    let seen = handed_over::<LazyFrame, LazyFrame>(|| all_types_frame(100).lazy());
    assert_same_frame(
        &seen.read.collect().unwrap(),
        &seen.handed.collect().unwrap(),
    );
}

#[test]
fn a_dataframe_is_handed_to_a_record_batch_input_as_record_batch_loads_it() {
    let seen = handed_over::<DataFrame, RecordBatch>(|| all_types_frame(100));
    assert_eq!(seen.read, seen.handed);
}

#[test]
fn a_record_batch_is_handed_over_as_record_batch_loads_it() {
    let seen = handed_over::<RecordBatch, RecordBatch>(|| all_types_batch(1_000));
    assert_eq!(seen.read, seen.handed);
}

#[test]
fn record_batches_are_handed_over_as_vec_record_batch_loads_them() {
    let seen = handed_over::<Vec<RecordBatch>, Vec<RecordBatch>>(|| {
        vec![all_types_batch(3_000), all_types_batch(10)]
    });
    assert_eq!(seen.read, seen.handed);
}

#[test]
fn rows_are_handed_over_as_rows_loads_them() {
    let seen = handed_over::<Rows<Visit>, Rows<Visit>>(|| {
        (0..500)
            .map(|i| Visit {
                visit_id: i,
                person: format!("p{}", i % 7),
                cost: (i % 3 != 0).then_some(i as f64 / 4.0),
                codes: (0..i % 4).map(|c| format!("c{c}")).collect(),
            })
            .collect()
    });
    assert_eq!(seen.read, seen.handed);
}

#[test]
fn json_documents_are_handed_over_as_json_documents_loads_them() {
    let seen = handed_over::<JsonDocuments, JsonDocuments>(|| {
        JsonDocuments::from_values((0..50).map(|i| {
            serde_json::json!({"id": i, "name": format!("n{i}"), "tags": ["a", i], "nested": {"x": i * 2}})
        }))
    });
    assert_eq!(seen.read, seen.handed);
}

#[test]
fn json_rows_are_handed_over_as_json_rows_loads_them() {
    let seen = handed_over::<JsonRows, JsonRows>(|| {
        JsonRows::from_values((0..50).map(|i| {
            serde_json::json!({"id": i, "name": format!("n{i}"), "score": i as f64 / 3.0, "ok": i % 2 == 0})
        }))
        .unwrap()
    });
    assert_eq!(seen.read, seen.handed);
}

#[test]
fn xml_documents_are_handed_over_as_xml_documents_loads_them() {
    let seen = handed_over::<XmlDocuments, XmlDocuments>(|| {
        XmlDocuments::from_texts([PATIENTS, "<patients/>"])
            .unwrap()
            .with_field("first_family", "patients/patient/name/family")
            .unwrap()
    });
    assert_eq!(seen.read.documents(), seen.handed.documents());
}

#[test]
fn xml_rows_are_handed_over_as_xml_rows_loads_them() {
    let seen =
        handed_over::<XmlRows, XmlRows>(|| XmlRows::parse(PATIENTS, "patients/patient").unwrap());
    assert_eq!(seen.read, seen.handed);
}

#[test]
fn a_csv_file_is_handed_over_as_csv_file_loads_it() {
    let path = file(
        "visits.csv",
        "id,name,day\n1,a,2024-01-02\n2,\"b, c\",\n3,,2024-03-04\n",
    );
    let seen = handed_over::<CsvFile, CsvFile>(move || CsvFile::new(&path));
    assert_eq!(bytes(seen.read.path()), bytes(seen.handed.path()));
}

#[test]
fn a_parquet_file_is_handed_over_as_parquet_file_loads_it() {
    let path = parquet_file();
    let seen = handed_over::<ParquetFile, ParquetFile>(move || ParquetFile::new(&path));
    assert_eq!(bytes(&seen.read.paths()[0]), bytes(&seen.handed.paths()[0]));
}

#[test]
fn registered_parquet_files_are_handed_over_as_parquet_files_loads_them() {
    let path = parquet_file();
    let seen = handed_over::<ParquetFiles, ParquetFiles>(move || ParquetFiles::new([&path]));
    assert_eq!(bytes(&seen.read.paths()[0]), bytes(&seen.handed.paths()[0]));
}

#[test]
fn a_table_above_the_handoff_bound_is_read_from_ducklake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let up = AssetKey::new(["handoff", "big"]);
    let upstream = AssetDef::new(AssetSpec::new(up.clone()), |ctx| async move {
        ctx.store(df!["v" => (0..50_001i64).collect::<Vec<_>>()].unwrap())
            .await
    });
    let failed: Arc<Mutex<Option<bool>>> = Arc::default();
    let slot = failed.clone();
    let downstream = AssetDef::new(
        AssetSpec::new(["handoff", "after_big"]).with_deps([up.clone()]),
        move |ctx| {
            let (slot, up) = (slot.clone(), up.clone());
            async move {
                ctx.blocking(expire_all_but_a_new_snapshot).await?;
                let loaded = ctx.load::<DataFrame>(up).await;
                *slot.lock().unwrap() = Some(loaded.is_err());
                ctx.store(df!["done" => [true]].unwrap()).await
            }
        },
    );
    let defs = Definitions::new([upstream, downstream]).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let run = runtime
        .block_on(defs.materialize(&lake, &Selection::all(), &MaterializeOptions::default()))
        .unwrap();
    assert!(run.success(), "{run:#?}");
    assert_eq!(
        *failed.lock().unwrap(),
        Some(true),
        "a load of an expired snapshot must fail when nothing was handed over"
    );
}
