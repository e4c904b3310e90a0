//! The IO path on a 5,000,000-row OMOP condition_era-shaped frame.
//!
//! Measured in one run, so that ratios are comparable on a noisy machine:
//! (a) pluginlake materialize into DuckLake (Parquet fast path + `ducklake_add_data_files`),
//! (b) polars `write_parquet` of the same frame to the same disk (Rust polars' eager
//!     `ParquetWriter`, the floor before issue 10),
//! (s) the same frame through Rust polars' streaming Parquet sink (what Python's `write_parquet`
//!     runs),
//! (p) Python polars' `write_parquet` of the same frame to the same disk, in a Python process
//!     started by the bench (`benches/support/polars_write_parquet.py`; the Python floor; skipped
//!     with a message when Python or polars is missing: set `PLUGINLAKE_PYTHON` to the
//!     interpreter, default `~/.cache/pluginlake/py/bin/python`, then `python3`),
//! (c) DuckDB scanning the Arrow frame into a DuckLake table (`CREATE TABLE` + `INSERT ... SELECT *
//!     FROM <arrow>`: the plain way),
//! (d) pluginlake load back into a DataFrame,
//! (e) DuckDB's own export of the table to Arrow (`query_arrow`).
//!
//! After criterion's figures, an interleaved pass prints the ratios (a)/(p), (a)/(b), (c)/(b),
//! (d)/(e) and the peak memory of (a) over the frame's size.
//!
//! `cargo bench --bench io_path` (set `PLUGINLAKE_BENCH_ROWS` to change the size; add
//! `--features mimalloc` for mimalloc as the global allocator, as shipped binaries may use it).

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use std::hint::black_box;

use criterion::Criterion;
use pluginlake::{Lake, LakeConfig};
use polars::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rows() -> usize {
    std::env::var("PLUGINLAKE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000)
}

fn condition_era_frame(n: usize) -> DataFrame {
    let mut rng = StdRng::seed_from_u64(42);
    let sources: Vec<String> = (0..1000).map(|k| format!("SRC{k:09}")).collect();
    let start: Vec<i32> = (0..n).map(|_| rng.random_range(10_000..20_000)).collect();
    let end: Vec<i32> = start.iter().map(|s| s + rng.random_range(0..365)).collect();
    let date = |name: &str, v: Vec<i32>| {
        Series::new(name.into(), v)
            .cast(&DataType::Date)
            .unwrap()
            .into()
    };
    DataFrame::new(
        n,
        vec![
            Series::new("condition_era_id".into(), (0..n as i64).collect::<Vec<_>>()).into(),
            Series::new(
                "person_id".into(),
                (0..n)
                    .map(|_| rng.random_range(0..1_000_000i64))
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "condition_concept_id".into(),
                (0..n)
                    .map(|_| rng.random_range(0..50_000i32))
                    .collect::<Vec<_>>(),
            )
            .into(),
            date("condition_era_start_date", start),
            date("condition_era_end_date", end),
            Series::new(
                "condition_occurrence_count".into(),
                (0..n)
                    .map(|_| rng.random_range(1..100i32))
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "value".into(),
                (0..n).map(|_| rng.random::<f64>()).collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "source_value".into(),
                (0..n)
                    .map(|_| sources[rng.random_range(0..1000)].as_str())
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "is_primary".into(),
                (0..n).map(|_| rng.random_bool(0.3)).collect::<Vec<_>>(),
            )
            .into(),
        ],
    )
    .unwrap()
}

/// Python polars (and Dagster, when installed) in a child process, holding the same frame and
/// writing it on request.
struct PythonIo {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    dagster: bool,
}

impl PythonIo {
    /// Start the helper on `frame` (a Parquet file of the bench's frame), or say why not.
    fn start(frame: &Path, dir: &Path) -> Result<PythonIo, String> {
        let python = std::env::var_os("PLUGINLAKE_PYTHON")
            .map(PathBuf::from)
            .or_else(|| {
                let venv =
                    Path::new(&std::env::var_os("HOME")?).join(".cache/pluginlake/py/bin/python");
                venv.exists().then_some(venv)
            })
            .unwrap_or_else(|| PathBuf::from("python3"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/support/python_io.py");
        let log = dir.join("python.log");
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(frame)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("{} could not be started: {e}", python.display()))?;
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut ready = String::new();
        let _ = stdout.read_line(&mut ready);
        if !ready.starts_with("ready ") {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "{} could not run {} (is polars installed? `pip install polars`): {}",
                python.display(),
                script.display(),
                err.lines().last().unwrap_or("no message")
            ));
        }
        println!("Python: {} ({})", python.display(), ready.trim());
        Ok(PythonIo {
            child,
            stdin,
            stdout,
            dagster: !ready.trim().ends_with("dagster missing"),
        })
    }

    /// One write (`polars` or `dagster`), timed by Python.
    fn write(&mut self, command: &str) -> Duration {
        writeln!(self.stdin, "{command}").expect("the Python helper is running");
        self.stdin.flush().expect("the Python helper is running");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the Python helper answers");
        Duration::from_secs_f64(
            line.trim()
                .parse()
                .unwrap_or_else(|_| panic!("the Python helper failed ({command}): {line:?}")),
        )
    }
}

impl Drop for PythonIo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Setup {
    dir: PathBuf,
    df: DataFrame,
    lake: Lake,
    plain: Lake,
    python: Option<RefCell<PythonIo>>,
}

impl Setup {
    fn new() -> Setup {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("io_path_bench");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lake = Lake::open(LakeConfig::default().with_root(dir.join("lake"))).unwrap();
        // The plain way: the same lake, every frame scanned by DuckDB from Arrow.
        let plain = Lake::open(
            LakeConfig::default()
                .with_root(dir.join("plain"))
                .with_fast_path_min_bytes(usize::MAX),
        )
        .unwrap();
        let df = condition_era_frame(rows());
        lake.store(["bench", "condition_era"], df.clone()).unwrap();
        // The frame for Python, uncompressed (read once when the helper starts).
        let frame = dir.join("frame.parquet");
        ParquetWriter::new(std::fs::File::create(&frame).unwrap())
            .with_compression(ParquetCompression::Uncompressed)
            .finish(&mut df.clone())
            .unwrap();
        let python = match PythonIo::start(&frame, &dir) {
            Ok(p) => Some(RefCell::new(p)),
            Err(why) => {
                println!("Python (p) and Dagster (g) skipped: {why}");
                None
            }
        };
        Setup {
            dir,
            df,
            lake,
            plain,
            python,
        }
    }

    fn a_materialize(&self) {
        black_box(
            self.lake
                .store(["bench", "condition_era"], self.df.clone())
                .unwrap(),
        );
    }

    fn b_write_parquet(&self) {
        let file = std::fs::File::create(self.dir.join("floor.parquet")).unwrap();
        let mut df = self.df.clone();
        black_box(ParquetWriter::new(file).finish(&mut df).unwrap());
    }

    fn s_sink_parquet(&self) {
        let target = SinkTarget::Path(PlRefPath::new(
            self.dir.join("sink.parquet").to_str().unwrap(),
        ));
        let options = FileWriteFormat::Parquet(Arc::new(ParquetWriteOptions::default()));
        black_box(
            self.df
                .clone()
                .lazy()
                .sink(
                    SinkDestination::File { target },
                    options,
                    UnifiedSinkArgs::default(),
                )
                .unwrap()
                .collect_with_engine(Engine::Streaming)
                .unwrap(),
        );
    }

    /// Python's `write_parquet`, as Python timed it.
    fn p_python(&self) -> Option<Duration> {
        Some(self.python.as_ref()?.borrow_mut().write("polars"))
    }

    /// Dagster's materialization through its DuckDB polars IO manager, as Python timed it.
    fn g_dagster(&self) -> Option<Duration> {
        let mut python = self.python.as_ref()?.borrow_mut();
        python.dagster.then(|| python.write("dagster"))
    }

    fn c_duckdb_plain(&self) {
        black_box(
            self.plain
                .store(["bench", "condition_era"], self.df.clone())
                .unwrap(),
        );
    }

    fn d_load(&self) {
        let df: DataFrame = self.lake.load(["bench", "condition_era"]).unwrap();
        assert_eq!(df.height(), self.df.height());
        black_box(df);
    }

    fn e_duckdb_arrow(&self) {
        let conn = self.lake.connection().unwrap();
        let mut stmt = conn
            .prepare("SELECT * FROM lake.bench.condition_era")
            .unwrap();
        let batches: Vec<RecordBatch> = stmt.query_arrow([]).unwrap().collect();
        assert_eq!(
            batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
            self.df.height()
        );
        black_box(batches);
    }

    /// Old snapshots' files are DuckLake's to delete: expire them so the disk does not fill up.
    fn maintain(&self) {
        for lake in [&self.lake, &self.plain] {
            let conn = lake.connection().unwrap();
            conn.execute_batch(
                "CALL ducklake_expire_snapshots('lake', older_than => now()); \
                 CALL ducklake_cleanup_old_files('lake', cleanup_all => true);",
            )
            .unwrap();
        }
    }
}

/// A path of the bench: its index in the results and the closure that runs it once.
type Timed<'a> = (usize, &'a dyn Fn());

fn time(f: &dyn Fn()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2
}

extern "C" {
    /// glibc: return freed heap memory to the kernel.
    fn malloc_trim(pad: usize) -> i32;
}

/// Peak resident memory above the level before `f`, from the kernel's high-water mark. Freed
/// memory is first returned to the kernel, so that reused allocations do not hide the peak.
fn peak_extra_rss(f: impl FnOnce()) -> u64 {
    // SAFETY: malloc_trim only releases free memory.
    unsafe { malloc_trim(0) };
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kb("VmRSS:");
    f();
    status_kb("VmHWM:").saturating_sub(before) * 1024
}

/// Measured in a fresh process (`PLUGINLAKE_BENCH_PEAK=1`): a process that has run the other
/// paths keeps their memory and would under-report.
fn peak_in_fresh_process() -> (f64, f64) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("PLUGINLAKE_BENCH_PEAK", "1")
        .output()
        .expect("run the peak-memory measurement");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("peak "))
        .unwrap_or_else(|| panic!("no peak line in {text}"));
    let mut parts = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse::<f64>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// One variant of the Parquet writer's settings: the streaming sink with `options`, or polars'
/// eager `ParquetWriter` with them.
fn write_variant(df: &DataFrame, path: &Path, options: ParquetWriteOptions, eager: bool) {
    if eager {
        let mut df = df.clone();
        options
            .to_writer(std::fs::File::create(path).unwrap())
            .finish(&mut df)
            .unwrap();
        return;
    }
    let target = SinkTarget::Path(PlRefPath::new(path.to_str().unwrap()));
    df.clone()
        .lazy()
        .sink(
            SinkDestination::File { target },
            FileWriteFormat::Parquet(Arc::new(options)),
            UnifiedSinkArgs::default(),
        )
        .unwrap()
        .collect_with_engine(Engine::Streaming)
        .unwrap();
}

/// `PLUGINLAKE_BENCH_WRITER=1`: the writer's settings, each changed alone from pluginlake's
/// (streaming sink, zstd level 1, min/max/null statistics, 122,880-row groups), median of 5
/// interleaved rounds, with the file size.
fn writer_settings(df: &DataFrame) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("io_path_writer");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let zstd = |level| {
        ParquetCompression::Zstd(Some(
            polars_parquet::write::ZstdLevel::try_new(level).unwrap(),
        ))
    };
    let base = ParquetWriteOptions {
        compression: zstd(1),
        statistics: StatisticsOptions::default(),
        row_group_size: Some(122_880),
        ..ParquetWriteOptions::default()
    };
    let with = |f: &dyn Fn(&mut ParquetWriteOptions)| {
        let mut o = base.clone();
        f(&mut o);
        o
    };
    let variants: Vec<(&str, ParquetWriteOptions, bool)> = vec![
        (
            "pluginlake: streaming sink, zstd level 1, statistics, 122,880-row groups",
            base.clone(),
            false,
        ),
        ("eager ParquetWriter, same settings", base.clone(), true),
        (
            "before issue 10: eager ParquetWriter, zstd level 3, 262,144-row groups",
            with(&|o| {
                o.compression = ParquetCompression::Zstd(None);
                o.row_group_size = Some(512 * 512);
            }),
            true,
        ),
        (
            "Python's write_parquet: sink, zstd level 3, sink's default row groups",
            with(&|o| {
                o.compression = ParquetCompression::Zstd(None);
                o.row_group_size = None;
            }),
            false,
        ),
        (
            "zstd level 3 (default)",
            with(&|o| o.compression = ParquetCompression::Zstd(None)),
            false,
        ),
        (
            "row groups: 262,144 rows",
            with(&|o| o.row_group_size = Some(512 * 512)),
            false,
        ),
        (
            "row groups: 1,048,576 rows",
            with(&|o| o.row_group_size = Some(1 << 20)),
            false,
        ),
        (
            "statistics off",
            with(&|o| o.statistics = StatisticsOptions::empty()),
            false,
        ),
        (
            "lz4",
            with(&|o| o.compression = ParquetCompression::Lz4Raw),
            false,
        ),
        (
            "snappy",
            with(&|o| o.compression = ParquetCompression::Snappy),
            false,
        ),
        (
            "uncompressed",
            with(&|o| o.compression = ParquetCompression::Uncompressed),
            false,
        ),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    for round in 0..5 {
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            let (_, options, eager) = &variants[i];
            let path = dir.join(format!("v{i}.parquet"));
            let t = Instant::now();
            write_variant(df, &path, options.clone(), *eager);
            times[i].push(t.elapsed());
        }
    }
    println!(
        "\n== Parquet writer settings ({} rows, median of 5 interleaved rounds) ==",
        df.height()
    );
    for (i, ((name, _, _), t)) in variants.iter().zip(times).enumerate() {
        let size = std::fs::metadata(dir.join(format!("v{i}.parquet")))
            .unwrap()
            .len();
        println!(
            "{:>8.1} ms  {:>6.1} MiB  {name}",
            median(t).as_secs_f64() * 1e3,
            size as f64 / 1048576.0
        );
    }
}

fn main() {
    if std::env::var_os("PLUGINLAKE_BENCH_WRITER").is_some() {
        writer_settings(&condition_era_frame(rows()));
        return;
    }
    if std::env::var_os("PLUGINLAKE_BENCH_PEAK").is_some() {
        let df = condition_era_frame(rows());
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("io_path_peak");
        let _ = std::fs::remove_dir_all(&dir);
        let lake = Lake::open(LakeConfig::default().with_root(&dir)).unwrap();
        let peak = peak_extra_rss(|| {
            black_box(lake.store(["bench", "condition_era"], df.clone()).unwrap());
        });
        println!("peak {} {}", peak, df.estimated_size());
        return;
    }
    let s = Setup::new();
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    {
        let mut g = c.benchmark_group(format!("io_path_{}_rows", s.df.height()));
        g.bench_function("a_pluginlake_materialize", |b| b.iter(|| s.a_materialize()));
        g.bench_function("b_polars_write_parquet_floor", |b| {
            b.iter(|| s.b_write_parquet())
        });
        g.bench_function("s_polars_sink_parquet_streaming", |b| {
            b.iter(|| s.s_sink_parquet())
        });
        if s.python.is_some() {
            g.bench_function("p_python_polars_write_parquet", |b| {
                b.iter_custom(|n| (0..n).filter_map(|_| s.p_python()).sum())
            });
        }
        g.bench_function("c_duckdb_create_table_from_arrow", |b| {
            b.iter(|| s.c_duckdb_plain())
        });
        g.bench_function("d_pluginlake_load_dataframe", |b| b.iter(|| s.d_load()));
        g.bench_function("e_duckdb_export_arrow", |b| b.iter(|| s.e_duckdb_arrow()));
        g.finish();
    }
    s.maintain();

    // Interleaved rounds: every path once per round, the writes (a), (b), (s), (p) in an order
    // rotated every round and the loads (d), (e) alternating (the second of two runs profits
    // from memory and cache the first one left), so drift and order hit every side alike.
    let rounds = 10;
    let mut t: [Vec<Duration>; 8] = Default::default();
    let timed = |f: &dyn Fn()| Some(time(f));
    for round in 0..rounds {
        let writes: [(usize, &dyn Fn() -> Option<Duration>); 4] = [
            (0, &|| timed(&|| s.a_materialize())),
            (1, &|| timed(&|| s.b_write_parquet())),
            (5, &|| timed(&|| s.s_sink_parquet())),
            (6, &|| s.p_python()),
        ];
        for k in 0..writes.len() {
            let (i, f) = writes[(round + k) % writes.len()];
            t[i].extend(f());
        }
        let loads: [Timed; 2] = [(3, &|| s.d_load()), (4, &|| s.e_duckdb_arrow())];
        for k in 0..2 {
            let (i, f) = loads[(round + k) % 2];
            t[i].push(time(f));
        }
        t[2].push(time(&|| s.c_duckdb_plain()));
        t[7].extend(s.g_dagster());
        s.maintain();
    }
    let dagster = (!t[7].is_empty()).then(|| median(std::mem::take(&mut t[7])));
    let python = (!t[6].is_empty()).then(|| median(std::mem::take(&mut t[6])));
    let [a, b, cc, d, e, sink, _, _] = t.map(|v| {
        if v.is_empty() {
            Duration::ZERO
        } else {
            median(v)
        }
    });
    let (peak, frame) = peak_in_fresh_process();
    let ms = |x: Duration| x.as_secs_f64() * 1e3;
    println!(
        "\n== io_path ratios ({} rows, frame {:.0} MiB, median of {rounds} interleaved rounds) ==",
        s.df.height(),
        frame / 1048576.0
    );
    println!("(a) materialize       {:8.1} ms", ms(a));
    println!("(b) polars parquet    {:8.1} ms   Rust eager writer", ms(b));
    println!(
        "(s) polars sink       {:8.1} ms   Rust streaming sink",
        ms(sink)
    );
    match python {
        Some(p) => println!("(p) python polars     {:8.1} ms   floor", ms(p)),
        None => println!("(p) python polars          skipped (no Python with polars)"),
    }
    match dagster {
        Some(g) => println!(
            "(g) dagster duckdb    {:8.1} ms   Dagster's DuckDB polars IO manager",
            ms(g)
        ),
        None => {
            println!("(g) dagster duckdb         skipped (no Dagster with dagster-duckdb-polars)")
        }
    }
    println!("(c) duckdb from arrow {:8.1} ms", ms(cc));
    println!("(d) load dataframe    {:8.1} ms", ms(d));
    println!("(e) duckdb to arrow   {:8.1} ms", ms(e));
    if let Some(p) = python {
        println!(
            "(a)/(p) = {:.2}   target <= 1.30",
            a.as_secs_f64() / p.as_secs_f64()
        );
        println!("(b)/(p) = {:.2}", b.as_secs_f64() / p.as_secs_f64());
        println!("(s)/(p) = {:.2}", sink.as_secs_f64() / p.as_secs_f64());
    }
    if let Some(g) = dagster {
        println!(
            "(g)/(a) = {:.2}   target >= 5.00 (pluginlake that many times faster than Dagster)",
            g.as_secs_f64() / a.as_secs_f64()
        );
    }
    println!("(a)/(b) = {:.2}", a.as_secs_f64() / b.as_secs_f64());
    println!("(c)/(b) = {:.2}", cc.as_secs_f64() / b.as_secs_f64());
    println!(
        "(d)/(e) = {:.2}   target <= 1.10",
        d.as_secs_f64() / e.as_secs_f64()
    );
    println!(
        "peak memory of (a) above baseline = {:.0} MiB = {:.2} x frame   target <= 1.50",
        peak / 1048576.0,
        peak / frame
    );
}
