//! Arrow types as DuckLake column types, and DuckLake's own names for them.

use std::fmt::Write as _;

use arrow::datatypes::{DataType, Field, TimeUnit};

use super::{quote_ident, TableRef};
use crate::error::{Error, Result};

/// The DuckLake column type for an Arrow type, or an error naming the column and how to fix it.
///
/// A string field with the Arrow extension type `arrow.json` becomes a `JSON` column.
pub(crate) fn column_type(table: &TableRef, field: &Field) -> Result<String> {
    let is_json = field
        .metadata()
        .get("ARROW:extension:name")
        .is_some_and(|n| n == "arrow.json");
    if is_json
        && matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
    {
        return Ok("JSON".into());
    }
    column_type_at(table, field.name(), field.data_type())
}

fn column_type_at(table: &TableRef, path: &str, dt: &DataType) -> Result<String> {
    let unsupported = |hint: &str| Error::UnsupportedType {
        table: table.to_string(),
        column: path.to_owned(),
        data_type: dt.to_string(),
        hint: hint.to_owned(),
    };
    Ok(match dt {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "UTINYINT".into(),
        DataType::UInt16 => "USMALLINT".into(),
        DataType::UInt32 => "UINTEGER".into(),
        DataType::UInt64 => "UBIGINT".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "BLOB".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(_) | DataType::Time64(TimeUnit::Microsecond) => "TIME".into(),
        DataType::Time64(_) => "TIME_NS".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        DataType::Timestamp(TimeUnit::Second, None) => "TIMESTAMP_S".into(),
        DataType::Timestamp(TimeUnit::Millisecond, None) => "TIMESTAMP_MS".into(),
        DataType::Timestamp(TimeUnit::Microsecond, None) => "TIMESTAMP".into(),
        DataType::Timestamp(TimeUnit::Nanosecond, None) => "TIMESTAMP_NS".into(),
        DataType::Duration(_) | DataType::Interval(_) => "INTERVAL".into(),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
            decimal(*p, *s).ok_or_else(|| unsupported("DECIMAL precision must be 1..=38"))?
        }
        DataType::Decimal256(p, s) => decimal(*p, *s)
            .ok_or_else(|| unsupported("DECIMAL precision above 38 is not supported; cast to a string or float"))?,
        DataType::List(child)
        | DataType::LargeList(child)
        | DataType::ListView(child)
        | DataType::LargeListView(child)
        | DataType::FixedSizeList(child, _) => {
            format!("{}[]", column_type_at(table, &format!("{path}[]"), child.data_type())?)
        }
        DataType::Struct(fields) => {
            if fields.is_empty() {
                return Err(unsupported("a struct needs at least one field"));
            }
            let mut out = String::from("STRUCT(");
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let child = column_type_at(table, &format!("{path}.{}", f.name()), f.data_type())?;
                write!(out, "{} {child}", quote_ident(f.name())).expect("write to String");
            }
            out.push(')');
            out
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "MAP({}, {})",
                column_type_at(table, &format!("{path}.key"), kv[0].data_type())?,
                column_type_at(table, &format!("{path}.value"), kv[1].data_type())?
            ),
            _ => return Err(unsupported("malformed map type")),
        },
        DataType::Dictionary(_, values) => column_type_at(table, path, values)?,
        DataType::Null => {
            return Err(unsupported(
                "the column has no type (all values null and no type given); cast it to a concrete type",
            ))
        }
        DataType::Float16 => return Err(unsupported("cast half floats to Float32")),
        DataType::Union(_, _) => {
            return Err(unsupported("DuckLake has no union type; split it into separate columns"))
        }
        DataType::RunEndEncoded(_, _) => {
            return Err(unsupported("decode run-end encoded arrays before storing"))
        }
    })
}

fn decimal(p: u8, s: i8) -> Option<String> {
    (1..=38)
        .contains(&p)
        .then(|| format!("DECIMAL({p}, {})", s.max(0)))
}

/// DuckLake's name (in its metadata) of a scalar type pluginlake creates columns with, as the
/// DuckLake specification lists them; `None` for nested types.
pub(crate) fn ducklake_type_name(sql_type: &str) -> Option<String> {
    let name = match sql_type {
        "BOOLEAN" => "boolean",
        "TINYINT" => "int8",
        "SMALLINT" => "int16",
        "INTEGER" => "int32",
        "BIGINT" => "int64",
        "UTINYINT" => "uint8",
        "USMALLINT" => "uint16",
        "UINTEGER" => "uint32",
        "UBIGINT" => "uint64",
        "FLOAT" => "float32",
        "DOUBLE" => "float64",
        "VARCHAR" => "varchar",
        "BLOB" => "blob",
        "DATE" => "date",
        "TIME" => "time",
        "TIME_NS" => "time_ns",
        "TIMESTAMPTZ" => "timestamptz",
        "TIMESTAMP" => "timestamp",
        "TIMESTAMP_S" => "timestamp_s",
        "TIMESTAMP_MS" => "timestamp_ms",
        "TIMESTAMP_NS" => "timestamp_ns",
        "INTERVAL" => "interval",
        other => {
            let args = other.strip_prefix("DECIMAL(")?.strip_suffix(')')?;
            return Some(format!("decimal({})", args.replace(' ', "")));
        }
    };
    Some(name.to_owned())
}
