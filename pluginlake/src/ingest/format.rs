//! [`Format`]: the body formats a dataset accepts, their media types and staged extensions.

use std::fmt;

use serde::Serialize;

/// The body formats a dataset accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A JSON array of objects, or one object (`application/json`).
    Json,
    /// One JSON object per line (`application/x-ndjson`, `application/ndjson`,
    /// `application/jsonl`).
    Ndjson,
    /// Comma-separated values with a header line naming the columns (`text/csv`).
    Csv,
    /// An XML document whose records are the elements at the dataset's record path
    /// ([`Dataset::with_xml_records`](super::Dataset::with_xml_records)); the attributes and
    /// child elements of a record are its fields (`application/xml`, `text/xml`).
    Xml,
    /// A Parquet file whose columns are matched to the contract by name
    /// (`application/vnd.apache.parquet`, `application/x-parquet`).
    Parquet,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [
        Format::Json,
        Format::Ndjson,
        Format::Csv,
        Format::Xml,
        Format::Parquet,
    ];

    /// The format of a media type (a `Content-Type` value, parameters ignored); `None` when
    /// it is not one of the formats.
    pub fn from_media_type(content_type: &str) -> Option<Format> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(Format::Json),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines" => Some(Format::Ndjson),
            "text/csv" => Some(Format::Csv),
            "application/xml" | "text/xml" => Some(Format::Xml),
            "application/vnd.apache.parquet" | "application/x-parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// The file extension of a staged payload (`json`, `ndjson`, `csv`, `xml`, `parquet`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Xml => "xml",
            Format::Parquet => "parquet",
        }
    }

    /// The format of a staged payload's file extension.
    pub fn from_extension(ext: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.extension() == ext)
    }

    /// The media type it is sent as.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv",
            Format::Xml => "application/xml",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    /// Every media type [`from_media_type`](Self::from_media_type) understands for this
    /// format, the preferred one first.
    pub fn media_types(self) -> &'static [&'static str] {
        match self {
            Format::Json => &["application/json"],
            Format::Ndjson => &[
                "application/x-ndjson",
                "application/ndjson",
                "application/jsonl",
                "application/x-jsonlines",
            ],
            Format::Csv => &["text/csv"],
            Format::Xml => &["application/xml", "text/xml"],
            Format::Parquet => &["application/vnd.apache.parquet", "application/x-parquet"],
        }
    }

    /// The media types of `formats`, as a comma-separated list for messages (each format's
    /// preferred media type first, then its aliases).
    pub fn list_media_types(formats: impl IntoIterator<Item = Format>) -> String {
        let types: Vec<&str> = formats
            .into_iter()
            .flat_map(|f| f.media_types().iter().copied())
            .collect();
        types.join(", ")
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_pick_the_format() {
        assert_eq!(
            Format::from_media_type("application/json; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(Format::from_media_type("text/CSV"), Some(Format::Csv));
        assert_eq!(Format::from_media_type("text/xml"), Some(Format::Xml));
        assert_eq!(
            Format::from_media_type("application/x-parquet"),
            Some(Format::Parquet)
        );
        assert_eq!(Format::from_media_type("text/plain"), None);
    }

    #[test]
    fn every_media_type_listed_maps_back_to_its_format() {
        for f in Format::ALL {
            for t in f.media_types() {
                assert_eq!(Format::from_media_type(t), Some(f), "{t}");
            }
            assert_eq!(f.media_types()[0], f.media_type());
            assert_eq!(Format::from_extension(f.extension()), Some(f));
        }
        let listed = Format::list_media_types(Format::ALL);
        assert!(
            listed.contains("application/vnd.apache.parquet"),
            "{listed}"
        );
    }
}
