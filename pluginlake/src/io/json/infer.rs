//! Column types inferred over all documents with widening, and JSON values to Arrow arrays.
//!
//! Every place of the documents (a top-level key, a key of a nested object, the elements of an
//! array) gets one [`Ty`], widened by each value seen there; the rules are the table in the
//! module documentation.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, ListArray, RecordBatch, StringBuilder,
    StructArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use serde_json::{Map, Value};

use crate::io::chunks::{self, TextLimit, TooMuchText};

/// The Arrow field metadata key naming an extension type.
pub(crate) const EXTENSION_KEY: &str = "ARROW:extension:name";
/// The canonical Arrow extension type of JSON text; DuckLake stores such a column as `JSON`.
pub(crate) const JSON_EXTENSION: &str = "arrow.json";

/// A nullable Utf8 field holding JSON text, marked with the `arrow.json` extension type.
pub(crate) fn json_field(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true).with_metadata(HashMap::from([(
        EXTENSION_KEY.to_owned(),
        JSON_EXTENSION.to_owned(),
    )]))
}

/// True for a string field marked as JSON text.
pub(crate) fn is_json_field(field: &Field) -> bool {
    field
        .metadata()
        .get(EXTENSION_KEY)
        .is_some_and(|n| n == JSON_EXTENSION)
        && matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
}

/// The widened type of the values seen at one place of the documents.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ty {
    /// Only nulls (or nothing) seen yet.
    Null,
    /// Booleans.
    Bool,
    /// Integers that fit an `i64`.
    Int,
    /// Numbers with a fraction or exponent, integers beyond `i64`, or integers mixed with those.
    Float,
    /// Strings, or scalars of different kinds (stored as their JSON text).
    Str,
    /// Arrays, with the widened type of their elements.
    List(Box<Ty>),
    /// Objects, with the union of their keys.
    Struct(Keys),
    /// Values of incompatible kinds (object, array, scalar): each stored as its JSON text.
    Json,
}

/// The keys of objects seen at one place, in first-seen order, each with its widened type.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Keys {
    names: Vec<String>,
    types: Vec<Ty>,
    index: HashMap<String, usize>,
}

impl Keys {
    /// Widen by the entries of one object.
    pub(crate) fn observe(&mut self, object: &Map<String, Value>) {
        for (key, value) in object {
            let i = match self.index.get(key) {
                Some(&i) => i,
                None => {
                    self.names.push(key.clone());
                    self.types.push(Ty::Null);
                    self.index.insert(key.clone(), self.names.len() - 1);
                    self.names.len() - 1
                }
            };
            self.types[i].observe(value);
        }
    }

    /// True when no key was seen.
    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The Arrow fields of the keys, in first-seen order.
    pub(crate) fn fields(&self) -> Fields {
        self.names
            .iter()
            .zip(&self.types)
            .map(|(name, ty)| ty.field(name))
            .collect()
    }

    /// One array per key, of the values of `objects` (a missing key or a non-object is null);
    /// no string array holds more than `max` bytes.
    fn arrays(&self, objects: &[Option<&Value>], max: usize) -> Result<Vec<ArrayRef>, ArrowError> {
        self.names
            .iter()
            .zip(&self.types)
            .map(|(name, ty)| {
                let values: Vec<Option<&Value>> = objects
                    .iter()
                    .map(|o| match o {
                        Some(Value::Object(map)) => map.get(name),
                        _ => None,
                    })
                    .collect();
                ty.array(&values, max)
            })
            .collect()
    }
}

impl Ty {
    /// Widen by one value.
    pub(crate) fn observe(&mut self, value: &Value) {
        match value {
            Value::Null => {}
            Value::Bool(_) => self.scalar(Ty::Bool),
            // `is_i64` is false for integers above i64::MAX and for floats.
            Value::Number(n) => self.scalar(if n.is_i64() { Ty::Int } else { Ty::Float }),
            Value::String(_) => self.scalar(Ty::Str),
            Value::Array(items) => {
                if *self == Ty::Null {
                    *self = Ty::List(Box::new(Ty::Null));
                }
                match self {
                    Ty::List(element) => items.iter().for_each(|item| element.observe(item)),
                    Ty::Json => {}
                    _ => *self = Ty::Json,
                }
            }
            Value::Object(object) => {
                if *self == Ty::Null {
                    *self = Ty::Struct(Keys::default());
                }
                match self {
                    Ty::Struct(keys) => keys.observe(object),
                    Ty::Json => {}
                    _ => *self = Ty::Json,
                }
            }
        }
    }

    fn scalar(&mut self, seen: Ty) {
        *self = match (std::mem::replace(self, Ty::Null), seen) {
            (Ty::Null, seen) => seen,
            (was, seen) if was == seen => was,
            (Ty::Int, Ty::Float) | (Ty::Float, Ty::Int) => Ty::Float,
            (Ty::Bool | Ty::Int | Ty::Float | Ty::Str, _) => Ty::Str,
            (Ty::List(_) | Ty::Struct(_) | Ty::Json, _) => Ty::Json,
        };
    }

    /// The nullable Arrow field of this type. The places with no concrete type (only nulls, the
    /// elements of arrays that were all empty, objects that were all empty) are JSON text too:
    /// DuckLake cannot store Arrow's `Null` type or a struct without fields.
    pub(crate) fn field(&self, name: &str) -> Field {
        let data_type = match self {
            Ty::Null | Ty::Json => return json_field(name),
            Ty::Struct(keys) if keys.is_empty() => return json_field(name),
            Ty::Bool => DataType::Boolean,
            Ty::Int => DataType::Int64,
            Ty::Float => DataType::Float64,
            Ty::Str => DataType::Utf8,
            Ty::List(element) => DataType::List(Arc::new(element.field("item"))),
            Ty::Struct(keys) => DataType::Struct(keys.fields()),
        };
        Field::new(name, data_type, true)
    }

    /// The array of `values` (`None`: a missing key), whose widened type is `self`. A string
    /// array (of the values, or of a list's items) that would hold more than `max` bytes of text
    /// is an error.
    pub(crate) fn array(
        &self,
        values: &[Option<&Value>],
        max: usize,
    ) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Ty::Null | Ty::Json => json_text(values, max)?,
            Ty::Struct(keys) if keys.is_empty() => json_text(values, max)?,
            Ty::Bool => Arc::new(
                values
                    .iter()
                    .map(|v| v.and_then(Value::as_bool))
                    .collect::<BooleanArray>(),
            ),
            Ty::Int => Arc::new(
                values
                    .iter()
                    .map(|v| v.and_then(Value::as_i64))
                    .collect::<Int64Array>(),
            ),
            Ty::Float => Arc::new(
                values
                    .iter()
                    .map(|v| v.and_then(Value::as_f64))
                    .collect::<Float64Array>(),
            ),
            Ty::Str => {
                let mut b = StringBuilder::with_capacity(values.len(), values.len() * 16);
                for v in values {
                    match v.filter(|v| !v.is_null()) {
                        Some(Value::String(s)) => {
                            chunks::append_text(&mut b, s, max).map_err(too_much)?
                        }
                        // A number or boolean in a column widened to text: its JSON text.
                        Some(v) => chunks::append_display(&mut b, v, max).map_err(too_much)?,
                        None => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Ty::List(element) => {
                let mut offsets = Vec::with_capacity(values.len() + 1);
                offsets.push(0i32);
                let mut items = Vec::new();
                let mut valid = Vec::with_capacity(values.len());
                for v in values {
                    if let Some(Value::Array(array)) = v {
                        items.extend(array.iter().map(Some));
                    }
                    valid.push(matches!(v, Some(Value::Array(_))));
                    offsets.push(i32::try_from(items.len()).map_err(|_| {
                        ArrowError::InvalidArgumentError(
                            "more than 2^31 array elements in one column".into(),
                        )
                    })?);
                }
                Arc::new(ListArray::try_new(
                    Arc::new(element.field("item")),
                    OffsetBuffer::new(offsets.into()),
                    element.array(&items, max)?,
                    Some(NullBuffer::from(valid)),
                )?)
            }
            Ty::Struct(keys) => {
                let valid: Vec<bool> = values
                    .iter()
                    .map(|v| matches!(v, Some(Value::Object(_))))
                    .collect();
                Arc::new(StructArray::try_new(
                    keys.fields(),
                    keys.arrays(values, max)?,
                    Some(NullBuffer::from(valid)),
                )?)
            }
        })
    }
}

fn too_much(e: TooMuchText) -> ArrowError {
    ArrowError::InvalidArgumentError(e.to_string())
}

/// The JSON text of each value (SQL NULL for JSON null and a missing key), at most `max` bytes.
fn json_text(values: &[Option<&Value>], max: usize) -> Result<ArrayRef, ArrowError> {
    let mut b = StringBuilder::with_capacity(values.len(), values.len() * 16);
    for v in values {
        match v.filter(|v| !v.is_null()) {
            Some(v) => chunks::append_display(&mut b, v, max).map_err(too_much)?,
            None => b.append_null(),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// The objects as record batches: a column per key (first-seen order), types widened over all
/// objects, the rows split into batches of at most `limit.batch` bytes of text (by their JSON
/// text, an upper bound of the text they give any column). `Ok(None)` when no object has a key.
/// An error (a string array beyond `limit.array`) names the column and the rows.
pub(crate) fn record_batches(
    rows: &[Map<String, Value>],
    limit: TextLimit,
) -> Result<Option<(SchemaRef, Vec<RecordBatch>)>, String> {
    let mut keys = Keys::default();
    for row in rows {
        keys.observe(row);
    }
    if keys.is_empty() {
        return Ok(None);
    }
    let schema = Arc::new(Schema::new(keys.fields()));
    let ranges = match limit.batch {
        usize::MAX => std::iter::once(0..rows.len()).collect(),
        max => {
            let sizes: Vec<usize> = rows.iter().map(chunks::json_len).collect();
            chunks::by_text(rows.len(), max, |i| sizes[i])
        }
    };
    let mut batches = Vec::with_capacity(ranges.len());
    for range in ranges {
        let mut columns = Vec::with_capacity(keys.names.len());
        for (name, ty) in keys.names.iter().zip(&keys.types) {
            let values: Vec<Option<&Value>> = rows[range.clone()]
                .iter()
                .map(|row| row.get(name))
                .collect();
            let array = ty.array(&values, limit.array).map_err(|e| {
                let reason = match e {
                    ArrowError::InvalidArgumentError(m) => m,
                    e => e.to_string(),
                };
                format!(
                    "column {name:?}, {}: {reason}",
                    chunks::describe_rows(&range)
                )
            })?;
            columns.push(array);
        }
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| format!("assembling {}: {e}", chunks::describe_rows(&range)))?;
        batches.push(batch);
    }
    Ok(Some((schema, batches)))
}

/// An object with its nested (non-empty) objects flattened to dotted keys: `{"a": {"b": 1}}`
/// becomes `{"a.b": 1}`. Arrays, and objects inside arrays, are kept. Fails naming the key when
/// two keys flatten to the same name (`{"a.b": 1, "a": {"b": 2}}`).
pub(crate) fn flatten(object: Map<String, Value>) -> Result<Map<String, Value>, String> {
    fn walk(
        prefix: Option<&str>,
        object: Map<String, Value>,
        out: &mut Map<String, Value>,
    ) -> Result<(), String> {
        for (key, value) in object {
            let key = match prefix {
                Some(prefix) => format!("{prefix}.{key}"),
                None => key,
            };
            match value {
                Value::Object(inner) if !inner.is_empty() => walk(Some(&key), inner, out)?,
                value => {
                    if out.contains_key(&key) {
                        return Err(format!(
                            "two keys become {key:?} when nested objects are flattened to dotted keys"
                        ));
                    }
                    out.insert(key, value);
                }
            }
        }
        Ok(())
    }
    let mut out = Map::new();
    walk(None, object, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use serde_json::json;

    fn ty_of(values: &[Value]) -> Ty {
        let mut ty = Ty::Null;
        values.iter().for_each(|v| ty.observe(v));
        ty
    }

    #[test]
    fn scalar_widening() {
        assert_eq!(ty_of(&[json!(1), json!(2)]), Ty::Int);
        assert_eq!(ty_of(&[json!(1), json!(2.5)]), Ty::Float);
        assert_eq!(ty_of(&[json!(2.5), json!(1)]), Ty::Float);
        assert_eq!(ty_of(&[json!(u64::MAX)]), Ty::Float);
        assert_eq!(ty_of(&[json!(1), json!("x")]), Ty::Str);
        assert_eq!(ty_of(&[json!(true), json!(1)]), Ty::Str);
        assert_eq!(ty_of(&[json!(null), json!(true)]), Ty::Bool);
        assert_eq!(ty_of(&[json!(null)]), Ty::Null);
        assert_eq!(ty_of(&[json!({"a": 1}), json!(1)]), Ty::Json);
        assert_eq!(ty_of(&[json!(1), json!([1])]), Ty::Json);
        assert_eq!(ty_of(&[json!([1]), json!({"a": 1})]), Ty::Json);
        assert_eq!(ty_of(&[json!("x"), json!({"a": 1})]), Ty::Json);
        assert_eq!(ty_of(&[json!({"a": 1}), json!("x"), json!(3)]), Ty::Json);
        assert_eq!(
            ty_of(&[json!([1]), json!([2.5, null])]),
            Ty::List(Box::new(Ty::Float))
        );
        assert_eq!(ty_of(&[json!([])]), Ty::List(Box::new(Ty::Null)));
        assert!(ty_of(&[json!([])]).field("x").data_type().is_nested());
    }

    #[test]
    fn batch_types_and_values() {
        let rows: Vec<Map<String, Value>> = [
            json!({"id": 1, "score": 1, "tag": "a", "meta": {"x": 1}, "list": [1, 2], "n": null, "e": []}),
            json!({"id": 2, "score": 2.5, "tag": 7, "meta": 5, "list": [1.5], "extra": {"k": true}, "e": []}),
            json!({"id": 3, "list": null, "extra": {"j": "s"}}),
        ]
        .into_iter()
        .map(|v| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        })
        .collect();
        let (_, mut batches) = record_batches(&rows, TextLimit::ONE_BATCH)
            .unwrap()
            .unwrap();
        let batch = batches.pop().unwrap();
        let schema = batch.schema();
        let ty = |n: &str| schema.field_with_name(n).unwrap().data_type().clone();
        assert_eq!(ty("id"), DataType::Int64);
        assert_eq!(ty("score"), DataType::Float64);
        assert_eq!(ty("tag"), DataType::Utf8);
        assert!(is_json_field(schema.field_with_name("meta").unwrap()));
        assert!(is_json_field(schema.field_with_name("n").unwrap()));
        assert_eq!(
            ty("list"),
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true)))
        );
        match ty("extra") {
            DataType::Struct(f) => {
                assert_eq!(f.len(), 2);
                assert_eq!(f[0].data_type(), &DataType::Boolean);
                assert_eq!(f[1].data_type(), &DataType::Utf8);
            }
            other => panic!("{other}"),
        }
        let text = |n: &str| -> Vec<Option<String>> {
            let column = batch.column_by_name(n).unwrap().as_string::<i32>();
            column.iter().map(|v| v.map(str::to_owned)).collect()
        };
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(text("tag"), [some("a"), some("7"), None]);
        assert_eq!(text("meta"), [some(r#"{"x":1}"#), some("5"), None]);
    }

    #[test]
    fn flatten_dotted() {
        let Value::Object(o) = json!({"a": {"b": 1, "c": {"d": [1]}}, "e": {}, "f": [{"g": 1}]})
        else {
            unreachable!()
        };
        let flat = flatten(o).unwrap();
        assert_eq!(
            Value::Object(flat),
            json!({"a.b": 1, "a.c.d": [1], "e": {}, "f": [{"g": 1}]})
        );
        let Value::Object(o) = json!({"a.b": 1, "a": {"b": 2}}) else {
            unreachable!()
        };
        assert!(flatten(o).unwrap_err().contains("\"a.b\""));
    }
}
