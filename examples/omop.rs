//! Writes a few OMOP-shaped tables into DuckLake on the embedded default (`.data/`), reads one
//! back and prints the tables, their row counts and the snapshot list.
//!
//! ```text
//! cargo run --release --example omop
//! ```

use std::time::Instant;

use pluginlake::prelude::*;
use polars::prelude::*;

/// A small deterministic generator, so every run writes the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PERSONS: usize = 10_000;
const CONDITIONS: usize = 250_000;
/// A few SNOMED concepts (OMOP standard concept ids) with their source codes.
const CONCEPTS: [(i32, &str); 6] = [
    (201826, "E11.9"),  // type 2 diabetes mellitus
    (320128, "I10"),    // essential hypertension
    (317576, "I25.10"), // coronary arteriosclerosis
    (255573, "J44.9"),  // chronic obstructive lung disease
    (4329847, "I21.9"), // myocardial infarction
    (433736, "E66.9"),  // obesity
];

fn person(rng: &mut Rng) -> PolarsResult<DataFrame> {
    let ids: Vec<i64> = (1..=PERSONS as i64).collect();
    let gender: Vec<i32> = ids
        .iter()
        .map(|_| if rng.below(2) == 0 { 8507 } else { 8532 })
        .collect();
    let year: Vec<i32> = ids.iter().map(|_| 1930 + rng.below(80) as i32).collect();
    let month: Vec<i32> = ids.iter().map(|_| 1 + rng.below(12) as i32).collect();
    let day: Vec<i32> = ids.iter().map(|_| 1 + rng.below(28) as i32).collect();
    let race: Vec<i32> = ids
        .iter()
        .map(|_| [8527, 8516, 8515, 0][rng.below(4) as usize])
        .collect();
    let source: Vec<String> = ids.iter().map(|id| format!("P{id:07}")).collect();
    df![
        "person_id" => ids,
        "gender_concept_id" => gender,
        "year_of_birth" => year,
        "month_of_birth" => month,
        "day_of_birth" => day,
        "race_concept_id" => race,
        "ethnicity_concept_id" => vec![38003564i32; PERSONS],
        "person_source_value" => source,
    ]
}

fn condition_occurrence(rng: &mut Rng) -> PolarsResult<DataFrame> {
    let ids: Vec<i64> = (1..=CONDITIONS as i64).collect();
    let mut person = Vec::with_capacity(CONDITIONS);
    let mut concept = Vec::with_capacity(CONDITIONS);
    let mut source = Vec::with_capacity(CONDITIONS);
    let mut start = Vec::with_capacity(CONDITIONS);
    let mut end = Vec::with_capacity(CONDITIONS);
    for _ in 0..CONDITIONS {
        person.push(1 + rng.below(PERSONS as u64) as i64);
        let (c, s) = CONCEPTS[rng.below(CONCEPTS.len() as u64) as usize];
        concept.push(c);
        source.push(s);
        let s = 14_610 + rng.below(3_650) as i32; // 2010-01-01 + up to ten years, as days
        start.push(s);
        end.push((rng.below(4) != 0).then(|| s + rng.below(60) as i32));
    }
    let date = |name: &str, v: Series| v.with_name(name.into()).cast(&DataType::Date);
    DataFrame::new(
        CONDITIONS,
        vec![
            Series::new("condition_occurrence_id".into(), ids).into(),
            Series::new("person_id".into(), person).into(),
            Series::new("condition_concept_id".into(), concept).into(),
            date("condition_start_date", Series::new("".into(), start))?.into(),
            date("condition_end_date", Series::new("".into(), end))?.into(),
            Series::new(
                "condition_type_concept_id".into(),
                vec![32817i32; CONDITIONS],
            )
            .into(),
            Series::new("condition_source_value".into(), source).into(),
        ],
    )
}

/// OMOP's condition_era, simplified: one era per person and concept spanning their occurrences.
fn condition_era(occurrences: DataFrame) -> PolarsResult<DataFrame> {
    occurrences
        .lazy()
        .group_by([col("person_id"), col("condition_concept_id")])
        .agg([
            col("condition_start_date")
                .min()
                .alias("condition_era_start_date"),
            col("condition_end_date")
                .fill_null(col("condition_start_date"))
                .max()
                .alias("condition_era_end_date"),
            col("condition_occurrence_id")
                .count()
                .cast(DataType::Int32)
                .alias("condition_occurrence_count"),
        ])
        .sort(["person_id", "condition_concept_id"], Default::default())
        .with_row_index("condition_era_id", Some(1))
        .collect()
}

fn main() -> Result<()> {
    let started = Instant::now();
    let lake = Lake::open_default()?;
    println!(
        "lake: DuckDB {} | catalog {} | data {}",
        lake.duckdb_version(),
        lake.config().catalog.describe(&lake.config().root),
        lake.data_path().display()
    );
    for e in lake.extensions() {
        println!("extension {}: {}", e.name, e.step);
    }

    let run = format!("omop-example-{}", std::process::id());
    let options = WriteOptions::run(&run);
    let mut rng = Rng(42);
    let person = person(&mut rng).expect("generate person");
    let occurrences = condition_occurrence(&mut rng).expect("generate condition_occurrence");

    let mut written = vec![
        lake.store_with(["omop", "person"], person, &options)?,
        lake.store_with(["omop", "condition_occurrence"], occurrences, &options)?,
    ];
    // Downstream: read the stored occurrences back from DuckLake and derive eras from them.
    let stored: DataFrame = lake.load(["omop", "condition_occurrence"])?;
    let eras = condition_era(stored).expect("derive condition_era");
    written.push(lake.store_with(["omop", "condition_era"], eras, &options)?);

    println!("\nmaterialized (run {run}):");
    println!(
        "{:<28} {:>10} {:>9} {:>12} {:>8}  path",
        "table", "rows", "snapshot", "parquet B", "ms"
    );
    for m in &written {
        println!(
            "{:<28} {:>10} {:>9} {:>12} {:>8.1}  {:?}",
            m.table,
            m.rows,
            m.snapshot_id,
            m.parquet_bytes,
            m.duration.as_secs_f64() * 1e3,
            m.path
        );
    }

    let era: DataFrame = lake.load_with(
        ["omop", "condition_era"],
        &LoadOptions::default().columns([
            "person_id",
            "condition_concept_id",
            "condition_era_start_date",
            "condition_era_end_date",
            "condition_occurrence_count",
        ]),
    )?;
    println!(
        "\nomop.condition_era read back ({} rows):\n{}",
        era.height(),
        era.head(Some(5))
    );

    println!("\ntables:");
    for table in lake.tables()? {
        println!(
            "  {:<28} {:>10} rows",
            table.to_string(),
            lake.row_count(&table)?
        );
    }

    println!("\nsnapshots:");
    for s in lake.snapshots()? {
        println!(
            "  {:>4}  {}  {:<10} {}",
            s.snapshot_id,
            s.time,
            s.author.as_deref().unwrap_or("-"),
            s.commit_message.as_deref().unwrap_or(&s.changes)
        );
    }
    println!("\ndone in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}
