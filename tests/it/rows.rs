//! `Rows<T>`: a `Vec` of a serde type stored as a DuckLake table, one column per field, typed
//! from the type (not from the data), and loaded back equal.

use crate::common;

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use pluginlake::io::rows::Rows;
use pluginlake::{Error, Lake};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The table's columns and DuckDB types, as `name TYPE`, from DuckDB's `DESCRIBE`.
fn columns(lake: &Lake, table: &str) -> Vec<String> {
    let conn = lake.connection().expect("a connection");
    let sql = format!(
        "SELECT column_name || ' ' || column_type FROM (DESCRIBE {}.{table})",
        lake.name().as_str()
    );
    let mut stmt = conn.prepare(&sql).expect("DESCRIBE");
    stmt.query_map([], |r| r.get::<_, String>(0))
        .expect("DESCRIBE runs")
        .map(|r| r.expect("a column"))
        .collect()
}

/// One value of a query.
fn query_one<T: duckdb::types::FromSql>(lake: &Lake, sql: &str) -> T {
    let sql = sql.replace("LAKE", lake.name().as_str());
    let conn = lake.connection().expect("a connection");
    conn.query_row(&sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Address {
    street: String,
    zip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Patient {
    id: i64,
    name: String,
    address: Option<Address>,
}

fn patients() -> Vec<Patient> {
    vec![
        Patient {
            id: 1,
            name: "Ada".into(),
            address: Some(Address {
                street: "Main St 1".into(),
                zip: Some("12345".into()),
            }),
        },
        Patient {
            id: 2,
            name: "Bo".into(),
            address: None,
        },
        Patient {
            id: 3,
            name: "Cy".into(),
            address: Some(Address {
                street: "Side St 2".into(),
                zip: None,
            }),
        },
    ]
}

#[test]
fn a_struct_with_a_nested_optional_struct_round_trips() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("clinic/patients", Rows(patients()))?;
    let back: Rows<Patient> = lake.load("clinic/patients")?;
    assert_eq!(back.into_inner(), patients());
    assert_eq!(
        columns(&lake, "clinic.patients"),
        [
            "id BIGINT",
            "name VARCHAR",
            "address STRUCT(street VARCHAR, zip VARCHAR)"
        ]
    );
    Ok(())
}

#[test]
fn option_fields_are_stored_as_nulls_and_load_as_none() -> TestResult {
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Measurement {
        id: i32,
        value: Option<f64>,
        unit: Option<String>,
        flagged: Option<bool>,
    }
    let rows = vec![
        Measurement {
            id: 1,
            value: Some(7.25),
            unit: Some("mg".into()),
            flagged: Some(false),
        },
        Measurement {
            id: 2,
            value: None,
            unit: None,
            flagged: None,
        },
    ];
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("lab/measurements", Rows(rows.clone()))?;
    let nulls: i64 = query_one(
        &lake,
        "SELECT count(*) FROM LAKE.lab.measurements \
         WHERE value IS NULL AND unit IS NULL AND flagged IS NULL",
    );
    assert_eq!(nulls, 1, "None is a SQL NULL, not a placeholder value");
    let back: Rows<Measurement> = lake.load("lab/measurements")?;
    assert_eq!(back.0, rows);
    Ok(())
}

#[test]
fn naive_dates_round_trip_through_a_date_column() -> TestResult {
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Birth {
        id: i32,
        born: NaiveDate,
    }
    let rows: Vec<Birth> = [(1900, 1, 1), (1969, 7, 20), (2024, 2, 29)]
        .into_iter()
        .enumerate()
        .map(|(i, (y, m, d))| Birth {
            id: i as i32,
            born: NaiveDate::from_ymd_opt(y, m, d).expect("a date"),
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("people/births", Rows(rows.clone()))?;
    assert_eq!(columns(&lake, "people.births"), ["id INTEGER", "born DATE"]);
    let leap: String = query_one(
        &lake,
        "SELECT strftime(born, '%Y-%m-%d') FROM LAKE.people.births WHERE id = 2",
    );
    assert_eq!(leap, "2024-02-29", "DuckDB reads the dates as dates");
    let back: Rows<Birth> = lake.load("people/births")?;
    assert_eq!(back.0, rows);
    Ok(())
}

#[test]
fn naive_date_times_round_trip_through_a_timestamp_column_to_the_microsecond() -> TestResult {
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Admission {
        id: i32,
        at: NaiveDateTime,
    }
    let day = NaiveDate::from_ymd_opt(2024, 5, 17).expect("a date");
    let rows = vec![
        Admission {
            id: 1,
            at: day.and_hms_opt(0, 0, 0).expect("a time"),
        },
        Admission {
            id: 2,
            at: day.and_hms_micro_opt(23, 59, 59, 999_999).expect("a time"),
        },
    ];
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("ward/admissions", Rows(rows.clone()))?;
    assert_eq!(
        columns(&lake, "ward.admissions"),
        ["id INTEGER", "at TIMESTAMP"]
    );
    let back: Rows<Admission> = lake.load("ward/admissions")?;
    assert_eq!(back.0, rows);
    Ok(())
}

#[test]
fn utc_date_times_round_trip_through_a_timestamptz_column() -> TestResult {
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Event {
        id: i32,
        at: DateTime<Utc>,
        seen: Option<DateTime<Utc>>,
    }
    let at = DateTime::from_timestamp(1_700_000_000, 123_456_000).expect("an instant");
    let rows = vec![
        Event {
            id: 1,
            at,
            seen: Some(at),
        },
        Event {
            id: 2,
            at: DateTime::UNIX_EPOCH,
            seen: None,
        },
    ];
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("audit/events", Rows(rows.clone()))?;
    assert_eq!(
        columns(&lake, "audit.events"),
        [
            "id INTEGER",
            "at TIMESTAMP WITH TIME ZONE",
            "seen TIMESTAMP WITH TIME ZONE"
        ]
    );
    let epoch: i64 = query_one(
        &lake,
        "SELECT epoch_us(\"at\") FROM LAKE.audit.events WHERE id = 1",
    );
    assert_eq!(epoch, at.timestamp_micros(), "the stored instant");
    let back: Rows<Event> = lake.load("audit/events")?;
    assert_eq!(back.0, rows);
    Ok(())
}

#[test]
fn fixed_offset_date_times_keep_their_instant() -> TestResult {
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Call {
        at: DateTime<FixedOffset>,
    }
    let at = DateTime::parse_from_rfc3339("2024-05-17T10:30:00.25+02:00")?;
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("audit/calls", Rows(vec![Call { at }]))?;
    let back: Rows<Call> = lake.load("audit/calls")?;
    assert_eq!(back[0].at, at, "the same instant");
    assert_eq!(back[0].at.to_rfc3339(), "2024-05-17T08:30:00.250+00:00");
    Ok(())
}

#[test]
fn naive_times_round_trip_through_a_time_column() -> TestResult {
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Shift {
        starts: NaiveTime,
    }
    let rows = vec![
        Shift {
            starts: NaiveTime::from_hms_opt(6, 0, 0).expect("a time"),
        },
        Shift {
            starts: NaiveTime::from_hms_micro_opt(21, 45, 30, 500).expect("a time"),
        },
    ];
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("ward/shifts", Rows(rows.clone()))?;
    assert_eq!(columns(&lake, "ward.shifts"), ["starts TIME"]);
    let back: Rows<Shift> = lake.load("ward/shifts")?;
    assert_eq!(back.0, rows);
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Planned,
    InProgress,
    Done,
}

#[test]
fn unit_enums_are_stored_as_their_variant_names() -> TestResult {
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Task {
        id: i32,
        status: Status,
        previous: Option<Status>,
    }
    let rows = vec![
        Task {
            id: 1,
            status: Status::InProgress,
            previous: Some(Status::Planned),
        },
        Task {
            id: 2,
            status: Status::Done,
            previous: None,
        },
    ];
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("work/tasks", Rows(rows.clone()))?;
    assert_eq!(
        columns(&lake, "work.tasks"),
        ["id INTEGER", "status VARCHAR", "previous VARCHAR"]
    );
    let status: String = query_one(&lake, "SELECT status FROM LAKE.work.tasks WHERE id = 1");
    assert_eq!(status, "in_progress", "the variant's serde name");
    let back: Rows<Task> = lake.load("work/tasks")?;
    assert_eq!(back.0, rows);
    Ok(())
}

#[test]
fn string_vectors_round_trip_through_a_list_column() -> TestResult {
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Diagnosis {
        id: i32,
        codes: Vec<String>,
    }
    let rows = vec![
        Diagnosis {
            id: 1,
            codes: vec!["I10".into(), "E11.9".into()],
        },
        Diagnosis {
            id: 2,
            codes: vec![],
        },
    ];
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("clinic/diagnoses", Rows(rows.clone()))?;
    assert_eq!(
        columns(&lake, "clinic.diagnoses"),
        ["id INTEGER", "codes VARCHAR[]"]
    );
    let n: i64 = query_one(
        &lake,
        "SELECT len(codes) FROM LAKE.clinic.diagnoses WHERE id = 1",
    );
    assert_eq!(n, 2);
    let back: Rows<Diagnosis> = lake.load("clinic/diagnoses")?;
    assert_eq!(back.0, rows);
    Ok(())
}

#[test]
fn every_integer_and_float_width_round_trips_at_its_extremes() -> TestResult {
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Numbers {
        i8: i8,
        i16: i16,
        i32: i32,
        i64: i64,
        u8: u8,
        u16: u16,
        u32: u32,
        u64: u64,
        f32: f32,
        f64: f64,
    }
    let rows = vec![
        Numbers {
            i8: i8::MIN,
            i16: i16::MIN,
            i32: i32::MIN,
            i64: i64::MIN,
            u8: 0,
            u16: 0,
            u32: 0,
            u64: 0,
            f32: -1.5e-30,
            f64: f64::MIN_POSITIVE,
        },
        Numbers {
            i8: i8::MAX,
            i16: i16::MAX,
            i32: i32::MAX,
            i64: i64::MAX,
            u8: u8::MAX,
            u16: u16::MAX,
            u32: u32::MAX,
            u64: u64::MAX,
            f32: 0.1,
            f64: 1.0 / 3.0,
        },
    ];
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("math/numbers", Rows(rows.clone()))?;
    assert_eq!(
        columns(&lake, "math.numbers"),
        [
            "i8 TINYINT",
            "i16 SMALLINT",
            "i32 INTEGER",
            "i64 BIGINT",
            "u8 UTINYINT",
            "u16 USMALLINT",
            "u32 UINTEGER",
            "u64 UBIGINT",
            "f32 FLOAT",
            "f64 DOUBLE"
        ]
    );
    let back: Rows<Numbers> = lake.load("math/numbers")?;
    assert_eq!(back.0, rows);
    Ok(())
}

#[test]
fn tuples_maps_and_uuids_round_trip() -> TestResult {
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        id: uuid::Uuid,
        range: (i32, Option<i32>),
        labels: BTreeMap<String, f64>,
    }
    let rows = vec![
        Sample {
            id: uuid::Uuid::from_u128(7),
            range: (1, Some(5)),
            labels: [("a".to_string(), 0.5), ("b".to_string(), -1.0)].into(),
        },
        Sample {
            id: uuid::Uuid::from_u128(8),
            range: (2, None),
            labels: BTreeMap::new(),
        },
    ];
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("lab/samples", Rows(rows.clone()))?;
    assert_eq!(
        columns(&lake, "lab.samples"),
        [
            "id VARCHAR",
            "range STRUCT(\"0\" INTEGER, \"1\" INTEGER)",
            "labels MAP(VARCHAR, DOUBLE)"
        ]
    );
    let back: Rows<Sample> = lake.load("lab/samples")?;
    assert_eq!(back.0, rows);
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Visit {
    id: i64,
    day: Option<NaiveDate>,
    at: Option<DateTime<Utc>>,
    status: Option<Status>,
    address: Option<Address>,
    codes: Option<Vec<String>>,
}

const VISIT_COLUMNS: [&str; 6] = [
    "id BIGINT",
    "day DATE",
    "at TIMESTAMP WITH TIME ZONE",
    "status VARCHAR",
    "address STRUCT(street VARCHAR, zip VARCHAR)",
    "codes VARCHAR[]",
];

#[test]
fn column_types_come_from_the_type_even_when_the_first_rows_are_none() -> TestResult {
    let empty = Visit {
        id: 1,
        day: None,
        at: None,
        status: None,
        address: None,
        codes: None,
    };
    let full = Visit {
        id: 2,
        day: NaiveDate::from_ymd_opt(2024, 1, 2),
        at: DateTime::from_timestamp(1_700_000_000, 0),
        status: Some(Status::Done),
        address: Some(Address {
            street: "x".into(),
            zip: None,
        }),
        codes: Some(vec!["A".into()]),
    };
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let m = lake.store("clinic/visits", Rows(vec![empty.clone(), empty, full]))?;
    assert_eq!(columns(&lake, "clinic.visits"), VISIT_COLUMNS);
    let reported: Vec<String> = m.columns.iter().map(|c| c.name.clone()).collect();
    assert_eq!(reported, ["id", "day", "at", "status", "address", "codes"]);
    Ok(())
}

#[test]
fn an_empty_vec_creates_the_table_with_every_column() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let m = lake.store("clinic/no_visits", Rows(Vec::<Visit>::new()))?;
    assert_eq!(m.rows, 0);
    assert_eq!(columns(&lake, "clinic.no_visits"), VISIT_COLUMNS);
    let back: Rows<Visit> = lake.load("clinic/no_visits")?;
    assert!(back.is_empty());
    Ok(())
}

#[test]
fn rows_round_trip_through_the_parquet_fast_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = common::config_in(dir.path()).with_fast_path_min_bytes(0);
    let lake = Lake::open(config)?;
    let rows: Vec<Visit> = (0..500)
        .map(|i| Visit {
            id: i,
            day: NaiveDate::from_ymd_opt(2020, 1, 1).map(|d| d + chrono::Days::new(i as u64)),
            at: (i % 3 != 0)
                .then(|| DateTime::from_timestamp(1_600_000_000 + i, 0))
                .flatten(),
            status: (i % 2 == 0).then_some(Status::Planned),
            address: (i % 5 != 0).then(|| Address {
                street: format!("street {i}"),
                zip: (i % 7 == 0).then(|| format!("{i:05}")),
            }),
            codes: Some(vec![format!("C{i}"); (i % 3) as usize]),
        })
        .collect();
    let m = lake.store("clinic/many_visits", Rows(rows.clone()))?;
    assert_eq!(m.path, pluginlake::io::WritePath::Parquet);
    let back: Rows<Visit> = lake.load("clinic/many_visits")?;
    let mut back = back.into_inner();
    back.sort_by_key(|v| v.id);
    assert_eq!(back, rows);
    Ok(())
}

#[test]
fn a_table_stored_as_a_dataframe_loads_as_rows() -> TestResult {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Person {
        person_id: i64,
        name: String,
        born: NaiveDate,
        weight: Option<f64>,
    }
    let df = df![
        "person_id" => [1i64, 2],
        "name" => ["Ada", "Bo"],
        "born" => [
            NaiveDate::from_ymd_opt(1950, 3, 1).expect("a date"),
            NaiveDate::from_ymd_opt(1987, 12, 31).expect("a date"),
        ],
        "weight" => [Some(61.5), None],
    ]?;
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("omop/person", df)?;
    let back: Rows<Person> = lake.load("omop/person")?;
    assert_eq!(
        back.0,
        [
            Person {
                person_id: 1,
                name: "Ada".into(),
                born: NaiveDate::from_ymd_opt(1950, 3, 1).expect("a date"),
                weight: Some(61.5),
            },
            Person {
                person_id: 2,
                name: "Bo".into(),
                born: NaiveDate::from_ymd_opt(1987, 12, 31).expect("a date"),
                weight: None,
            },
        ]
    );
    Ok(())
}

#[test]
fn rows_load_as_a_dataframe() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    lake.store("clinic/patients", Rows(patients()))?;
    let df: DataFrame = lake.load("clinic/patients")?;
    assert_eq!(df.height(), 3);
    let names = df.column("name")?.str()?;
    let names: Vec<Option<&str>> = (0..df.height()).map(|i| names.get(i)).collect();
    assert_eq!(names, [Some("Ada"), Some("Bo"), Some("Cy")]);
    assert_eq!(df.column("address")?.null_count(), 1);
    Ok(())
}

#[test]
fn a_type_without_a_column_type_is_refused_naming_the_type_and_the_field() -> TestResult {
    #[derive(Clone, Debug, Serialize, Deserialize)]
    enum Contact {
        Phone(String),
        Letter,
    }
    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct Place {
        contact: Contact,
    }
    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct Referral {
        id: i32,
        visit: Vec<Place>,
    }
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let rows = vec![Referral {
        id: 1,
        visit: vec![],
    }];
    let err = lake
        .store("clinic/referrals", Rows(rows))
        .expect_err("an enum with data has no column type");
    assert!(matches!(err, Error::InvalidData { .. }), "{err:?}");
    let msg = err.to_string();
    for needle in [
        "clinic.referrals",
        "Referral",
        "visit[].contact",
        "Contact::Phone carries data",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }
    assert!(
        matches!(
            lake.load::<DataFrame>("clinic/referrals"),
            Err(Error::TableNotFound { .. })
        ),
        "nothing was written"
    );
    Ok(())
}

#[test]
fn loading_a_table_whose_columns_do_not_fit_the_type_names_the_table_row_and_column() -> TestResult
{
    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct Dose {
        patient: String,
        mg: i64,
    }
    #[derive(Debug, Serialize, Deserialize)]
    struct SmallDose {
        patient: String,
        mg: u8,
    }
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let rows = vec![
        Dose {
            patient: "a".into(),
            mg: 20,
        },
        Dose {
            patient: "b".into(),
            mg: 300,
        },
    ];
    lake.store("pharmacy/doses", Rows(rows))?;
    let err = lake
        .load::<Rows<SmallDose>>("pharmacy/doses")
        .expect_err("300 does not fit a u8");
    let msg = err.to_string();
    for needle in [
        "pharmacy.doses",
        "SmallDose",
        "row index 1",
        "column mg",
        "300",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }
    Ok(())
}
