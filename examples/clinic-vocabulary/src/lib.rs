//! OMOP vocabulary tables as pluginlake assets, in a crate of their own.
//!
//! A pipeline binary that depends on this crate gets these assets in
//! `Definitions::collect()` without listing them: `#[asset]` registers them at link time.

pub mod ancestry;

use pluginlake::prelude::*;
use polars::prelude::*;

/// A few SNOMED concepts (OMOP standard concept ids) with their ICD-10 source codes.
pub const CONCEPTS: [(i32, &str, &str); 6] = [
    (201826, "E11.9", "Type 2 diabetes mellitus"),
    (320128, "I10", "Essential hypertension"),
    (317576, "I25.10", "Coronary arteriosclerosis"),
    (255573, "J44.9", "Chronic obstructive lung disease"),
    (4329847, "I21.9", "Myocardial infarction"),
    (433736, "E66.9", "Obesity"),
];

/// The concept table: id, name and source code of every concept the clinic uses.
#[asset(key_prefix = "vocab", group = "vocabulary")]
pub fn concept() -> Result<DataFrame> {
    Ok(df![
        "concept_id" => CONCEPTS.map(|c| c.0),
        "concept_code" => CONCEPTS.map(|c| c.1),
        "concept_name" => CONCEPTS.map(|c| c.2),
    ]?)
}
