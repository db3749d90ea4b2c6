//! The profile file format: YAML read with serde_yaml, unknown fields refused, errors with file, line and
//! column.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::{Entry, Op, Origin, Profile, Target};
use crate::error::{Error, Location, Result};
use crate::nic::{CpuSet, NicRequest};
use crate::sysctl::{normalise, Key};

pub(super) fn parse(text: &str, default_name: &str, origin: Origin) -> Result<Profile> {
    let file = origin.describe(default_name);
    crate::nesting::check(text).map_err(|deep| Error::Profile {
        location: Location {
            file: file.clone(),
            line: deep.line,
            column: deep.column,
        },
        message: deep.to_string(),
    })?;
    let doc: ProfileDoc = serde_yaml::from_str(text).map_err(|e| yaml_error(&file, &e))?;
    Ok(Profile {
        name: doc.name.unwrap_or_else(|| default_name.to_string()),
        description: doc.description.unwrap_or_default(),
        include: doc.include,
        sysctl: doc.sysctl.0,
        nic: doc.nic.into_iter().map(NicDoc::into_request).collect(),
        origin,
        text: text.to_string(),
    })
}

/// A serde_yaml error as `file:line:col: message`.
fn yaml_error(file: &str, e: &serde_yaml::Error) -> Error {
    let (location, message) = pincore_cli::position::yaml_error(file, e);
    Error::Profile { location, message }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileDoc {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    sysctl: EntriesDoc,
    #[serde(default, deserialize_with = "nic_entries")]
    nic: Vec<NicDoc>,
}

/// One device in a profile's `nic:` list.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NicDoc {
    device: String,
    /// A CPU list such as `8-15` or `0,2,4`; default: the device's NUMA-local CPUs.
    #[serde(default)]
    cpus: Option<CpuSet>,
    #[serde(default = "yes")]
    rps: bool,
    #[serde(default)]
    rfs: bool,
    #[serde(default = "yes")]
    xps: bool,
}

fn yes() -> bool {
    true
}

impl NicDoc {
    fn into_request(self) -> NicRequest {
        NicRequest {
            device: self.device,
            cpus: self.cpus,
            rps: self.rps,
            rfs: self.rfs,
            xps: self.xps,
        }
    }
}

/// The `nic:` list; a device named twice in one profile is an error at its line.
fn nic_entries<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<NicDoc>, D::Error> {
    struct NicVisitor;
    impl<'de> Visitor<'de> for NicVisitor {
        type Value = Vec<NicDoc>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of devices, each `{device: NAME, cpus: LIST, rps: BOOL, rfs: BOOL, xps: BOOL}`")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<NicDoc>, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<NicDoc>, A::Error> {
            let mut out: Vec<NicDoc> = Vec::new();
            while let Some(doc) = seq.next_element::<NicDoc>()? {
                if doc.device.is_empty() || doc.device.contains('/') {
                    return Err(de::Error::custom(format!(
                        "`{}` is not a network device name",
                        doc.device
                    )));
                }
                if out.iter().any(|d| d.device == doc.device) {
                    return Err(de::Error::custom(format!(
                        "device {} is listed twice",
                        doc.device
                    )));
                }
                out.push(doc);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_any(NicVisitor)
}

/// The `sysctl:` mapping, kept in file order.
#[derive(Default)]
struct EntriesDoc(Vec<Entry>);

impl<'de> Deserialize<'de> for EntriesDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = EntriesDoc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of sysctl names to values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<EntriesDoc, E> {
                Ok(EntriesDoc::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EntriesDoc, A::Error> {
                let mut entries: Vec<Entry> = Vec::new();
                while let Some(key) = map.next_key::<Key>()? {
                    let EntryDoc {
                        value,
                        op,
                        why,
                        source,
                        optional,
                    } = map.next_value()?;
                    if entries.iter().any(|e| e.key == key) {
                        return Err(de::Error::custom(format!("{key} is set twice")));
                    }
                    entries.push(Entry {
                        key,
                        target: Target { value, op },
                        why,
                        source,
                        optional,
                    });
                }
                Ok(EntriesDoc(entries))
            }
        }
        deserializer.deserialize_any(EntriesVisitor)
    }
}

/// An entry: a bare value (op exact) or `{value, op, why, source, optional}`.
struct EntryDoc {
    value: String,
    op: Op,
    why: Option<String>,
    source: Option<String>,
    optional: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFields {
    value: ValueDoc,
    #[serde(default)]
    op: Op,
    why: Option<String>,
    source: Option<String>,
    #[serde(default)]
    optional: bool,
}

impl<'de> Deserialize<'de> for EntryDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = EntryDoc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a value (integer or string) or a mapping {value, op, why, source, optional}",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EntryDoc, E> {
                Ok(EntryDoc::plain(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EntryDoc, E> {
                Ok(EntryDoc::plain(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EntryDoc, E> {
                checked_value(v).map(EntryDoc::plain).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EntryDoc, A::Error> {
                let f = EntryFields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let value = f.value.0;
                if f.op != Op::Exact {
                    if let Some(bad) = value
                        .split(' ')
                        .find(|field| field.parse::<i128>().is_err())
                    {
                        return Err(de::Error::custom(format!(
                            "op {} compares numbers, but field {bad:?} of {value:?} is not an integer: use op exact",
                            f.op.as_str()
                        )));
                    }
                }
                Ok(EntryDoc {
                    value,
                    op: f.op,
                    why: f.why,
                    source: f.source,
                    optional: f.optional,
                })
            }
        }
        deserializer.deserialize_any(EntryVisitor)
    }
}

impl EntryDoc {
    fn plain(value: String) -> EntryDoc {
        EntryDoc {
            value,
            op: Op::Exact,
            why: None,
            source: None,
            optional: false,
        }
    }
}

/// A sysctl value: an integer or a string, stored whitespace-normalised.
struct ValueDoc(String);

impl<'de> Deserialize<'de> for ValueDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl Visitor<'_> for ValueVisitor {
            type Value = ValueDoc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer or a string such as \"4096 131072 16777216\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ValueDoc, E> {
                Ok(ValueDoc(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ValueDoc, E> {
                Ok(ValueDoc(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ValueDoc, E> {
                checked_value(v).map(ValueDoc).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

fn checked_value(v: &str) -> std::result::Result<String, String> {
    let value = normalise(v);
    if value.is_empty() {
        return Err("empty value: give the value the key should have".into());
    }
    if v.contains('\n') {
        return Err("a sysctl value is one line".into());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_full_entries_parse_and_values_are_normalised() {
        let p = Profile::from_yaml(
            "sysctl:\n  a.b: 5\n  c.d: \"4096\\t131072   6291456\"\n  e.f: {value: 10, op: at-most, why: w}\n",
            "t",
            Origin::BuiltIn,
        )
        .unwrap();
        assert_eq!(p.name, "t");
        assert_eq!(
            p.sysctl[0].target,
            Target {
                value: "5".into(),
                op: Op::Exact
            }
        );
        assert_eq!(p.sysctl[1].target.value, "4096 131072 6291456");
        assert_eq!(p.sysctl[2].target.op, Op::AtMost);
        assert_eq!(p.sysctl[2].why.as_deref(), Some("w"));
    }

    #[test]
    fn numeric_ops_need_numbers() {
        let err = Profile::from_yaml(
            "sysctl:\n  a.b: {value: bbr, op: at-least}\n",
            "t",
            Origin::BuiltIn,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not an integer"), "{err}");
    }
}
