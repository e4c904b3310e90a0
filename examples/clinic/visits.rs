//! Visits as plain Rust structs. `Visits` has its own TypeHandler: the IO manager is extended,
//! not bypassed.

use pluginlake::io::{TableData, TableSink, Tabular};
use pluginlake::prelude::*;
use polars::prelude::*;

/// One outpatient visit.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Visit {
    pub visit_id: i64,
    pub person_id: i64,
    /// The diagnosis (an OMOP concept id from the vocabulary).
    pub concept_id: i32,
    /// Billed amount, when known.
    pub cost: Option<f64>,
}

/// A table of visits, one row per struct.
pub(crate) struct Visits(pub Vec<Visit>);

impl TypeHandler for Visits {
    fn store(self, sink: &mut TableSink) -> pluginlake::Result<()> {
        let v = &self.0;
        sink.put_dataframe(df![
            "visit_id" => v.iter().map(|x| x.visit_id).collect::<Vec<_>>(),
            "person_id" => v.iter().map(|x| x.person_id).collect::<Vec<_>>(),
            "concept_id" => v.iter().map(|x| x.concept_id).collect::<Vec<_>>(),
            "cost" => v.iter().map(|x| x.cost).collect::<Vec<_>>(),
        ]?)
    }

    fn load(data: TableData) -> pluginlake::Result<Self> {
        let df = data.into_dataframe()?;
        let (ids, persons) = (
            df.column("visit_id")?.i64()?,
            df.column("person_id")?.i64()?,
        );
        let (concepts, costs) = (df.column("concept_id")?.i32()?, df.column("cost")?.f64()?);
        Ok(Visits(
            (0..df.height())
                .map(|i| Visit {
                    visit_id: ids.get(i).unwrap_or_default(),
                    person_id: persons.get(i).unwrap_or_default(),
                    concept_id: concepts.get(i).unwrap_or_default(),
                    cost: costs.get(i),
                })
                .collect(),
        ))
    }
}

/// Its table is an ordinary table: DataFrame inputs can read it, and it can read theirs.
impl Tabular for Visits {}

/// This month's visits (generated).
#[asset(key_prefix = "clinic", group = "clinic")]
pub(crate) fn visits() -> Visits {
    let concepts = clinic_vocabulary::CONCEPTS;
    Visits(
        (1..=1_000)
            .map(|i| Visit {
                visit_id: i,
                person_id: 1 + i % 97,
                concept_id: concepts[(i as usize * 7) % concepts.len()].0,
                cost: (i % 5 != 0).then_some(80.0 + (i % 13) as f64 * 10.0),
            })
            .collect(),
    )
}
