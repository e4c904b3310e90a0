//! The schema of a type: a serde `Deserializer` that walks `T::deserialize` and records the Arrow
//! type of every field it is asked for (like serde_arrow's `SchemaLike::from_type`).
//!
//! The tracer feeds each visitor a placeholder (0, `""`, one element per list, one entry per map,
//! every enum variant over several walks) and notes what was asked: `deserialize_i32` is an
//! `Int32` column, `deserialize_option` makes the column nullable, `deserialize_struct` a struct.
//! chrono and uuid deserialize from strings; their visitors' `expecting` text says which.

use std::fmt::{self, Display};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess,
    SeqAccess, VariantAccess, Visitor,
};

/// Why the tracer could not describe a type.
#[derive(Debug)]
struct TraceError(String);

impl Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<M: Display>(msg: M) -> Self {
        TraceError(msg.to_string())
    }
}

type Traced<T> = std::result::Result<T, TraceError>;

/// One walk over a type.
struct State {
    /// Path of the value being traced: field names, `[]` for list items, `key`/`value` in maps.
    path: Vec<String>,
    /// Every enum picks variant number `pass` (its last one when it has fewer): the walks
    /// together visit every variant.
    pass: usize,
    /// The most variants an enum of the type has, hence the number of walks.
    variants: usize,
    /// The column type of the value traced last, and whether it is nullable.
    out: Option<(DataType, bool)>,
}

impl State {
    /// Traces the child `name` of the current value.
    fn child<'de, S: DeserializeSeed<'de>>(
        &mut self,
        name: &str,
        seed: S,
    ) -> Traced<(S::Value, DataType, bool)> {
        self.path.push(name.to_owned());
        self.out = None;
        let value = seed.deserialize(Tracer(self))?;
        let (dt, nullable) = self.out.take().ok_or_else(|| {
            TraceError("its Deserialize implementation reads no value from the deserializer".into())
        })?;
        self.path.pop();
        Ok((value, dt, nullable))
    }

    fn path(&self) -> String {
        let mut out = String::new();
        for part in &self.path {
            if !out.is_empty() && part != "[]" {
                out.push('.');
            }
            out.push_str(part);
        }
        out
    }
}

struct Tracer<'a>(&'a mut State);

/// A visitor's `expecting` text, which says what a custom `Deserialize` wants from a string.
struct Expecting<'a, V>(&'a V);

impl<'de, V: Visitor<'de>> Display for Expecting<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }
}

/// chrono's date and time types and uuid's `Uuid` deserialize from strings in a format; their
/// visitors' `expecting` text says which (chrono 0.4 `serde.rs`, uuid 1 `serde_support.rs`).
/// Returns the column type and a string the visitor accepts.
fn string_kind<'de, V: Visitor<'de>>(visitor: &V) -> Option<(DataType, &'static str)> {
    let expecting = Expecting(visitor).to_string();
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    [
        ("RFC 3339", utc, "1970-01-01T00:00:00Z"),
        (
            "date and time",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            "1970-01-01T00:00:00",
        ),
        ("date string", DataType::Date32, "1970-01-01"),
        (
            "time string",
            DataType::Time64(TimeUnit::Microsecond),
            "00:00:00",
        ),
        (
            "UUID",
            DataType::Utf8,
            "00000000-0000-0000-0000-000000000000",
        ),
    ]
    .into_iter()
    .find(|(marker, ..)| expecting.contains(marker))
    .map(|(_, dt, sample)| (dt, sample))
}

fn no_column(what: &str, fix: &str) -> TraceError {
    TraceError(format!("{what} has no column type; {fix}"))
}

macro_rules! primitive {
    ($($method:ident: $dt:expr => $visit:ident($value:expr);)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Traced<V::Value> {
            self.0.out = Some(($dt, false));
            visitor.$visit($value)
        }
    )*};
}

impl<'de> Deserializer<'de> for Tracer<'_> {
    type Error = TraceError;

    primitive! {
        deserialize_bool: DataType::Boolean => visit_bool(false);
        deserialize_i8: DataType::Int8 => visit_i8(0);
        deserialize_i16: DataType::Int16 => visit_i16(0);
        deserialize_i32: DataType::Int32 => visit_i32(0);
        deserialize_i64: DataType::Int64 => visit_i64(0);
        deserialize_u8: DataType::UInt8 => visit_u8(0);
        deserialize_u16: DataType::UInt16 => visit_u16(0);
        deserialize_u32: DataType::UInt32 => visit_u32(0);
        deserialize_u64: DataType::UInt64 => visit_u64(0);
        deserialize_f32: DataType::Float32 => visit_f32(0.0);
        deserialize_f64: DataType::Float64 => visit_f64(0.0);
        deserialize_char: DataType::Utf8 => visit_char('a');
        deserialize_bytes: DataType::Binary => visit_bytes(&[]);
        deserialize_byte_buf: DataType::Binary => visit_byte_buf(Vec::new());
    }

    fn deserialize_i128<V: Visitor<'de>>(self, _: V) -> Traced<V::Value> {
        Err(no_column(
            "i128",
            "DuckLake stores integers of up to 64 bits: use i64, or a String",
        ))
    }

    fn deserialize_u128<V: Visitor<'de>>(self, _: V) -> Traced<V::Value> {
        Err(no_column(
            "u128",
            "DuckLake stores integers of up to 64 bits: use u64, or a String",
        ))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Traced<V::Value> {
        let (dt, sample) = string_kind(&visitor).unwrap_or((DataType::Utf8, ""));
        self.0.out = Some((dt, false));
        visitor.visit_str(sample).map_err(|e: TraceError| {
            TraceError(format!(
                "its Deserialize rejects the string {sample:?} the schema tracer feeds it ({e}); \
                 Rows knows String, chrono's dates and times and uuid::Uuid: store the field as a \
                 String"
            ))
        })
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Traced<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Traced<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Traced<V::Value> {
        match string_kind(&visitor) {
            Some((dt, sample)) => {
                self.0.out = Some((dt, false));
                visitor.visit_str(sample)
            }
            None => Err(TraceError(format!(
                "its Deserialize accepts any value (expecting {}), so the type does not say its \
                 column type (serde_json::Value, untagged or internally tagged enums and \
                 #[serde(flatten)] are like that); give the field a concrete type, or store it as \
                 a String such as JSON text",
                Expecting(&visitor)
            ))),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Traced<V::Value> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Traced<V::Value> {
        let st = self.0;
        let value = visitor.visit_some(Tracer(&mut *st))?;
        if let Some((_, nullable)) = &mut st.out {
            *nullable = true;
        }
        Ok(value)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, _: V) -> Traced<V::Value> {
        Err(no_column(
            "the unit type ()",
            "remove the field or mark it #[serde(skip)]",
        ))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _: V,
    ) -> Traced<V::Value> {
        Err(no_column(
            &format!("the unit struct {name}"),
            "remove the field or mark it #[serde(skip)]",
        ))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Traced<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Traced<V::Value> {
        let mut items = Items {
            st: self.0,
            names: vec!["[]".into()],
            types: Vec::new(),
        };
        let value = visitor.visit_seq(&mut items)?;
        let (dt, nullable) = items.types.pop().ok_or_else(|| {
            TraceError("its Deserialize reads a sequence but no element of it".into())
        })?;
        let item = Field::new_list_field(dt, nullable);
        items.st.out = Some((DataType::List(Arc::new(item)), false));
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Traced<V::Value> {
        if len == 0 {
            return Err(no_column("an empty tuple or array", "remove the field"));
        }
        let names = (0..len).map(|i| i.to_string()).collect();
        let mut items = Items {
            st: self.0,
            names,
            types: Vec::new(),
        };
        let value = visitor.visit_seq(&mut items)?;
        let fields: Fields = (items.names.iter().zip(items.types))
            .map(|(name, (dt, nullable))| Field::new(name, dt, nullable))
            .collect();
        items.st.out = Some((DataType::Struct(fields), false));
        Ok(value)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Traced<V::Value> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Traced<V::Value> {
        let mut entries = Entries {
            st: self.0,
            key: None,
            value: None,
        };
        let value = visitor.visit_map(&mut entries)?;
        let (Some((key, _)), Some((dt, nullable))) = (entries.key, entries.value) else {
            return Err(TraceError(
                "its Deserialize reads a map but no entry of it".into(),
            ));
        };
        if key != DataType::Utf8 {
            return Err(no_column(
                &format!("a map with {key} keys"),
                "map keys must be strings; use a map with String keys or a list of structs",
            ));
        }
        let entry = DataType::Struct(Fields::from(vec![
            Field::new("keys", DataType::Utf8, false),
            Field::new("values", dt, nullable),
        ]));
        entries.st.out = Some((
            DataType::Map(Arc::new(Field::new("entries", entry, false)), false),
            false,
        ));
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Traced<V::Value> {
        if fields.is_empty() {
            return Err(no_column(
                &format!("the struct {name} without fields"),
                "remove the field",
            ));
        }
        let mut columns = Columns {
            st: self.0,
            names: fields,
            fields: Vec::new(),
        };
        let value = visitor.visit_map(&mut columns).map_err(|e| {
            match e.0.starts_with("duplicate field") {
                true => TraceError(format!(
                    "{e}: serde aliases (#[serde(alias)]) are not supported by Rows"
                )),
                false => e,
            }
        })?;
        columns.st.out = Some((DataType::Struct(columns.fields.into()), false));
        Ok(value)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Traced<V::Value> {
        let Some(last) = variants.len().checked_sub(1) else {
            return Err(no_column(
                &format!("the enum {name} without variants"),
                "remove the field",
            ));
        };
        self.0.variants = self.0.variants.max(variants.len());
        let variant = variants[self.0.pass.min(last)];
        let value = visitor.visit_enum(Variant { name, variant })?;
        self.0.out = Some((DataType::Utf8, false));
        Ok(value)
    }
}

/// The elements of a list (one) or of a tuple.
struct Items<'a> {
    st: &'a mut State,
    names: Vec<String>,
    types: Vec<(DataType, bool)>,
}

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = TraceError;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Traced<Option<S::Value>> {
        let Some(name) = self.names.get(self.types.len()) else {
            return Ok(None);
        };
        let (value, dt, nullable) = self.st.child(name, seed)?;
        self.types.push((dt, nullable));
        Ok(Some(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.names.len() - self.types.len())
    }
}

/// The fields of a struct.
struct Columns<'a> {
    st: &'a mut State,
    names: &'static [&'static str],
    fields: Vec<Field>,
}

impl<'de> MapAccess<'de> for Columns<'_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Traced<Option<K::Value>> {
        match self.names.get(self.fields.len()) {
            Some(name) => seed.deserialize((*name).into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Traced<S::Value> {
        let name = self.names[self.fields.len()];
        let (value, dt, nullable) = self.st.child(name, seed)?;
        self.fields.push(Field::new(name, dt, nullable));
        Ok(value)
    }
}

/// One entry of a map.
struct Entries<'a> {
    st: &'a mut State,
    key: Option<(DataType, bool)>,
    value: Option<(DataType, bool)>,
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Traced<Option<K::Value>> {
        if self.key.is_some() {
            return Ok(None);
        }
        let (key, dt, nullable) = self.st.child("key", seed)?;
        self.key = Some((dt, nullable));
        Ok(Some(key))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Traced<S::Value> {
        let (value, dt, nullable) = self.st.child("value", seed)?;
        self.value = Some((dt, nullable));
        Ok(value)
    }
}

/// The variant of an enum this walk picks; only unit variants have a column type (a string).
struct Variant {
    name: &'static str,
    variant: &'static str,
}

impl Variant {
    fn carries_data(&self) -> TraceError {
        TraceError(format!(
            "variant {}::{} carries data; Rows stores enums whose variants are all unit variants \
             (as the variant's name): move the data into Option fields of the struct, or store \
             the value as a String such as JSON text",
            self.name, self.variant
        ))
    }
}

impl<'de> EnumAccess<'de> for Variant {
    type Error = TraceError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Traced<(S::Value, Self)> {
        let value = seed.deserialize(self.variant.into_deserializer())?;
        Ok((value, self))
    }
}

impl<'de> VariantAccess<'de> for Variant {
    type Error = TraceError;

    fn unit_variant(self) -> Traced<()> {
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, _: S) -> Traced<S::Value> {
        Err(self.carries_data())
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Traced<V::Value> {
        Err(self.carries_data())
    }

    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Traced<V::Value> {
        Err(self.carries_data())
    }
}

/// The Arrow schema of a table of `T`s, derived from the type (one column per field). The error
/// names the type and the field and says what to do.
pub(crate) fn schema_of<T: DeserializeOwned>() -> Result<Schema, String> {
    let ty = std::any::type_name::<T>();
    let mut first = None;
    let mut pass = 0;
    loop {
        let mut st = State {
            path: Vec::new(),
            pass,
            variants: 1,
            out: None,
        };
        if let Err(e) = T::deserialize(Tracer(&mut st)) {
            let at = match st.path() {
                p if p.is_empty() => String::new(),
                p => format!(" at field `{p}`"),
            };
            return Err(format!(
                "cannot derive a table schema from the type {ty}{at}: {e}"
            ));
        }
        first = first.or(st.out);
        pass += 1;
        if pass >= st.variants {
            break;
        }
    }
    match first {
        Some((DataType::Struct(fields), false)) => Ok(Schema::new(fields)),
        Some((dt, nullable)) => Err(format!(
            "Rows<T> stores one column per field of T, so T must be a struct (or a tuple); {ty} \
             is {}{dt}",
            if nullable { "a nullable " } else { "" }
        )),
        None => Err(format!(
            "the Deserialize implementation of {ty} reads no value"
        )),
    }
}
