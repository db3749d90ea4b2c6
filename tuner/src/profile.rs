//! Profiles: the YAML model, loading (built-in, profile directory or file path), include resolution and
//! flattening.
//!
//! A profile file looks like this:
//!
//! ```yaml
//! name: connections
//! description: Many concurrent, short-lived connections.
//! include: [base]
//! sysctl:
//!   net.ipv4.tcp_fin_timeout: 30                      # plain value: op exact
//!   net.core.somaxconn: {value: 16384, op: at-least, why: "...", source: "..."}
//! ```
//!
//! Includes are resolved depth first; the including profile wins per key. Everything outside this module
//! works on the [`FlatProfile`], where each entry remembers the profile it came from.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Location, Result};
use crate::nic::{CpuSet, NicRequest};
use crate::sysctl::{normalise, Key};

/// Where the profiles a user writes live unless `--profile-dir` says otherwise.
pub const DEFAULT_PROFILE_DIR: &str = "/etc/pincore/profiles";

/// The profiles compiled into the binary, in the order `profiles` lists them.
const BUILTIN: &[(&str, &str)] = &[
    ("base", include_str!("../profiles/base.yaml")),
    ("throughput", include_str!("../profiles/throughput.yaml")),
    ("latency", include_str!("../profiles/latency.yaml")),
    ("connections", include_str!("../profiles/connections.yaml")),
];

/// How a target compares with the live value. Multi-field values compare field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// The live value must equal the target (whitespace-normalised).
    #[default]
    Exact,
    /// Raise-only: a live value already at or above the target is left alone (tuned's `>`).
    AtLeast,
    /// Lower-only: a live value already at or below the target is left alone (tuned's `<`).
    AtMost,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Exact => "exact",
            Op::AtLeast => "at-least",
            Op::AtMost => "at-most",
        }
    }
}

/// What a profile asks of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Whitespace-normalised.
    pub value: String,
    pub op: Op,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.op {
            Op::Exact => write!(f, "{}", self.value),
            Op::AtLeast => write!(f, ">= {}", self.value),
            Op::AtMost => write!(f, "<= {}", self.value),
        }
    }
}

/// One `sysctl:` entry of one profile file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub key: Key,
    pub target: Target,
    pub why: Option<String>,
    pub source: Option<String>,
}

/// Where a profile was loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    File(PathBuf),
}

impl Origin {
    fn describe(&self, name: &str) -> String {
        match self {
            Origin::BuiltIn => format!("built-in:{name}"),
            Origin::File(p) => p.display().to_string(),
        }
    }
}

/// One profile as written, before its includes are resolved.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub include: Vec<String>,
    pub sysctl: Vec<Entry>,
    /// `nic:` entries: which CPUs serve each device's queues.
    pub nic: Vec<NicRequest>,
    pub origin: Origin,
    /// The YAML text, kept to point at the line of an include entry in errors.
    text: String,
}

/// A profile after inheritance: every key once, the including profile having won.
#[derive(Debug, Clone, Serialize)]
pub struct FlatProfile {
    pub name: String,
    pub description: String,
    /// The profiles merged, included ones first, this one last.
    pub chain: Vec<String>,
    pub entries: Vec<FlatEntry>,
    /// NIC placements, one per device, the including profile having won.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nic: Vec<FlatNic>,
}

/// One device of a flattened profile's `nic:` section and the profile that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlatNic {
    #[serde(flatten)]
    pub request: NicRequest,
    pub from: String,
}

/// One key of a flattened profile and the profile that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlatEntry {
    pub key: Key,
    pub target: Target,
    pub why: Option<String>,
    pub source: Option<String>,
    /// The profile this value came from.
    pub from: String,
}

/// A line of `pincore-tuner profiles`.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileSummary {
    pub name: String,
    /// `built-in`, or the file it was read from.
    pub origin: String,
    pub description: String,
    /// Why a user profile could not be read; it is still listed so the mistake is visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Finds profiles: built-ins, then a user profile directory (which may shadow a built-in name), or a path.
#[derive(Debug, Clone)]
pub struct ProfileLibrary {
    dir: Option<PathBuf>,
}

impl ProfileLibrary {
    /// Built-ins plus the `*.yaml` files in `dir` (a missing directory simply holds no profiles).
    pub fn new(dir: impl Into<PathBuf>) -> ProfileLibrary {
        ProfileLibrary {
            dir: Some(dir.into()),
        }
    }

    /// Only the profiles compiled into the binary.
    pub fn builtin_only() -> ProfileLibrary {
        ProfileLibrary { dir: None }
    }

    /// Names of the built-in profiles.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(name, _)| *name)
    }

    /// Every built-in and user profile with its description.
    pub fn list(&self) -> Result<Vec<ProfileSummary>> {
        let mut out: Vec<ProfileSummary> = Vec::new();
        for (name, text) in BUILTIN {
            let p = parse(text, name, Origin::BuiltIn)?;
            out.push(ProfileSummary {
                name: p.name,
                origin: "built-in".into(),
                description: p.description,
                error: None,
            });
        }
        for path in self.user_files()? {
            let stem = file_stem(&path);
            let summary = match self.load_path(&path) {
                Ok(p) => ProfileSummary {
                    name: p.name,
                    origin: path.display().to_string(),
                    description: p.description,
                    error: None,
                },
                Err(e) => ProfileSummary {
                    name: stem,
                    origin: path.display().to_string(),
                    description: String::new(),
                    error: Some(e.to_string()),
                },
            };
            // A user profile with a built-in's name shadows it.
            out.retain(|s| s.name != summary.name);
            out.push(summary);
        }
        Ok(out)
    }

    /// One profile by name (user directory first, then built-in) or by path (anything with a `/` or a
    /// `.yaml`/`.yml` suffix), without resolving its includes.
    pub fn load(&self, name_or_path: &str) -> Result<Profile> {
        if looks_like_path(name_or_path) {
            return self.load_path(Path::new(name_or_path));
        }
        if let Some(path) = self.user_file(name_or_path) {
            return self.load_path(&path);
        }
        match builtin(name_or_path) {
            Some(text) => parse(text, name_or_path, Origin::BuiltIn),
            None => Err(Error::ProfileNotFound {
                name: name_or_path.into(),
                searched: self.searched(),
            }),
        }
    }

    /// The profile with its includes merged (any depth, the including profile wins per key). This is also the
    /// full validation: a profile that flattens is one the tuner can plan.
    pub fn flatten(&self, name_or_path: &str) -> Result<FlatProfile> {
        let top = self.load(name_or_path)?;
        let mut merged = Merged::default();
        self.merge(&top, &mut Vec::new(), &mut merged)?;
        Ok(FlatProfile {
            name: top.name,
            description: top.description,
            chain: merged.chain,
            entries: merged.entries,
            nic: merged.nic,
        })
    }

    fn merge(&self, profile: &Profile, stack: &mut Vec<String>, merged: &mut Merged) -> Result<()> {
        stack.push(profile.name.clone());
        for name in &profile.include {
            let location = profile.include_location(name);
            if let Some(start) = stack.iter().position(|s| s == name) {
                let mut cycle: Vec<&str> = stack[start..].iter().map(String::as_str).collect();
                cycle.push(name);
                return Err(Error::IncludeCycle {
                    location,
                    cycle: cycle.join(" → "),
                });
            }
            let included = self.resolve_include(profile, name, location)?;
            self.merge(&included, stack, merged)?;
        }
        for entry in &profile.sysctl {
            let flat = FlatEntry {
                key: entry.key.clone(),
                target: entry.target.clone(),
                why: entry.why.clone(),
                source: entry.source.clone(),
                from: profile.name.clone(),
            };
            match merged.index.get(&entry.key) {
                Some(&i) => merged.entries[i] = flat,
                None => {
                    merged.index.insert(entry.key.clone(), merged.entries.len());
                    merged.entries.push(flat);
                }
            }
        }
        for request in &profile.nic {
            let flat = FlatNic {
                request: request.clone(),
                from: profile.name.clone(),
            };
            match merged
                .nic
                .iter_mut()
                .find(|n| n.request.device == request.device)
            {
                Some(held) => *held = flat,
                None => merged.nic.push(flat),
            }
        }
        if !merged.chain.contains(&profile.name) {
            merged.chain.push(profile.name.clone());
        }
        stack.pop();
        Ok(())
    }

    /// Built-ins include built-ins only, so they mean the same on every host. A user profile's includes are
    /// looked up beside it, then in the profile directory, then among the built-ins.
    fn resolve_include(&self, from: &Profile, name: &str, location: Location) -> Result<Profile> {
        let mut searched = vec!["built-ins".to_string()];
        if let Origin::File(path) = &from.origin {
            let beside = path.parent().unwrap_or(Path::new("."));
            searched.insert(0, beside.display().to_string());
            if let Some(file) = yaml_file(beside, name) {
                return self.load_path(&file);
            }
            if let Some(file) = self.user_file(name) {
                return self.load_path(&file);
            }
            if let Some(dir) = &self.dir {
                searched.insert(1, dir.display().to_string());
            }
        }
        match builtin(name) {
            Some(text) => parse(text, name, Origin::BuiltIn),
            None => Err(Error::MissingInclude {
                location,
                name: name.into(),
                searched: searched.join(", "),
            }),
        }
    }

    fn load_path(&self, path: &Path) -> Result<Profile> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::io("reading profile", path, e))?;
        parse(&text, &file_stem(path), Origin::File(path.to_path_buf()))
    }

    fn user_file(&self, name: &str) -> Option<PathBuf> {
        yaml_file(self.dir.as_deref()?, name)
    }

    fn user_files(&self) -> Result<Vec<PathBuf>> {
        let Some(dir) = &self.dir else {
            return Ok(Vec::new());
        };
        let read = match std::fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("listing profile directory", dir, e)),
        };
        let mut files: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        Ok(files)
    }

    fn searched(&self) -> String {
        match &self.dir {
            Some(d) => d.display().to_string(),
            None => "(no profile directory)".into(),
        }
    }
}

#[derive(Default)]
struct Merged {
    chain: Vec<String>,
    entries: Vec<FlatEntry>,
    index: HashMap<Key, usize>,
    nic: Vec<FlatNic>,
}

impl Profile {
    /// Parses one profile from YAML text; `default_name` is used when the text has no `name:`.
    pub fn from_yaml(text: &str, default_name: &str, origin: Origin) -> Result<Profile> {
        parse(text, default_name, origin)
    }

    /// The line and column of `name` in this profile's `include:` list (0 when it cannot be found).
    fn include_location(&self, name: &str) -> Location {
        let file = self.origin.describe(&self.name);
        let mut after_include = false;
        for (i, line) in self.text.lines().enumerate() {
            let code = line.split('#').next().unwrap_or("");
            if code.trim_start().starts_with("include:") {
                after_include = true;
            }
            if !after_include {
                continue;
            }
            let mut from = 0;
            while let Some(pos) = code[from..].find(name) {
                let start = from + pos;
                let end = start + name.len();
                let bounded =
                    |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || "-_.".contains(c)));
                if bounded(code[..start].chars().next_back()) && bounded(code[end..].chars().next())
                {
                    return Location {
                        file,
                        line: i + 1,
                        column: start + 1,
                    };
                }
                from = end;
            }
        }
        Location {
            file,
            line: 0,
            column: 0,
        }
    }
}

fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

fn looks_like_path(s: &str) -> bool {
    s.contains('/') || s.ends_with(".yaml") || s.ends_with(".yml")
}

fn yaml_file(dir: &Path, name: &str) -> Option<PathBuf> {
    ["yaml", "yml"]
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .find(|p| p.is_file())
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn parse(text: &str, default_name: &str, origin: Origin) -> Result<Profile> {
    let file = origin.describe(default_name);
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

/// Turns a serde_yaml error into one with the file, line and column up front.
fn yaml_error(file: &str, e: &serde_yaml::Error) -> Error {
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C"; the location goes first instead, like a compiler's.
    if let Some(pos) = message.rfind(" at line ") {
        message.truncate(pos);
    }
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    Error::Profile {
        location: Location {
            file: file.to_string(),
            line,
            column,
        },
        message,
    }
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
                    } = map.next_value()?;
                    if entries.iter().any(|e| e.key == key) {
                        return Err(de::Error::custom(format!("{key} is set twice")));
                    }
                    entries.push(Entry {
                        key,
                        target: Target { value, op },
                        why,
                        source,
                    });
                }
                Ok(EntriesDoc(entries))
            }
        }
        deserializer.deserialize_any(EntriesVisitor)
    }
}

/// An entry: a bare value (op exact) or `{value, op, why, source}`.
struct EntryDoc {
    value: String,
    op: Op,
    why: Option<String>,
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFields {
    value: ValueDoc,
    #[serde(default)]
    op: Op,
    why: Option<String>,
    source: Option<String>,
}

impl<'de> Deserialize<'de> for EntryDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = EntryDoc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value (integer or string) or a mapping {value, op, why, source}")
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
    fn every_builtin_flattens_and_documents_each_entry() {
        let lib = ProfileLibrary::builtin_only();
        for name in ProfileLibrary::builtin_names() {
            let flat = lib.flatten(name).unwrap();
            assert!(!flat.entries.is_empty(), "{name} is empty");
            for e in &flat.entries {
                assert!(
                    e.why.as_deref().is_some_and(|w| !w.is_empty()),
                    "{name}: {} has no why",
                    e.key
                );
                assert!(
                    e.source.as_deref().is_some_and(|s| !s.is_empty()),
                    "{name}: {} has no source",
                    e.key
                );
            }
        }
    }

    #[test]
    fn the_including_profile_wins_and_entries_remember_their_profile() {
        let lib = ProfileLibrary::builtin_only();
        let base = lib.flatten("base").unwrap();
        let conn = lib.flatten("connections").unwrap();
        assert_eq!(conn.chain, vec!["base", "connections"]);
        let somaxconn = |p: &FlatProfile| {
            p.entries
                .iter()
                .find(|e| e.key.as_str() == "net.core.somaxconn")
                .cloned()
        };
        let (b, c) = (somaxconn(&base).unwrap(), somaxconn(&conn).unwrap());
        assert_eq!(b.from, "base");
        assert_eq!(c.from, "connections");
        assert_ne!(b.target, c.target);
        // Keys only the base sets are inherited with their origin.
        let io_uring = conn
            .entries
            .iter()
            .find(|e| e.key.as_str() == "kernel.io_uring_disabled")
            .unwrap();
        assert_eq!(io_uring.from, "base");
    }

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

    #[test]
    fn include_location_points_at_the_entry() {
        let p = Profile::from_yaml(
            "name: x\ninclude:\n  - base\n  - nope\n",
            "x",
            Origin::BuiltIn,
        )
        .unwrap();
        let l = p.include_location("nope");
        assert_eq!((l.line, l.column), (4, 5));
        let l = p.include_location("base");
        assert_eq!((l.line, l.column), (3, 5));
    }
}
