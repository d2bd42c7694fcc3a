//! Checks a row type against ClickHouse's column types.
//!
//! The client runs with validation off (ClickHouse 18.16 cannot answer it), and RowBinary has no
//! types on the wire: a `u32` field read from a `UInt64` column silently yields garbage. So each
//! row type is checked in tests: [`wire_types`] serialises a sample row with a recording
//! serializer to learn what each field puts on the wire, and [`mismatches`] compares that with
//! `DESCRIBE TABLE` or a query's result header.

use std::fmt;

use clickhouse::Client;
use serde::ser::{self, Impossible, Serialize};

use crate::StoreError;

/// What a field puts on the RowBinary wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Str,
    /// A pair of `u64`: how `clickhouse::serde::uuid` writes a UUID.
    Uuid,
}

impl WireType {
    /// Whether a column of ClickHouse type `column` reads and writes this wire type.
    pub fn fits(self, column: &str) -> bool {
        let column = column
            .strip_prefix("LowCardinality(")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or(column);
        match self {
            WireType::Bool | WireType::U8 => column == "UInt8",
            WireType::I8 => column == "Int8" || column.starts_with("Enum8("),
            WireType::I16 => column == "Int16" || column.starts_with("Enum16("),
            WireType::I32 => column == "Int32",
            WireType::I64 => column == "Int64",
            WireType::U16 => column == "UInt16" || column == "Date",
            WireType::U32 => {
                column == "UInt32" || column == "DateTime" || column.starts_with("DateTime(")
            }
            WireType::U64 => column == "UInt64",
            WireType::F32 => column == "Float32",
            WireType::F64 => column == "Float64",
            WireType::Str => column == "String",
            WireType::Uuid => column == "UUID",
        }
    }
}

/// Why a row could not be described.
#[derive(Debug)]
pub struct WireError(String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

impl ser::Error for WireError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        WireError(msg.to_string())
    }
}

fn unsupported<T>(what: &str) -> Result<T, WireError> {
    Err(WireError(format!(
        "{what} is not a supported row field type"
    )))
}

/// The fields of `row`, in order, with the wire type each writes.
pub fn wire_types<T: Serialize>(row: &T) -> Result<Vec<(&'static str, WireType)>, WireError> {
    row.serialize(RowRecorder)
}

/// Compares `row`'s fields with `columns` (name, ClickHouse type), both in order. Returns one
/// human-readable line per difference; empty means the row type fits.
pub fn compare<T: Serialize>(row: &T, columns: &[(String, String)]) -> Vec<String> {
    let fields = match wire_types(row) {
        Ok(fields) => fields,
        Err(error) => return vec![error.to_string()],
    };
    let mut problems = Vec::new();
    if fields.len() != columns.len() {
        problems.push(format!(
            "{} fields but {} columns",
            fields.len(),
            columns.len()
        ));
    }
    for (index, ((field, wire), (column, ty))) in fields.iter().zip(columns).enumerate() {
        if field != column {
            problems.push(format!("#{index}: field `{field}` but column `{column}`"));
        } else if !wire.fits(ty) {
            problems.push(format!("`{field}`: {wire:?} does not fit {ty}"));
        }
    }
    problems
}

/// `DESCRIBE TABLE table` as (name, type) pairs.
pub async fn describe_table(
    client: &Client,
    table: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let text = fetch_text(client, &format!("DESCRIBE TABLE {table}"), "TabSeparated").await?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split('\t');
            Some((parts.next()?.to_string(), unescape(parts.next()?)))
        })
        .collect())
}

/// The result columns of `sql` (a complete query, binds already applied) as (name, type).
pub async fn describe_query(
    client: &Client,
    sql: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let text = fetch_text(client, sql, "TabSeparatedWithNamesAndTypes").await?;
    let mut lines = text.lines();
    let names = lines.next().unwrap_or_default().split('\t');
    let types = lines.next().unwrap_or_default().split('\t');
    Ok(names
        .zip(types)
        .map(|(name, ty)| (name.to_string(), unescape(ty)))
        .collect())
}

async fn fetch_text(client: &Client, sql: &str, format: &str) -> Result<String, StoreError> {
    let bytes = client.query(sql).fetch_bytes(format)?.collect().await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// TabSeparated escapes quotes in `Enum8('a' = 1)` as `\'`.
fn unescape(value: &str) -> String {
    value.replace("\\'", "'").replace("\\\\", "\\")
}

struct RowRecorder;

struct FieldRecorder(Vec<(&'static str, WireType)>);

struct TypeOf;

struct PairOf(Vec<WireType>);

impl ser::SerializeStruct for FieldRecorder {
    type Ok = Vec<(&'static str, WireType)>;
    type Error = WireError;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), WireError> {
        self.0.push((key, value.serialize(TypeOf)?));
        Ok(())
    }

    fn end(self) -> Result<Self::Ok, WireError> {
        Ok(self.0)
    }
}

impl ser::SerializeTuple for PairOf {
    type Ok = WireType;
    type Error = WireError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), WireError> {
        self.0.push(value.serialize(TypeOf)?);
        Ok(())
    }

    fn end(self) -> Result<WireType, WireError> {
        if self.0 == [WireType::U64, WireType::U64] {
            Ok(WireType::Uuid)
        } else {
            unsupported("a tuple other than the (u64, u64) of a UUID")
        }
    }
}

macro_rules! record {
    ($($method:ident($ty:ty) => $wire:expr),* $(,)?) => {
        $(fn $method(self, _: $ty) -> Result<WireType, WireError> { Ok($wire) })*
    };
}

macro_rules! reject {
    ($($method:ident($($arg:ty),*) -> $ret:ty),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ret, WireError> {
            unsupported(stringify!($method))
        })*
    };
}

impl ser::Serializer for TypeOf {
    type Ok = WireType;
    type Error = WireError;
    type SerializeSeq = Impossible<WireType, WireError>;
    type SerializeTuple = PairOf;
    type SerializeTupleStruct = Impossible<WireType, WireError>;
    type SerializeTupleVariant = Impossible<WireType, WireError>;
    type SerializeMap = Impossible<WireType, WireError>;
    type SerializeStruct = Impossible<WireType, WireError>;
    type SerializeStructVariant = Impossible<WireType, WireError>;

    /// RowBinary is a binary format; `clickhouse::serde::uuid` writes a pair of `u64` for it.
    fn is_human_readable(&self) -> bool {
        false
    }

    record! {
        serialize_bool(bool) => WireType::Bool,
        serialize_i8(i8) => WireType::I8,
        serialize_i16(i16) => WireType::I16,
        serialize_i32(i32) => WireType::I32,
        serialize_i64(i64) => WireType::I64,
        serialize_u8(u8) => WireType::U8,
        serialize_u16(u16) => WireType::U16,
        serialize_u32(u32) => WireType::U32,
        serialize_u64(u64) => WireType::U64,
        serialize_f32(f32) => WireType::F32,
        serialize_f64(f64) => WireType::F64,
        serialize_str(&str) => WireType::Str,
    }

    reject! {
        serialize_char(char) -> WireType,
        serialize_bytes(&[u8]) -> WireType,
        serialize_none() -> WireType,
        serialize_unit() -> WireType,
        serialize_unit_struct(&'static str) -> WireType,
        serialize_unit_variant(&'static str, u32, &'static str) -> WireType,
        serialize_seq(Option<usize>) -> Self::SerializeSeq,
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
        serialize_tuple_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeTupleVariant,
        serialize_map(Option<usize>) -> Self::SerializeMap,
        serialize_struct(&'static str, usize) -> Self::SerializeStruct,
        serialize_struct_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeStructVariant,
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<WireType, WireError> {
        unsupported("Option (Nullable)")
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<WireType, WireError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<WireType, WireError> {
        unsupported("an enum variant with data")
    }

    fn serialize_tuple(self, _: usize) -> Result<PairOf, WireError> {
        Ok(PairOf(Vec::with_capacity(2)))
    }
}

impl ser::Serializer for RowRecorder {
    type Ok = Vec<(&'static str, WireType)>;
    type Error = WireError;
    type SerializeSeq = Impossible<Self::Ok, WireError>;
    type SerializeTuple = Impossible<Self::Ok, WireError>;
    type SerializeTupleStruct = Impossible<Self::Ok, WireError>;
    type SerializeTupleVariant = Impossible<Self::Ok, WireError>;
    type SerializeMap = Impossible<Self::Ok, WireError>;
    type SerializeStruct = FieldRecorder;
    type SerializeStructVariant = Impossible<Self::Ok, WireError>;

    fn serialize_struct(self, _: &'static str, len: usize) -> Result<FieldRecorder, WireError> {
        Ok(FieldRecorder(Vec::with_capacity(len)))
    }

    reject! {
        serialize_bool(bool) -> Self::Ok,
        serialize_i8(i8) -> Self::Ok,
        serialize_i16(i16) -> Self::Ok,
        serialize_i32(i32) -> Self::Ok,
        serialize_i64(i64) -> Self::Ok,
        serialize_u8(u8) -> Self::Ok,
        serialize_u16(u16) -> Self::Ok,
        serialize_u32(u32) -> Self::Ok,
        serialize_u64(u64) -> Self::Ok,
        serialize_f32(f32) -> Self::Ok,
        serialize_f64(f64) -> Self::Ok,
        serialize_char(char) -> Self::Ok,
        serialize_str(&str) -> Self::Ok,
        serialize_bytes(&[u8]) -> Self::Ok,
        serialize_none() -> Self::Ok,
        serialize_unit() -> Self::Ok,
        serialize_unit_struct(&'static str) -> Self::Ok,
        serialize_unit_variant(&'static str, u32, &'static str) -> Self::Ok,
        serialize_seq(Option<usize>) -> Self::SerializeSeq,
        serialize_tuple(usize) -> Self::SerializeTuple,
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
        serialize_tuple_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeTupleVariant,
        serialize_map(Option<usize>) -> Self::SerializeMap,
        serialize_struct_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeStructVariant,
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<Self::Ok, WireError> {
        unsupported("a row that is an Option")
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Self::Ok, WireError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, WireError> {
        unsupported("a row that is an enum")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Sample {
        #[serde(with = "clickhouse::serde::uuid")]
        id: uuid::Uuid,
        count: u64,
        name: String,
        at: u32,
        code: i8,
    }

    fn sample() -> Sample {
        Sample {
            id: uuid::Uuid::nil(),
            count: 1,
            name: "x".into(),
            at: 0,
            code: 1,
        }
    }

    fn columns(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn records_each_field_with_its_wire_type() {
        assert_eq!(
            wire_types(&sample()).expect("sample is a plain struct"),
            vec![
                ("id", WireType::Uuid),
                ("count", WireType::U64),
                ("name", WireType::Str),
                ("at", WireType::U32),
                ("code", WireType::I8),
            ]
        );
    }

    #[test]
    fn a_matching_schema_has_no_problems() {
        let schema = columns(&[
            ("id", "UUID"),
            ("count", "UInt64"),
            ("name", "LowCardinality(String)"),
            ("at", "DateTime('UTC')"),
            ("code", "Enum8('a' = 1)"),
        ]);
        assert!(compare(&sample(), &schema).is_empty());
    }

    #[test]
    fn a_narrower_integer_or_a_renamed_column_is_reported() {
        let schema = columns(&[
            ("id", "UUID"),
            ("count", "UInt32"),
            ("label", "String"),
            ("at", "DateTime"),
            ("code", "Int8"),
        ]);
        let problems = compare(&sample(), &schema);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("count"));
        assert!(problems[1].contains("label"));
    }

    #[test]
    fn a_missing_column_is_reported() {
        let schema = columns(&[("id", "UUID")]);
        assert!(compare(&sample(), &schema)[0].contains("5 fields but 1 columns"));
    }
}
