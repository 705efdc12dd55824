//! The `fmt=json` wire format as a client reads it: messages and notices.

use std::fmt;

use serde::Deserialize;

use crate::store::ring::Seq;

/// One stored message, as `fmt=json` writes it (the fields `short` and
/// `syslog` are rendered from).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct JsonMessage {
    pub seq: Seq,
    pub epoch: i64,
    pub received: String,
    pub timestamp: Option<String>,
    pub facility: String,
    pub severity: String,
    pub hostname: Option<String>,
    pub app_name: Option<String>,
    pub proc_id: Option<String>,
    pub msg_id: Option<String>,
    pub malformed: bool,
    pub structured_data: Option<StructuredData>,
    pub message: String,
}

/// `structured_data` of `fmt=json` in the order the daemon wrote it (the
/// message's order): elements, their params, each param's values (one,
/// or several when the name was repeated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StructuredData(pub Vec<SdElement>);

/// One element of [`StructuredData`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SdElement {
    pub id: String,
    pub params: Vec<SdParam>,
}

/// One param of an [`SdElement`]: a name and its values in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SdParam {
    pub name: String,
    pub values: Vec<String>,
}

impl<'de> Deserialize<'de> for StructuredData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{MapAccess, Visitor};

        /// One value, or the array a repeated name becomes.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Values {
            One(String),
            Many(Vec<String>),
        }

        struct Params;
        impl<'de> Visitor<'de> for Params {
            type Value = Vec<SdParam>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of structured-data params")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((name, values)) = map.next_entry::<String, Values>()? {
                    let values = match values {
                        Values::One(v) => vec![v],
                        Values::Many(vs) => vs,
                    };
                    out.push(SdParam { name, values });
                }
                Ok(out)
            }
        }
        struct Element(Vec<SdParam>);
        impl<'de> Deserialize<'de> for Element {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map(Params).map(Element)
            }
        }
        struct Elements;
        impl<'de> Visitor<'de> for Elements {
            type Value = StructuredData;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of structured-data elements")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((id, Element(params))) = map.next_entry::<String, Element>()? {
                    out.push(SdElement { id, params });
                }
                Ok(StructuredData(out))
            }
        }
        d.deserialize_map(Elements)
    }
}

/// One line of `fmt=json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonLine {
    Message(Box<JsonMessage>),
    /// `{"skipped":N,"epoch":E}`: the ring overwrote N messages before the
    /// follower read them.
    Skipped {
        count: u64,
        epoch: i64,
    },
    /// `{"cleared":true,"epoch":E}`: the buffer was cleared.
    Cleared {
        epoch: i64,
    },
    /// `{"paused":true|false,"epoch":E}`: the daemon paused or resumed.
    Paused {
        paused: bool,
        epoch: i64,
    },
    /// `{"snapshot":ID,"why":W,"epoch":E}`: a snapshot was taken.
    Snapshot {
        id: u64,
        why: String,
        epoch: i64,
    },
}

#[derive(Deserialize)]
struct AnyLine {
    seq: Option<Seq>,
    skipped: Option<u64>,
    #[serde(default)]
    cleared: bool,
    paused: Option<bool>,
    snapshot: Option<u64>,
    #[serde(default)]
    why: String,
    #[serde(default)]
    epoch: i64,
}

/// Parses one line of `fmt=json`: a message or a notice.
pub fn parse_json_line(line: &str) -> Result<JsonLine, serde_json::Error> {
    let any: AnyLine = serde_json::from_str(line)?;
    if any.seq.is_some() {
        return serde_json::from_str(line).map(|m| JsonLine::Message(Box::new(m)));
    }
    if let Some(count) = any.skipped {
        return Ok(JsonLine::Skipped {
            count,
            epoch: any.epoch,
        });
    }
    if any.cleared {
        return Ok(JsonLine::Cleared { epoch: any.epoch });
    }
    if let Some(paused) = any.paused {
        return Ok(JsonLine::Paused {
            paused,
            epoch: any.epoch,
        });
    }
    if let Some(id) = any.snapshot {
        return Ok(JsonLine::Snapshot {
            id,
            why: any.why,
            epoch: any.epoch,
        });
    }
    Err(<serde_json::Error as serde::de::Error>::custom(
        "neither a message nor a notice",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_and_notices() {
        let line = r#"{"seq":3,"epoch":17,"received":"2026-01-08T19:46:04.000000Z","transport":"unix","timestamp":null,"facility":"user","severity":"err","hostname":null,"app_name":"app","proc_id":null,"msg_id":null,"structured_data":null,"message":"m"}"#;
        let JsonLine::Message(m) = parse_json_line(line).expect("parses") else {
            panic!("a message");
        };
        assert_eq!(
            (m.seq, m.epoch, m.severity.as_str()),
            (Seq::new(3), 17, "err")
        );
        assert_eq!(
            parse_json_line(r#"{"skipped":4,"epoch":17}"#).expect("parses"),
            JsonLine::Skipped {
                count: 4,
                epoch: 17
            }
        );
        assert_eq!(
            parse_json_line(r#"{"cleared":true,"epoch":17}"#).expect("parses"),
            JsonLine::Cleared { epoch: 17 }
        );
        assert!(parse_json_line(r#"{"hello":1}"#).is_err());
        assert!(parse_json_line("not json").is_err());
    }
}
