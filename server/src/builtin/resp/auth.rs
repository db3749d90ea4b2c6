//! Who may use the RESP service: users with SHA-256 password hashes in `services.resp.settings.users`, checked
//! by AUTH and HELLO ... AUTH. With no users configured the service is open (Redis's `nopass` default user);
//! with any, a connection runs nothing but HELLO, AUTH, PING and QUIT until it authenticates.
//!
//! Hashes, not passwords, are what the configuration holds (as Redis ACL's `#<hash>` form does), so a leaked
//! config file or `/config` output does not give the password away:
//! `printf %s "$PASSWORD" | sha256sum`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::eviction::Policy;
use super::persistence::PersistenceSettings;
use super::types::encodings::Encodings;
use crate::framework::Settings;

/// The `resp` service's own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RespSettings {
    /// Users allowed to connect; empty: no authentication (bind to loopback only, then).
    pub users: Vec<User>,
    /// Refuse to listen beyond loopback with no users (Redis's protected mode); `false` says the network
    /// itself is trusted.
    pub protected_mode: bool,
    /// Redis's `maxmemory`: the bytes every key may cost together (see `keyspace`); 0 is no bound.
    pub max_memory_bytes: usize,
    /// Redis's `maxmemory-policy`: what a write finds when the keyspace is over `max_memory_bytes`.
    pub eviction_policy: Policy,
    /// The bytes of published messages a subscribed connection may have pending (delivered to it, not yet
    /// written to its socket) before it is closed: Redis's `client-output-buffer-limit pubsub` hard limit.
    pub pubsub_max_pending_bytes: usize,
    /// Redis's `enable-debug-command`: whether DEBUG runs (see `commands::debug`); off by default.
    pub enable_debug_command: bool,
    /// Snapshots of the keyspace (see `persistence`): off unless `persistence.dir` is set.
    pub persistence: PersistenceSettings,
    /// Redis's `notify-keyspace-events`: the classes of keyspace notifications to publish, in Redis's
    /// letters (`KEA`, `Kg$`, ...; see `notify`); empty, the default, publishes none.
    pub notify_keyspace_events: String,
    /// The sizes at which collections leave their compact encodings (Redis's `*-max-listpack-*` settings).
    pub encodings: Encodings,
    /// Redis's `tracking-table-max-keys`: the keys CLIENT TRACKING remembers for all connections together
    /// before it forgets some (telling their connections, see `tracking`); 0 is no bound.
    pub tracking_table_max_keys: usize,
    /// Redis's `repl-ping-replica-period`: seconds of a quiet replication stream after which a PING is
    /// sent down it (see `replication`).
    pub repl_ping_replica_period_s: u64,
    /// Redis's `min-replicas-to-write`: writes are refused (`-NOREPLICAS`) while fewer replicas acknowledged
    /// within `min_replicas_max_lag_s`; 0 (the default) never refuses.
    pub min_replicas_to_write: usize,
    /// Redis's `min-replicas-max-lag`, in seconds (default 10).
    pub min_replicas_max_lag_s: u64,
    /// The bytes of replication stream a replica may have pending (appended, not yet written to its socket)
    /// before it is disconnected: Redis's `client-output-buffer-limit replica` hard limit.
    pub replica_max_pending_bytes: usize,
}

impl Default for RespSettings {
    fn default() -> RespSettings {
        RespSettings {
            users: Vec::new(),
            protected_mode: true,
            max_memory_bytes: 0,
            eviction_policy: Policy::NoEviction,
            pubsub_max_pending_bytes: super::pubsub::DEFAULT_MAX_PENDING,
            enable_debug_command: false,
            persistence: PersistenceSettings::default(),
            notify_keyspace_events: String::new(),
            encodings: Encodings::default(),
            tracking_table_max_keys: super::tracking::DEFAULT_MAX_KEYS,
            repl_ping_replica_period_s: 10,
            min_replicas_to_write: 0,
            min_replicas_max_lag_s: 10,
            replica_max_pending_bytes: super::feed::DEFAULT_REPLICA_LIMIT,
        }
    }
}

impl RespSettings {
    /// Protected mode: listening on `listen` with no users lets anyone who reaches it read, overwrite and
    /// FLUSHALL the data. Refused unless the address is loopback or protected mode is off.
    pub fn check_exposure(&self, listen: std::net::SocketAddr) -> Result<(), String> {
        if self.required() || !self.protected_mode || listen.ip().is_loopback() {
            return Ok(());
        }
        Err(format!(
            "{listen} is reachable from other hosts and no users are configured, so anyone who reaches it could read, change and FLUSHALL the data. Add services.resp.settings.users (SHA-256 password hashes), listen on 127.0.0.1, or set services.resp.settings.protected_mode: false if the network is trusted"
        ))
    }
}

/// One user: a name (`default` is the one `AUTH password` means) and the SHA-256 of its password, in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub password_sha256: String,
}

impl Settings for RespSettings {
    fn check_listen(&self, listen: std::net::SocketAddr) -> Result<(), String> {
        self.check_exposure(listen)
    }

    fn validate(&self) -> Result<(), String> {
        self.encodings.validate()?;
        if self.repl_ping_replica_period_s == 0 {
            return Err("repl_ping_replica_period_s: 0 would ping replicas without pause; give seconds, 1 or more (default 10)".into());
        }
        if self.replica_max_pending_bytes == 0 {
            return Err(format!(
                "replica_max_pending_bytes: 0 would disconnect every replica at its first write; give the bytes a replica may have pending (default {})",
                super::feed::DEFAULT_REPLICA_LIMIT
            ));
        }
        if self.pubsub_max_pending_bytes == 0 {
            return Err(format!(
                "pubsub_max_pending_bytes: 0 would close every subscriber at its first message; give the bytes a subscriber may have pending (default {})",
                super::pubsub::DEFAULT_MAX_PENDING
            ));
        }
        self.persistence.validate()?;
        if super::notify::parse(&self.notify_keyspace_events).is_none() {
            return Err(format!(
                "notify_keyspace_events {:?}: {}",
                self.notify_keyspace_events,
                super::notify::INVALID
            ));
        }
        for (i, user) in self.users.iter().enumerate() {
            if user.name.is_empty() || user.name.bytes().any(|b| b <= b' ' || b > b'~') {
                return Err(format!(
                    "users[{i}].name {:?}: a user name is printable ASCII without spaces",
                    user.name
                ));
            }
            if self.users[..i].iter().any(|u| u.name == user.name) {
                return Err(format!("users[{i}].name {:?} is listed twice", user.name));
            }
            let hash = &user.password_sha256;
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "users[{i}].password_sha256: 64 hex digits, the SHA-256 of the password (`printf %s \"$PASSWORD\" | sha256sum`), not the password itself"
                ));
            }
        }
        Ok(())
    }
}

/// What a failed AUTH answers, in Redis's words (the same for an unknown user and a wrong password).
pub const WRONGPASS: &[u8] = b"WRONGPASS invalid username-password pair or user is disabled.";

impl RespSettings {
    /// Whether clients must authenticate.
    pub fn required(&self) -> bool {
        !self.users.is_empty()
    }

    /// Checks `password` for `user`. With no users configured only `default` exists and any password is
    /// accepted, as with Redis's `nopass` default user.
    pub fn check(&self, user: &[u8], password: &[u8]) -> Result<(), &'static [u8]> {
        if !self.required() {
            return if user == b"default" {
                Ok(())
            } else {
                Err(WRONGPASS)
            };
        }
        let digest = Sha256::digest(password);
        let matches = self.users.iter().any(|u| {
            u.name.as_bytes() == user && constant_time_eq_hex(&u.password_sha256, &digest)
        });
        if matches {
            Ok(())
        } else {
            Err(WRONGPASS)
        }
    }
}

/// `hex` (64 hex digits, validated) equals `digest`, compared without an early exit.
fn constant_time_eq_hex(hex: &str, digest: &[u8]) -> bool {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0xff,
    };
    let hex = hex.as_bytes();
    if hex.len() != digest.len() * 2 {
        return false;
    }
    let mut diff = 0u8;
    for (i, &byte) in digest.iter().enumerate() {
        diff |= (nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1])) ^ byte;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(p: &str) -> String {
        Sha256::digest(p.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn users_are_checked_by_hash() {
        let s = RespSettings {
            protected_mode: true,
            users: vec![
                User {
                    name: "default".into(),
                    password_sha256: sha("s3cret"),
                },
                User {
                    name: "app".into(),
                    password_sha256: sha("other").to_uppercase(),
                },
            ],
            ..RespSettings::default()
        };
        assert!(s.validate().is_ok() && s.required());
        assert_eq!(s.check(b"default", b"s3cret"), Ok(()));
        assert_eq!(s.check(b"app", b"other"), Ok(()));
        assert_eq!(s.check(b"default", b"other"), Err(WRONGPASS));
        assert_eq!(s.check(b"nobody", b"s3cret"), Err(WRONGPASS));
        assert_eq!(s.check(b"app", b""), Err(WRONGPASS));
    }

    #[test]
    fn protected_mode_refuses_an_open_service_beyond_loopback() {
        let open = RespSettings::default();
        assert!(open
            .check_exposure("127.0.0.1:6380".parse().unwrap())
            .is_ok());
        assert!(open.check_exposure("[::1]:6380".parse().unwrap()).is_ok());
        let e = open
            .check_exposure("0.0.0.0:6380".parse().unwrap())
            .unwrap_err();
        assert!(
            e.contains("protected_mode: false") && e.contains("users"),
            "{e}"
        );
        let trusted = RespSettings {
            protected_mode: false,
            ..Default::default()
        };
        assert!(trusted
            .check_exposure("0.0.0.0:6380".parse().unwrap())
            .is_ok());
        let with_users = RespSettings {
            users: vec![User {
                name: "default".into(),
                password_sha256: sha("p"),
            }],
            ..Default::default()
        };
        assert!(with_users
            .check_exposure("10.0.0.5:6380".parse().unwrap())
            .is_ok());
    }

    #[test]
    fn with_no_users_only_default_exists_and_takes_any_password() {
        let open = RespSettings::default();
        assert!(!open.required());
        assert_eq!(open.check(b"default", b"anything"), Ok(()));
        assert_eq!(open.check(b"app", b"anything"), Err(WRONGPASS));
    }

    #[test]
    fn a_plain_password_where_a_hash_belongs_is_refused_with_the_fix() {
        let s = RespSettings {
            users: vec![User {
                name: "default".into(),
                password_sha256: "hunter2".into(),
            }],
            ..Default::default()
        };
        let e = s.validate().unwrap_err();
        assert!(
            e.contains("users[0].password_sha256") && e.contains("sha256sum"),
            "{e}"
        );
        let twice = RespSettings {
            users: vec![
                User {
                    name: "a".into(),
                    password_sha256: sha("x"),
                },
                User {
                    name: "a".into(),
                    password_sha256: sha("y"),
                },
            ],
            ..Default::default()
        };
        assert!(twice.validate().unwrap_err().contains("listed twice"));
    }
}
