//! Reports over visits and the vocabulary of the other crate.

use clinic_vocabulary::concept;
use pluginlake::prelude::*;
use polars::prelude::*;

use crate::visits::{visits, Visits};

/// Visits and billed amount per diagnosis, with the diagnosis' name.
#[asset(key_prefix = "report", group = "clinic")]
pub(crate) fn visits_per_concept(visits: Visits, concept: LazyFrame) -> Result<DataFrame> {
    let v = &visits.0;
    let frame = df![
        "concept_id" => v.iter().map(|x| x.concept_id).collect::<Vec<_>>(),
        "cost" => v.iter().map(|x| x.cost).collect::<Vec<_>>(),
    ]?;
    Ok(frame
        .lazy()
        .group_by([col("concept_id")])
        .agg([
            len().cast(DataType::Int64).alias("visits"),
            col("cost").sum().alias("billed"),
        ])
        .join(
            concept.select([col("concept_id"), col("concept_name")]),
            [col("concept_id")],
            [col("concept_id")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(["concept_id"], Default::default())
        .collect()?)
}
