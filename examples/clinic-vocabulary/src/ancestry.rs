//! Concept ancestry, in its own module: nothing outside this crate refers to it, and it is still
//! registered.

use crate::concept;
use pluginlake::prelude::*;
use polars::prelude::*;

/// Every concept is its own ancestor at distance 0 (OMOP's convention), plus one grouping concept.
#[asset(key_prefix = "vocab", group = "vocabulary")]
pub fn concept_ancestor(concept: DataFrame) -> Result<DataFrame> {
    let ids = concept.column("concept_id")?.clone();
    let n = ids.len();
    let mut ancestors = ids.as_materialized_series().clone();
    ancestors.rename("ancestor_concept_id".into());
    let mut descendants = ids.as_materialized_series().clone();
    descendants.rename("descendant_concept_id".into());
    let mut frame = DataFrame::new(
        n,
        vec![
            ancestors.into(),
            descendants.into(),
            Series::new("min_levels_of_separation".into(), vec![0i32; n]).into(),
        ],
    )?;
    // Cardiovascular disease (134057) groups hypertension, arteriosclerosis and infarction.
    let grouped = df![
        "ancestor_concept_id" => [134057i32, 134057, 134057],
        "descendant_concept_id" => [320128i32, 317576, 4329847],
        "min_levels_of_separation" => [1i32, 1, 1],
    ]?;
    frame.vstack_mut(&grouped)?;
    Ok(frame)
}
