//! Spans (`std::time::Duration`) serialized as seconds (`f64`), for fields named `*_s`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// A `Duration` as seconds.
pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Seconds as a `Duration`; negative or non-finite seconds are an error.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

/// An optional `Duration` as seconds or null.
pub(crate) mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// `Some` as seconds, `None` as null.
    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    /// Seconds or null.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|secs| Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Timed {
        #[serde(rename = "took_s", with = "super")]
        took: Duration,
        #[serde(rename = "left_s", with = "super::option")]
        left: Option<Duration>,
    }

    #[test]
    fn spans_are_seconds_under_an_s_suffixed_name() {
        let t = Timed {
            took: Duration::from_millis(1500),
            left: None,
        };
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json, serde_json::json!({"took_s": 1.5, "left_s": null}));
        assert_eq!(serde_json::from_value::<Timed>(json).unwrap(), t);
        assert!(serde_json::from_str::<Timed>(r#"{"took_s": -1, "left_s": null}"#).is_err());
    }
}
