//! Finding profiles (built-in, a profile directory, a path) and flattening them with their includes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::yaml::parse;
use super::{FlatEntry, FlatNic, FlatProfile, Origin, Profile, ProfileSummary};
use crate::error::{Error, Location, Result};
use crate::input;
use crate::sysctl::Key;

/// The profiles compiled into the binary, in the order `profiles` lists them.
const BUILTIN: &[(&str, &str)] = &[
    ("base", include_str!("../../profiles/base.yaml")),
    ("throughput", include_str!("../../profiles/throughput.yaml")),
    ("latency", include_str!("../../profiles/latency.yaml")),
    (
        "connections",
        include_str!("../../profiles/connections.yaml"),
    ),
];

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
                searched: self.dir.as_ref().map(|d| d.display().to_string()),
                suggestion: self.suggestion(name_or_path),
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
                optional: entry.optional,
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
        let text = input::read_text(path, input::Expected::text("a YAML profile"))?;
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

    /// `" — did you mean `X`?"` for a profile name that is a typo of a built-in or user profile.
    fn suggestion(&self, typed: &str) -> String {
        let mut names: Vec<String> = Self::builtin_names().map(str::to_string).collect();
        names.extend(
            self.user_files()
                .unwrap_or_default()
                .iter()
                .map(|p| file_stem(p)),
        );
        pincore_cli::suggest::did_you_mean(typed, names.iter().map(String::as_str))
    }
}

#[derive(Default)]
struct Merged {
    chain: Vec<String>,
    entries: Vec<FlatEntry>,
    index: HashMap<Key, usize>,
    nic: Vec<FlatNic>,
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
        // Anything by that name counts, so a `NAME.yaml` that is a device or a directory is reported by the
        // checked read instead of being passed over for a built-in.
        .find(|p| p.symlink_metadata().is_ok())
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
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
}
