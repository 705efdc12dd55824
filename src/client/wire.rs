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

/// A message line of `fmt=json` read without copying its strings: each
/// borrows from the line unless it holds an escape. What `circolog-tail`
/// renders a dump's `short` lines from, a line at a time.
///
/// INVARIANT: [`borrow_message`] is at least as strict as
/// [`parse_json_line`]: every line it reads is one `parse_json_line` reads
/// as a [`JsonLine::Message`] with the same field values (the fields of
/// both of its passes are here with the same types; `structured_data` is
/// checked for the same shape and not kept). Any other line (a notice, a
/// line it refuses) is left to `parse_json_line`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
#[allow(dead_code, reason = "a field not rendered is read for its type")]
pub struct BorrowedMessage<'a> {
    seq: Option<Seq>,
    // The fields of a notice, which `parse_json_line` reads first.
    skipped: Option<u64>,
    cleared: bool,
    paused: Option<bool>,
    snapshot: Option<u64>,
    #[serde(borrow)]
    why: Text<'a>,
    epoch: i64,
    #[serde(borrow)]
    received: Text<'a>,
    #[serde(borrow)]
    timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    facility: Text<'a>,
    #[serde(borrow)]
    severity: Text<'a>,
    #[serde(borrow)]
    hostname: Option<Text<'a>>,
    #[serde(borrow)]
    app_name: Option<Text<'a>>,
    #[serde(borrow)]
    proc_id: Option<Text<'a>>,
    #[serde(borrow)]
    msg_id: Option<Text<'a>>,
    malformed: bool,
    structured_data: Option<SdShape>,
    #[serde(borrow)]
    message: Text<'a>,
}

/// A JSON string, borrowed from the line when it holds no escape.
#[derive(Debug, Default, Deserialize)]
struct Text<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

impl Text<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
}

/// `structured_data` checked for the shape [`StructuredData`] takes (an
/// object of objects whose values are strings or arrays of strings), and
/// dropped.
#[derive(Debug)]
struct SdShape;

impl<'de> Deserialize<'de> for SdShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{MapAccess, SeqAccess, Visitor};

        /// One value, or the array a repeated name becomes.
        struct Values;
        impl<'de> Visitor<'de> for Values {
            type Value = Values;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Values)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<Text<'de>>()?.is_some() {}
                Ok(Values)
            }
        }
        impl<'de> Deserialize<'de> for Values {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(Values)
            }
        }
        /// An object of `Keyed`, its keys strings.
        struct Object<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of structured data")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                while map.next_entry::<Text<'de>, T>()?.is_some() {}
                Ok(())
            }
        }
        struct Params;
        impl<'de> Deserialize<'de> for Params {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map(Object::<Values>(std::marker::PhantomData))
                    .map(|()| Params)
            }
        }
        d.deserialize_map(Object::<Params>(std::marker::PhantomData))
            .map(|()| SdShape)
    }
}

/// A `fmt=json` line read as a message without copying it, when it is
/// one [`parse_json_line`] would read (see [`BorrowedMessage`]); `None`
/// for anything else, which is `parse_json_line`'s to read.
pub fn borrow_message(line: &str) -> Option<BorrowedMessage<'_>> {
    serde_json::from_str::<BorrowedMessage<'_>>(line)
        .ok()
        .filter(|m| m.seq.is_some())
}

impl<'a> BorrowedMessage<'a> {
    pub fn severity(&self) -> &str {
        self.severity.as_str()
    }

    /// What `short` prints of it.
    pub fn short_fields(&self) -> ShortFields<'_> {
        ShortFields {
            timestamp: self.timestamp.as_ref().map(Text::as_str),
            received: self.received.as_str(),
            hostname: self.hostname.as_ref().map(Text::as_str),
            app_name: self.app_name.as_ref().map(Text::as_str),
            proc_id: self.proc_id.as_ref().map(Text::as_str),
            message: self.message.as_str(),
        }
    }
}

/// The fields of a message that the `short` format prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortFields<'a> {
    pub timestamp: Option<&'a str>,
    pub received: &'a str,
    pub hostname: Option<&'a str>,
    pub app_name: Option<&'a str>,
    pub proc_id: Option<&'a str>,
    pub message: &'a str,
}

impl JsonMessage {
    /// What `short` prints of it.
    pub fn short_fields(&self) -> ShortFields<'_> {
        ShortFields {
            timestamp: self.timestamp.as_deref(),
            received: &self.received,
            hostname: self.hostname.as_deref(),
            app_name: self.app_name.as_deref(),
            proc_id: self.proc_id.as_deref(),
            message: &self.message,
        }
    }
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
