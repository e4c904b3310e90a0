//! XML rows as Arrow record batches (storing, split by the size of their text) and back
//! (loading).

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{ArrayRef, ListBuilder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};

use super::records::{XmlColumn, XmlRows, XmlValue};
use super::{text_columns, TextColumn};
use crate::error::{Context, Error, Result};
use crate::io::chunks::{self, TextLimit, TooMuchText};
use crate::io::{TableData, TableSink, Tabular, TypeHandler};

impl XmlRows {
    /// The bytes of text of row `row` (all its values).
    fn row_text(&self, row: usize) -> usize {
        self.columns
            .iter()
            .map(|c| match &c.values[row] {
                Some(XmlValue::Text(t)) => t.len(),
                Some(XmlValue::List(items)) => items.iter().map(String::len).sum(),
                None => 0,
            })
            .sum()
    }

    /// The rows as record batches of one schema, split into batches of at most `limit.batch`
    /// bytes of text; a string array beyond `limit.array` is an error naming the column and row.
    fn to_batches(&self, table: &str, limit: TextLimit) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| {
                let data_type = match c.list {
                    true => DataType::List(item.clone()),
                    false => DataType::Utf8,
                };
                Field::new(&c.name, data_type, true)
            })
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let ranges = chunks::by_text(self.len, limit.batch, |row| self.row_text(row));
        let mut batches = Vec::with_capacity(ranges.len());
        for range in ranges {
            let arrays = self
                .columns
                .iter()
                .map(|column| column_array(column, range.clone(), &item, table, limit.array))
                .collect::<Result<Vec<ArrayRef>>>()?;
            let batch = RecordBatch::try_new(schema.clone(), arrays)
                .context(|| "assembling XML rows".into())?;
            batches.push(batch);
        }
        Ok((schema, batches))
    }
}

/// The array of `column`'s values in `rows`, no string array beyond `max` bytes of text.
fn column_array(
    column: &XmlColumn,
    rows: Range<usize>,
    item: &FieldRef,
    table: &str,
    max: usize,
) -> Result<ArrayRef> {
    let invalid = |row: usize, reason: String| Error::InvalidData {
        table: table.to_owned(),
        reason: format!("XML column {:?}, row {}: {reason}", column.name, row + 1),
    };
    let too_much = |row: usize| move |e: TooMuchText| invalid(row, e.to_string());
    let values = column.values[rows.clone()].iter().zip(rows);
    if column.list {
        let mut builder = ListBuilder::new(StringBuilder::new()).with_field(item.clone());
        for (value, row) in values {
            match value {
                Some(XmlValue::List(items)) => {
                    for i in items {
                        chunks::append_text(builder.values(), i, max).map_err(too_much(row))?;
                    }
                    builder.append(true);
                }
                Some(XmlValue::Text(t)) => {
                    chunks::append_text(builder.values(), t, max).map_err(too_much(row))?;
                    builder.append(true);
                }
                None => builder.append(false),
            }
        }
        Ok(Arc::new(builder.finish()))
    } else {
        let mut builder = StringBuilder::new();
        for (value, row) in values {
            match value {
                Some(XmlValue::Text(t)) => {
                    chunks::append_text(&mut builder, t, max).map_err(too_much(row))?
                }
                Some(XmlValue::List(_)) => {
                    return Err(invalid(
                        row,
                        "the column is VARCHAR but the row holds a list".into(),
                    ))
                }
                None => builder.append_null(),
            }
        }
        Ok(Arc::new(builder.finish()))
    }
}

impl TypeHandler for XmlRows {
    /// Stores the rows: `VARCHAR` and `LIST(VARCHAR)` columns, in batches of at most 256 MiB
    /// of text each.
    fn store(self, sink: &mut TableSink) -> Result<()> {
        let (schema, batches) = self.to_batches(&sink.table().to_string(), TextLimit::STORE)?;
        sink.put_batches(schema, batches)
    }

    /// Loads any table whose columns cast to text (list columns: to lists of text).
    fn load(data: TableData) -> Result<Self> {
        let rows = data.num_rows();
        let columns = text_columns(data, "XmlRows")?
            .into_iter()
            .map(|(name, column)| {
                let (list, values) = match column {
                    TextColumn::Text(v) => (
                        false,
                        v.into_iter().map(|v| v.map(XmlValue::Text)).collect(),
                    ),
                    TextColumn::List(v) => {
                        (true, v.into_iter().map(|v| v.map(XmlValue::List)).collect())
                    }
                };
                XmlColumn { name, list, values }
            })
            .collect();
        Ok(XmlRows { columns, len: rows })
    }
}

impl Tabular for XmlRows {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_batches() {
        let rows =
            XmlRows::parse("<r><p a='1'><x>1</x><x>2</x></p><p><y/></p></r>", "r/p").unwrap();
        let (_, mut batches) = rows.to_batches("raw.r", TextLimit::ONE_BATCH).unwrap();
        let batch = batches.pop().unwrap();
        assert_eq!(
            batch.schema().field(1).data_type().to_string(),
            "List(Utf8)"
        );
        let data = super::super::table_data(batch);
        assert_eq!(XmlRows::load(data).unwrap(), rows);
    }

    #[test]
    fn rows_are_split_into_batches_where_their_text_would_pass_the_threshold() {
        // Rows of 10 bytes of text each (an attribute and a two-item list): two per 25 bytes.
        let xml: String = (0..7)
            .map(|i| format!("<p a='{i}'><x>a{i}xxx</x><x>b{i}xx</x></p>"))
            .collect();
        let rows = XmlRows::parse(&format!("<r>{xml}</r>"), "r/p").unwrap();
        let limit = TextLimit {
            batch: 25,
            array: usize::MAX,
        };
        let (schema, batches) = rows.to_batches("raw.r", limit).unwrap();
        let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, [2, 2, 2, 1]);
        let data = TableData {
            table: crate::TableRef::parse("raw.r").unwrap(),
            schema,
            batches,
        };
        assert_eq!(
            XmlRows::load(data).unwrap(),
            rows,
            "rows whole and in order"
        );
    }

    #[test]
    fn a_value_beyond_the_array_limit_is_an_error_naming_the_column_and_row() {
        let rows =
            XmlRows::parse("<r><p><x>short</x></p><p><x>much longer</x></p></r>", "r/p").unwrap();
        let limit = TextLimit { batch: 1, array: 8 };
        let err = rows.to_batches("raw.r", limit).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::BadInput);
        let text = err.to_string();
        assert!(
            text.contains("XML column \"x\", row 2: 11 bytes of text"),
            "{text}"
        );
    }
}
