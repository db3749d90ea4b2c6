//! `/config`: the running configuration as JSON (`GET`), changed live by a JSON merge patch (`PATCH`,
//! RFC 7386) through the path of a SIGHUP reload, behind a bearer token read from
//! `services.admin.settings.token_file`.
//!
//! The pure parts live here (merge, diff, redaction, token comparison, the answers); reading the token file
//! and applying go through the framework's [`Context`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::framework::{Config, Refused, Settings};

/// The largest patch body accepted (a whole configuration is a few KiB).
pub const MAX_PATCH_BYTES: usize = 64 << 10;

/// The largest token file read.
const MAX_TOKEN_FILE_BYTES: u64 = 4 << 10;

/// `services.admin.settings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// A file holding the bearer token `PATCH /config` (and the unredacted `GET /config`) require; read on
    /// every such request, so replacing the file rotates the token. None: `PATCH /config` is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

impl Settings for AdminSettings {
    fn validate(&self) -> Result<(), String> {
        match &self.token_file {
            Some(path) if !path.is_absolute() => Err(format!(
                "token_file: {} must be an absolute path (the server's working directory is not the config's)",
                path.display()
            )),
            _ => Ok(()),
        }
    }
}

/// Why a `/config` request was refused: the `result` label of `pincore_config_patches_total` and the
/// status of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token file is configured: PATCH is off (403).
    Off,
    /// No bearer token, or not the one in the file (401).
    Unauthorized,
    /// The token file cannot be read or is empty (500: the operator's file, not the client).
    TokenUnreadable,
    /// Not a JSON object, not JSON, or no `Content-Length` (400).
    Malformed,
    /// Over [`MAX_PATCH_BYTES`] (413).
    TooLarge,
    /// The patched configuration fails the checks a configuration file must pass (400).
    Invalid,
    /// It changes keys that only a restart applies (409).
    NeedsRestart,
    /// `?persist=true` and the file could not be written (409).
    PersistFailed,
}

impl Refusal {
    pub const ALL: [Refusal; 8] = [
        Refusal::Off,
        Refusal::Unauthorized,
        Refusal::TokenUnreadable,
        Refusal::Malformed,
        Refusal::TooLarge,
        Refusal::Invalid,
        Refusal::NeedsRestart,
        Refusal::PersistFailed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::Off => "off",
            Refusal::Unauthorized => "unauthorized",
            Refusal::TokenUnreadable => "token_unreadable",
            Refusal::Malformed => "malformed",
            Refusal::TooLarge => "too_large",
            Refusal::Invalid => "invalid",
            Refusal::NeedsRestart => "needs_restart",
            Refusal::PersistFailed => "persist_failed",
        }
    }

    pub fn status(self) -> &'static str {
        match self {
            Refusal::Off => "403 Forbidden",
            Refusal::Unauthorized => "401 Unauthorized",
            Refusal::TokenUnreadable => "500 Internal Server Error",
            Refusal::Malformed | Refusal::Invalid => "400 Bad Request",
            Refusal::TooLarge => "413 Content Too Large",
            Refusal::NeedsRestart | Refusal::PersistFailed => "409 Conflict",
        }
    }

    fn of(refused: &Refused) -> Refusal {
        match refused {
            Refused::Invalid(_) => Refusal::Invalid,
            Refused::NeedsRestart(_) => Refusal::NeedsRestart,
            Refused::Persist(_) => Refusal::PersistFailed,
        }
    }
}

/// A refused request's answer: the refusal and its JSON body.
#[derive(Debug)]
pub struct Refuse(pub Refusal, pub Value);

impl Refuse {
    pub fn new(why: Refusal, error: impl Into<String>) -> Refuse {
        Refuse(why, json!({"applied": false, "error": error.into()}))
    }

    /// A refusal by the framework, with the changes the patch asked for.
    pub fn from_framework(refused: &Refused, changes: Vec<Value>) -> Refuse {
        let restart = match refused {
            Refused::NeedsRestart(keys) => keys.clone(),
            _ => Vec::new(),
        };
        Refuse(
            Refusal::of(refused),
            json!({
                "applied": false,
                "error": refused.to_string(),
                "needs_restart": restart,
                "changes": changes,
            }),
        )
    }
}

/// Reads the token from `path`: a regular file of at most 4 KiB, surrounding whitespace trimmed, not empty.
pub fn read_token(path: &Path) -> Result<String, String> {
    let expected = pincore_tuner::input::Expected {
        what: "a file holding the admin bearer token",
        limit: MAX_TOKEN_FILE_BYTES,
    };
    let text = pincore_tuner::input::read_text(path, expected).map_err(|e| e.to_string())?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("the token file {} is empty", path.display()));
    }
    Ok(token.to_string())
}

/// Whether an `Authorization` header value carries `token` as a bearer token, compared in time that does
/// not depend on where the bytes differ.
pub fn bearer_matches(header: &str, token: &str) -> bool {
    let Some((scheme, given)) = header.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let (given, token) = (given.trim().as_bytes(), token.as_bytes());
    given.len() == token.len() && given.iter().zip(token).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
}

/// `target` with `patch` merged in as RFC 7386 says: objects merge key by key, `null` removes a key, any
/// other value replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Every leaf that differs between `from` and `to`, as `{"key": "a.b.c", "from": .., "to": ..}` in key
/// order (a missing key is `null`; arrays compare whole).
pub fn diff(from: &Value, to: &Value) -> Vec<Value> {
    let mut changes = Vec::new();
    walk("", from, to, &mut changes);
    changes
}

fn walk(prefix: &str, from: &Value, to: &Value, changes: &mut Vec<Value>) {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                let null = Value::Null;
                walk(
                    &path,
                    a.get(key).unwrap_or(&null),
                    b.get(key).unwrap_or(&null),
                    changes,
                );
            }
        }
        _ if from != to => changes.push(json!({"key": prefix, "from": from, "to": to})),
        _ => {}
    }
}

/// `value` with every object key naming a password or secret replaced by `"<redacted>"`: what
/// `GET /config` shows without the token (RESP users' password hashes are brute-forceable).
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                if (key.contains("password") || key.contains("secret")) && !v.is_null() {
                    *v = Value::String("<redacted>".to_string());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The configuration as a JSON value.
pub fn to_value(config: &Config) -> Value {
    // Plain structs of numbers, strings, enums and YAML values serialise without failing.
    serde_json::to_value(config).unwrap_or(Value::Null)
}

/// The running configuration with `body` (a JSON merge patch) applied, as YAML text the framework checks;
/// and the changes the patch asks for.
pub fn patched(running: &Config, body: &[u8]) -> Result<(String, Vec<Value>), Refuse> {
    let patch: Value = serde_json::from_slice(body).map_err(|e| {
        Refuse::new(
            Refusal::Malformed,
            format!("malformed patch: not JSON: {e}"),
        )
    })?;
    if !patch.is_object() {
        return Err(Refuse::new(
            Refusal::Malformed,
            "malformed patch: a JSON merge patch of the configuration is an object, such as {\"limits\": {\"max_connections_per_shard\": 100}}",
        ));
    }
    let before = to_value(running);
    let mut after = before.clone();
    merge_patch(&mut after, &patch);
    let text = serde_yaml::to_string(&after)
        .map_err(|e| Refuse::new(Refusal::Malformed, format!("malformed patch: {e}")))?;
    Ok((text, diff(&before, &after)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386_examples() {
        // RFC 7386, appendix A (a selection).
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "patch {patch}");
        }
    }

    #[test]
    fn diff_names_changed_leaves_by_dotted_key() {
        let from = json!({"limits": {"a": 1, "b": 2}, "log": {"level": "info"}});
        let to = json!({"limits": {"a": 1, "b": 3}, "log": {"level": "debug", "format": "json"}});
        assert_eq!(
            diff(&from, &to),
            vec![
                json!({"key": "limits.b", "from": 2, "to": 3}),
                json!({"key": "log.format", "from": null, "to": "json"}),
                json!({"key": "log.level", "from": "info", "to": "debug"}),
            ]
        );
        assert!(diff(&from, &from).is_empty());
    }

    #[test]
    fn passwords_are_redacted_and_nothing_else() {
        let mut v = json!({"services": {"resp": {"settings": {"users": [
            {"name": "default", "password_sha256": "abc"}]}}}, "limits": {"max_bulk_len": 5}});
        redact(&mut v);
        assert_eq!(
            v["services"]["resp"]["settings"]["users"][0]["password_sha256"],
            "<redacted>"
        );
        assert_eq!(
            v["services"]["resp"]["settings"]["users"][0]["name"],
            "default"
        );
        assert_eq!(v["limits"]["max_bulk_len"], 5);
    }

    #[test]
    fn bearer_tokens_compare_whole() {
        assert!(bearer_matches("Bearer s3cret", "s3cret"));
        assert!(bearer_matches("bearer  s3cret ", "s3cret"));
        assert!(!bearer_matches("Bearer s3cre", "s3cret"));
        assert!(!bearer_matches("Bearer s3cretX", "s3cret"));
        assert!(!bearer_matches("Basic s3cret", "s3cret"));
        assert!(!bearer_matches("s3cret", "s3cret"));
    }

    #[test]
    fn a_patch_that_is_not_an_object_is_malformed_with_the_reason() {
        let running = Config::default();
        let Err(Refuse(why, body)) = patched(&running, b"[1]") else {
            panic!()
        };
        assert_eq!(why, Refusal::Malformed);
        assert!(body["error"].as_str().unwrap().contains("is an object"));
        let Err(Refuse(why, body)) = patched(&running, b"{oops") else {
            panic!()
        };
        assert_eq!(why, Refusal::Malformed);
        assert!(body["error"].as_str().unwrap().contains("not JSON"));
        let (text, changes) =
            patched(&running, br#"{"limits": {"max_connections_per_shard": 7}}"#).unwrap();
        assert!(text.contains("max_connections_per_shard: 7"));
        assert_eq!(
            changes,
            vec![json!({"key": "limits.max_connections_per_shard", "from": 4096, "to": 7})]
        );
    }
}
