//! A small OMOP pipeline as pluginlake assets, materialized into DuckLake on the embedded default
//! (`.data/`): generated source-system tables -> `omop.person`, `omop.condition_occurrence` ->
//! `omop.condition_era`, with a blocking check that no era ends before it starts.
//!
//! ```text
//! cargo run --release --example omop                 # materialize everything, show the result
//! cargo run --release --example omop -- assets       # or any pluginlake command:
//! cargo run --release --example omop -- graph --dot
//! cargo run --release --example omop -- materialize '+omop/condition_era'
//! cargo run --release --example omop -- runs
//! ```

// `--features mimalloc`: mimalloc as this binary's allocator (README: "Shipping a binary").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use pluginlake::prelude::*;
use polars::prelude::*;

const PERSONS: usize = 10_000;
const CONDITIONS: usize = 250_000;
/// A few SNOMED concepts (OMOP standard concept ids) with the ICD-10 codes the source uses.
const CONCEPTS: [(i32, &str); 6] = [
    (201826, "E11.9"),  // type 2 diabetes mellitus
    (320128, "I10"),    // essential hypertension
    (317576, "I25.10"), // coronary arteriosclerosis
    (255573, "J44.9"),  // chronic obstructive lung disease
    (4329847, "I21.9"), // myocardial infarction
    (433736, "E66.9"),  // obesity
];
/// Days from 1970-01-01 to 2010-01-01.
const Y2010: i32 = 14_610;

/// A small deterministic generator, so every run writes the same data.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn dates(name: &str, days: Vec<Option<i32>>) -> PolarsResult<Column> {
    Ok(Series::new(name.into(), days).cast(&DataType::Date)?.into())
}

/// Patients as the source system exports them.
#[asset(key_prefix = "raw", group = "raw")]
fn persons() -> Result<DataFrame> {
    let mut rng = Rng(42);
    let codes: Vec<String> = (1..=PERSONS).map(|i| format!("P{i:07}")).collect();
    let sex: Vec<&str> = codes
        .iter()
        .map(|_| ["M", "F"][rng.below(2) as usize])
        .collect();
    // Born 1930-1990.
    let birth = (0..PERSONS)
        .map(|_| Some(-14_610 + rng.below(21_900) as i32))
        .collect();
    Ok(DataFrame::new(
        PERSONS,
        vec![
            Series::new("patient_code".into(), codes).into(),
            Series::new("sex".into(), sex).into(),
            dates("birth_date", birth)?,
        ],
    )?)
}

/// Diagnoses as the source system exports them: ICD-10 codes, some without a resolution date,
/// a few for patients the system does not know.
#[asset(key_prefix = "raw", group = "raw")]
fn conditions() -> Result<DataFrame> {
    let mut rng = Rng(7);
    let mut patient = Vec::with_capacity(CONDITIONS);
    let mut code = Vec::with_capacity(CONDITIONS);
    let mut onset = Vec::with_capacity(CONDITIONS);
    let mut resolved = Vec::with_capacity(CONDITIONS);
    for _ in 0..CONDITIONS {
        // 1 in 1,000 refers to an unknown patient.
        patient.push(format!("P{:07}", 1 + rng.below(PERSONS as u64 + 10)));
        code.push(CONCEPTS[rng.below(CONCEPTS.len() as u64) as usize].1);
        let start = Y2010 + rng.below(3_650) as i32;
        onset.push(Some(start));
        resolved.push((rng.below(4) != 0).then(|| start + rng.below(60) as i32));
    }
    Ok(DataFrame::new(
        CONDITIONS,
        vec![
            Series::new("patient_code".into(), patient).into(),
            Series::new("icd10".into(), code).into(),
            dates("onset_date", onset)?,
            dates("resolved_date", resolved)?,
        ],
    )?)
}

/// OMOP person: one row per patient.
#[asset(key_prefix = "omop", group = "omop", ins(raw = persons))]
fn person(raw: LazyFrame) -> Result<DataFrame> {
    Ok(raw
        .select([
            col("patient_code")
                .str()
                .strip_prefix(lit("P"))
                .cast(DataType::Int64)
                .alias("person_id"),
            when(col("sex").eq(lit("M")))
                .then(lit(8507i32))
                .otherwise(lit(8532i32))
                .alias("gender_concept_id"),
            col("birth_date")
                .dt()
                .year()
                .cast(DataType::Int32)
                .alias("year_of_birth"),
            col("birth_date")
                .dt()
                .month()
                .cast(DataType::Int32)
                .alias("month_of_birth"),
            col("birth_date")
                .dt()
                .day()
                .cast(DataType::Int32)
                .alias("day_of_birth"),
            lit(0i32).alias("race_concept_id"),
            lit(38003564i32).alias("ethnicity_concept_id"),
            col("patient_code").alias("person_source_value"),
        ])
        .sort(["person_id"], Default::default())
        .collect()?)
}

/// OMOP condition_occurrence: ICD-10 mapped to standard concepts, only for known persons.
#[asset(key_prefix = "omop", group = "omop", ins(raw = conditions))]
fn condition_occurrence(raw: LazyFrame, person: LazyFrame) -> Result<DataFrame> {
    let concepts = df![
        "icd10" => CONCEPTS.map(|c| c.1),
        "condition_concept_id" => CONCEPTS.map(|c| c.0),
    ]?;
    Ok(raw
        .join(
            person.select([col("person_id"), col("person_source_value")]),
            [col("patient_code")],
            [col("person_source_value")],
            JoinArgs::new(JoinType::Inner),
        )
        .join(
            concepts.lazy(),
            [col("icd10")],
            [col("icd10")],
            JoinArgs::new(JoinType::Inner),
        )
        .sort(["person_id", "onset_date"], Default::default())
        .with_row_index("condition_occurrence_id", Some(1))
        .select([
            col("condition_occurrence_id").cast(DataType::Int64),
            col("person_id"),
            col("condition_concept_id"),
            col("onset_date").alias("condition_start_date"),
            col("resolved_date").alias("condition_end_date"),
            lit(32817i32).alias("condition_type_concept_id"),
            col("icd10").alias("condition_source_value"),
        ])
        .collect()?)
}

/// OMOP condition_era, simplified: one era per person and concept spanning their occurrences.
#[asset(key_prefix = "omop", group = "omop", code_version = "1")]
fn condition_era(condition_occurrence: LazyFrame) -> Result<DataFrame> {
    Ok(condition_occurrence
        .group_by([col("person_id"), col("condition_concept_id")])
        .agg([
            col("condition_start_date")
                .min()
                .alias("condition_era_start_date"),
            col("condition_end_date")
                .fill_null(col("condition_start_date"))
                .max()
                .alias("condition_era_end_date"),
            col("condition_start_date")
                .count()
                .cast(DataType::Int32)
                .alias("condition_occurrence_count"),
        ])
        .sort(["person_id", "condition_concept_id"], Default::default())
        .with_row_index("condition_era_id", Some(1))
        .with_column(col("condition_era_id").cast(DataType::Int64))
        .collect()?)
}

/// No era ends before it starts.
#[asset_check(asset = condition_era, blocking)]
fn era_ends_after_start(eras: LazyFrame) -> Result<CheckResult> {
    let bad = eras
        .filter(col("condition_era_end_date").lt(col("condition_era_start_date")))
        .collect()?
        .height();
    Ok(
        CheckResult::from_bool(bad == 0, format!("{bad} eras end before they start"))
            .with_metadata("bad_rows", bad),
    )
}

/// Conditions of unknown patients were dropped: a warning, not a stop.
#[asset_check(asset = condition_occurrence)]
fn every_condition_kept(ctx: &AssetContext, occurrences: DataFrame) -> Result<CheckResult> {
    let raw = ctx
        .lake()
        .row_count(&AssetKey::parse("raw/conditions").table()?)?;
    let dropped = raw - occurrences.height() as u64;
    let result = if dropped == 0 {
        CheckResult::pass()
    } else {
        CheckResult::warn(format!("{dropped} conditions refer to unknown patients"))
    };
    Ok(result.with_metadata("dropped", dropped))
}

fn main() -> ExitCode {
    if std::env::args_os().len() > 1 {
        return pluginlake::cli::main();
    }
    // The README's command: materialize everything, then show what the lake holds.
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let shown = runtime.block_on(async {
        let defs = Definitions::registered()?;
        let config = LakeConfig::load()?;
        let mut out = std::io::stdout();
        let code =
            pluginlake::cli::run(defs, config, ["omop", "materialize", "*"], &mut out).await?;
        let lake = Lake::open_default()?;
        println!(
            "\nlake: DuckDB {} | catalog {} | data {}",
            lake.duckdb_version(),
            lake.config().catalog.describe(&lake.config().root),
            lake.data_path().display()
        );
        let eras: DataFrame = lake.load(["omop", "condition_era"])?;
        println!(
            "\nomop.condition_era ({} rows):\n{}",
            eras.height(),
            eras.head(Some(5))
        );
        println!("\ntables:");
        for table in lake.tables()? {
            println!(
                "  {:<28} {:>10} rows",
                table.to_string(),
                lake.row_count(&table)?
            );
        }
        Ok::<_, pluginlake::Error>(code)
    });
    shown.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })
}
