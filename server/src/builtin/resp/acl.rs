//! Users and what each may run (Redis 7.0's ACL, without selectors): the configured users of
//! `services.resp.settings.users` and the ones `ACL SETUSER` adds or changes at run time, in one table every
//! shard shares.
//!
//! - A configured user is `on #<its hash> ~* &* +@all`. With no users configured, `default` is
//!   `on nopass ~* &* +@all` (Redis's default): connections are authenticated as it when they open. With
//!   users configured and none named `default`, `default` is `off` (connections must AUTH as a configured
//!   user, as before there were ACLs).
//! - Whether new connections must authenticate depends only on `default` (`on` and `nopass`: no), so a user
//!   added at run time never turns authentication on for anyone.
//! - A SIGHUP (or CONFIG SET, which reloads the same way) that changes `users` makes the configured users
//!   what the file says again, `default` included, undoing ACL SETUSER's changes to them; one that leaves
//!   `users` as it was changes no user. Users that exist only at run time are kept either way. Nothing is
//!   written to disk: a restart starts from the file alone.
//!
//! Each connection caches its user's rules, and revalidates them when the table's version moves (one relaxed
//! load per command); a connection whose user is unrestricted (`+@all`, `~*`, `&*`) checks nothing more.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use super::auth::User as Configured;
use super::commands::{flag, Spec, COMMANDS};
use super::glob;

/// Redis's ACL categories, in the order ACL CAT lists them.
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Whether the command of table row `spec` is in `category`, as Redis files its commands: from the row's
/// flags (read, write, admin, fast or slow, pubsub) and family (the group), plus the blocking pops and the
/// commands Redis calls dangerous.
pub fn in_category(spec: &Spec, category: &str) -> bool {
    let name = spec.name;
    match category {
        "read" => spec.flags & flag::READONLY != 0,
        "write" => spec.flags & flag::WRITE != 0,
        "admin" => spec.flags & flag::ADMIN != 0,
        "fast" => spec.flags & flag::FAST != 0,
        "slow" => spec.flags & flag::FAST == 0,
        "pubsub" => spec.flags & flag::PUBSUB != 0 || spec.group == "pubsub",
        "keyspace" => spec.group == "generic",
        "string" => spec.group == "string",
        "bitmap" => spec.group == "bitmap",
        "list" => spec.group == "list",
        "hash" => spec.group == "hash",
        "set" => spec.group == "set",
        "sortedset" => spec.group == "sorted-set",
        "connection" => spec.group == "connection",
        "transaction" => spec.group == "transactions",
        "scripting" => spec.group == "scripting",
        "blocking" => name.starts_with("bl") || name.starts_with("br") || name.starts_with("bz"),
        "dangerous" => {
            spec.flags & flag::ADMIN != 0
                || matches!(
                    name,
                    "flushall"
                        | "flushdb"
                        | "keys"
                        | "sort"
                        | "migrate"
                        | "restore"
                        | "info"
                        | "client"
                        | "role"
                        | "swapdb"
                )
        }
        _ => false,
    }
}

/// Every key a command names: the table's key positions, the sources ZUNIONSTORE and the like count, and
/// MIGRATE's keys after KEYS (its key argument is then empty and is not one), as Redis's key specs find them.
fn command_keys<'a>(spec: &'a Spec, args: &'a [&'a [u8]]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let migrate = spec.name == "migrate";
    let migrate_keys = if migrate {
        super::migrate::keys_start(args).map_or(&args[..0], |at| &args[at..])
    } else {
        &args[..0]
    };
    spec.keys_of(args)
        .filter(move |key| !(migrate && key.is_empty()))
        .chain(super::commands::counted_keys(spec.name, args))
        .chain(migrate_keys.iter().copied())
}

/// A set of table rows, one bit each.
type Rows = [u64; 4];

fn row_bit(rows: &mut Rows, index: usize, on: bool) {
    let (word, bit) = (index / 64, index % 64);
    if on {
        rows[word] |= 1 << bit;
    } else {
        rows[word] &= !(1 << bit);
    }
}

fn has_row(rows: &Rows, index: usize) -> bool {
    rows[index / 64] & (1 << (index % 64)) != 0
}

/// One user and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: Vec<u8>,
    pub enabled: bool,
    pub nopass: bool,
    /// SHA-256 of each password.
    passwords: BTreeSet<[u8; 32]>,
    /// The commands it may run, by table row.
    commands: Rows,
    /// `+@all` was the last reset of its command rules (else `-@all`).
    all_commands: bool,
    /// The command rules given since then, as given (`+get -@write`), as Redis 7.0 keeps them.
    command_rules: Vec<String>,
    all_keys: bool,
    keys: Vec<Vec<u8>>,
    all_channels: bool,
    channels: Vec<Vec<u8>>,
}

impl super::commands::Rules for User {
    fn check(
        &self,
        index: usize,
        spec: &Spec,
        full_name: &str,
        args: &[&[u8]],
    ) -> Result<(), Vec<u8>> {
        User::check(self, index, spec, full_name, args).map_err(|denied| denied.message())
    }
}

/// Key (`~`) or channel (`&`) rules as ACL GETUSER and LIST show them: `~*` for all, else each pattern.
fn patterns_text(all: bool, patterns: &[Vec<u8>], sigil: char) -> String {
    if all {
        return format!("{sigil}*");
    }
    let patterns: Vec<String> = patterns
        .iter()
        .map(|p| format!("{sigil}{}", String::from_utf8_lossy(p)))
        .collect();
    patterns.join(" ")
}

/// Why a command is refused, with Redis's `-NOPERM` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    Command(String),
    Key,
    Channel,
}

impl Denied {
    pub fn message(&self) -> Vec<u8> {
        match self {
            Denied::Command(name) => {
                format!("NOPERM this user has no permissions to run the '{name}' command").into_bytes()
            }
            Denied::Key => {
                b"NOPERM this user has no permissions to access one of the keys used as arguments".to_vec()
            }
            Denied::Channel => b"NOPERM this user has no permissions to access one of the channels used as arguments".to_vec(),
        }
    }
}

fn sha256(password: &[u8]) -> [u8; 32] {
    Sha256::digest(password).into()
}

fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hash as `#`/`!` rules give it: exactly 64 lower-case hex digits, as Redis wants it.
fn parse_hash(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64
        || !text
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        digest[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(digest)
}

impl User {
    /// A user as ACL SETUSER makes a new one: off, no password, no commands, keys or channels.
    pub fn new(name: &[u8]) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            passwords: BTreeSet::new(),
            commands: [0; 4],
            all_commands: false,
            command_rules: Vec::new(),
            all_keys: false,
            keys: Vec::new(),
            all_channels: false,
            channels: Vec::new(),
        }
    }

    /// Everything allowed, with `rules` for its password (`nopass` or `#hash`).
    fn everything(name: &[u8], rules: &[&[u8]]) -> User {
        let mut user = User::new(name);
        for rule in [&b"on"[..], b"~*", b"&*", b"+@all"].iter().chain(rules) {
            user.apply(rule).expect("built-in rules are valid");
        }
        user
    }

    /// Applies one ACL SETUSER rule, or says why it is not one (Redis's reason, without the prefix naming
    /// the rule: see [`User::apply_all`]).
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), String> {
        let lower = rule.to_ascii_lowercase();
        match &lower[..] {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"allkeys" => return self.apply(b"~*"),
            b"resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            b"allchannels" => return self.apply(b"&*"),
            b"resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            b"allcommands" | b"+@all" => {
                self.commands = [u64::MAX; 4];
                self.all_commands = true;
                self.command_rules.clear();
            }
            b"nocommands" | b"-@all" => {
                self.commands = [0; 4];
                self.all_commands = false;
                self.command_rules.clear();
            }
            b"reset" => {
                let name = std::mem::take(&mut self.name);
                *self = User::new(&name);
            }
            b"sanitize-payload" | b"skip-sanitize-payload" => {}
            _ => return self.apply_valued(rule),
        }
        Ok(())
    }

    /// The rules that carry a value: passwords, patterns, commands and categories.
    fn apply_valued(&mut self, rule: &[u8]) -> Result<(), String> {
        let (&first, rest) = rule.split_first().ok_or("Syntax error")?;
        match first {
            b'>' => {
                self.passwords.insert(sha256(rest));
                self.nopass = false;
            }
            b'<' => {
                if !self.passwords.remove(&sha256(rest)) {
                    return Err(
                        "The password you are trying to remove from the user does not exist".into(),
                    );
                }
            }
            b'#' | b'!' => {
                let hash = parse_hash(rest).ok_or("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")?;
                if first == b'#' {
                    self.passwords.insert(hash);
                    self.nopass = false;
                } else if !self.passwords.remove(&hash) {
                    return Err(
                        "The password you are trying to remove from the user does not exist".into(),
                    );
                }
            }
            b'~' => {
                if self.all_keys {
                    return Err("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns".into());
                }
                if rest == b"*" {
                    self.all_keys = true;
                    self.keys.clear();
                } else if !self.keys.iter().any(|k| k == rest) {
                    self.keys.push(rest.to_vec());
                }
            }
            b'%' => return Err(
                "pincore-server has no read- or write-only key patterns (%R~, %W~): give ~pattern"
                    .into(),
            ),
            b'&' => {
                if self.all_channels {
                    return Err("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels".into());
                }
                if rest == b"*" {
                    self.all_channels = true;
                    self.channels.clear();
                } else if !self.channels.iter().any(|c| c == rest) {
                    self.channels.push(rest.to_vec());
                }
            }
            b'+' | b'-' => self.apply_command_rule(first == b'+', rest)?,
            b'(' => return Err("pincore-server has no ACL selectors".into()),
            _ => return Err("Syntax error".into()),
        }
        Ok(())
    }

    fn apply_command_rule(&mut self, allow: bool, what: &[u8]) -> Result<(), String> {
        const UNKNOWN: &str = "Unknown command or category name in ACL";
        let name = String::from_utf8_lossy(what).to_ascii_lowercase();
        if let Some(category) = name.strip_prefix('@') {
            if !CATEGORIES.contains(&category) {
                return Err(UNKNOWN.into());
            }
            for (i, spec) in COMMANDS.iter().enumerate() {
                if in_category(spec, category) {
                    row_bit(&mut self.commands, i, allow);
                }
            }
        } else {
            if name.contains('|') {
                return Err(format!(
                    "pincore-server allows or denies whole commands: '{name}' names a subcommand"
                ));
            }
            let index = COMMANDS
                .iter()
                .position(|c| c.name == name)
                .ok_or(UNKNOWN)?;
            row_bit(&mut self.commands, index, allow);
        }
        let rule = format!("{}{name}", if allow { '+' } else { '-' });
        self.command_rules.retain(|r| r != &rule);
        self.command_rules.push(rule);
        Ok(())
    }

    /// Applies `rules` to a copy of the user: the copy, or the first refusal in Redis's words (nothing is
    /// half-applied).
    pub fn apply_all(&self, rules: &[&[u8]]) -> Result<User, String> {
        let mut user = self.clone();
        for rule in rules {
            user.apply(rule).map_err(|why| {
                format!(
                    "ERR Error in ACL SETUSER modifier '{}': {why}",
                    String::from_utf8_lossy(rule)
                )
            })?;
        }
        Ok(user)
    }

    /// Whether `password` opens this user.
    pub fn accepts(&self, password: &[u8]) -> bool {
        self.enabled && (self.nopass || self.passwords.contains(&sha256(password)))
    }

    /// Everything allowed: the connection checks nothing per command.
    pub fn unrestricted(&self) -> bool {
        self.all_commands && self.commands == [u64::MAX; 4] && self.all_keys && self.all_channels
    }

    /// May this user run table row `index` (named `full_name`, Redis's `config|get`) with `args`?
    pub fn check(
        &self,
        index: usize,
        spec: &Spec,
        full_name: &str,
        args: &[&[u8]],
    ) -> Result<(), Denied> {
        // AUTH, HELLO, RESET and QUIT run for anyone (Redis's no-auth commands), and so does ACL WHOAMI,
        // which tells a connection only its own user.
        let whoami = spec.name == "acl"
            && args
                .get(1)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"WHOAMI"));
        if !has_row(&self.commands, index)
            && !matches!(spec.name, "auth" | "hello" | "reset" | "quit")
            && !whoami
        {
            return Err(Denied::Command(full_name.to_string()));
        }
        if !self.all_keys {
            let key_ok = |key: &[u8]| self.keys.iter().any(|p| glob::matches(p, key, false));
            if !command_keys(spec, args).all(key_ok) {
                return Err(Denied::Key);
            }
        }
        if !self.all_channels {
            let channels: &[&[u8]] = match spec.name {
                "subscribe" | "psubscribe" => &args[1..],
                "publish" => &args[1..2],
                _ => &[],
            };
            // A pattern subscription must name one of the user's patterns as it is, as in Redis.
            let literal = spec.name == "psubscribe";
            let allowed = |channel: &&[u8]| {
                self.channels.iter().any(|p| {
                    if literal {
                        p == channel
                    } else {
                        glob::matches(p, channel, false)
                    }
                })
            };
            if !channels.iter().all(allowed) {
                return Err(Denied::Channel);
            }
        }
        Ok(())
    }

    /// The command rules as ACL GETUSER and ACL LIST show them.
    pub fn commands_text(&self) -> String {
        let mut text = String::from(if self.all_commands { "+@all" } else { "-@all" });
        for rule in &self.command_rules {
            text.push(' ');
            text.push_str(rule);
        }
        text
    }

    pub fn keys_text(&self) -> String {
        patterns_text(self.all_keys, &self.keys, '~')
    }

    pub fn channels_text(&self) -> String {
        patterns_text(self.all_channels, &self.channels, '&')
    }

    /// The password hashes, hex.
    pub fn password_hashes(&self) -> Vec<String> {
        self.passwords.iter().map(hex).collect()
    }

    /// The user as one line of ACL LIST: `user default on nopass ~* &* +@all`.
    pub fn describe(&self) -> String {
        let mut parts = vec![
            format!("user {}", String::from_utf8_lossy(&self.name)),
            (if self.enabled { "on" } else { "off" }).to_string(),
        ];
        if self.nopass {
            parts.push("nopass".into());
        }
        parts.extend(self.passwords.iter().map(|p| format!("#{}", hex(p))));
        parts.extend([self.keys_text(), self.channels_text(), self.commands_text()]);
        parts.retain(|p| !p.is_empty());
        parts.join(" ")
    }
}

/// The users, shared by every shard.
pub struct Acl {
    users: RwLock<Users>,
    /// Moves on every change, so that connections revalidate their cached rules.
    version: AtomicU64,
}

#[derive(Default)]
struct Users {
    by_name: BTreeMap<Vec<u8>, Arc<User>>,
    /// The names the configuration defines (they are redefined by every reload).
    configured: BTreeSet<Vec<u8>>,
    /// The configured users last applied: a reload with the same list changes nothing.
    applied: Option<Vec<Configured>>,
}

impl Default for Acl {
    fn default() -> Acl {
        let acl = Acl {
            users: RwLock::default(),
            version: AtomicU64::new(1),
        };
        acl.configure(&[]);
        acl
    }
}

impl Acl {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Users> {
        // Every change is one map operation at a time: a panic cannot leave the table half-changed.
        self.users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Users> {
        self.users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes the configured users what `users` says (start-up, SIGHUP, CONFIG SET): each `on #hash ~* &*
    /// +@all`; `default` `on nopass` when nothing is configured, `off` when others are but it is not.
    /// Users made only at run time are kept; configured ones dropped from the file go.
    pub fn configure(&self, users: &[Configured]) {
        let mut table = self.write();
        if table.applied.as_deref() == Some(users) {
            return;
        }
        table.applied = Some(users.to_vec());
        let wanted: BTreeSet<Vec<u8>> = users.iter().map(|u| u.name.as_bytes().to_vec()).collect();
        let gone: Vec<Vec<u8>> = table.configured.difference(&wanted).cloned().collect();
        for name in gone {
            table.by_name.remove(&name);
        }
        for user in users {
            let hash = format!("#{}", user.password_sha256.to_ascii_lowercase());
            let made = User::everything(user.name.as_bytes(), &[hash.as_bytes()]);
            table.by_name.insert(made.name.clone(), Arc::new(made));
        }
        if !wanted.contains(&b"default"[..]) {
            let mut default = User::everything(b"default", &[b"nopass"]);
            default.enabled = users.is_empty();
            table.by_name.insert(b"default".to_vec(), Arc::new(default));
        }
        table.configured = wanted;
        table.configured.insert(b"default".to_vec());
        drop(table);
        self.changed();
    }

    fn changed(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    /// The table's version: a connection whose cached rules are older revalidates them.
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    pub fn user(&self, name: &[u8]) -> Option<Arc<User>> {
        self.read().by_name.get(name).cloned()
    }

    /// New connections are authenticated as `default` without AUTH: it is on and needs no password.
    pub fn default_is_open(&self) -> bool {
        self.user(b"default").is_some_and(|u| u.enabled && u.nopass)
    }

    /// Checks a user name and password.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> bool {
        self.user(name).is_some_and(|u| u.accepts(password))
    }

    /// ACL SETUSER: `rules` applied to the user (a new one if it does not exist) all or not at all.
    pub fn set_user(&self, name: &[u8], rules: &[&[u8]]) -> Result<(), String> {
        let mut table = self.write();
        let base = table
            .by_name
            .get(name)
            .map_or_else(|| User::new(name), |u| (**u).clone());
        let user = base.apply_all(rules)?;
        table.by_name.insert(name.to_vec(), Arc::new(user));
        drop(table);
        self.changed();
        Ok(())
    }

    /// ACL DELUSER: how many of `names` existed and were deleted (`default` cannot be).
    pub fn delete(&self, names: &[&[u8]]) -> Result<usize, &'static str> {
        if names.iter().any(|n| *n == b"default") {
            return Err("ERR The 'default' user cannot be removed");
        }
        let mut table = self.write();
        let deleted = names
            .iter()
            .filter(|n| table.by_name.remove(**n).is_some())
            .count();
        drop(table);
        self.changed();
        Ok(deleted)
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.read().by_name.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str) -> usize {
        COMMANDS.iter().position(|c| c.name == name).unwrap()
    }

    fn may(user: &User, args: &[&str]) -> Result<(), Denied> {
        let i = index(args[0]);
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        user.check(
            i,
            &COMMANDS[i],
            &args[0].iter().map(|&b| b as char).collect::<String>(),
            &args,
        )
    }

    #[test]
    fn the_table_fits_the_bit_sets() {
        assert!(COMMANDS.len() <= 256);
    }

    #[test]
    fn rules_apply_in_order_and_describe_as_redis_does() {
        let user = User::new(b"u")
            .apply_all(&[
                b"on", b">secret", b"~app:*", b"&news", b"+@read", b"-strlen", b"+set",
            ])
            .unwrap();
        assert!(user.accepts(b"secret") && !user.accepts(b"other"));
        assert_eq!(user.commands_text(), "-@all +@read -strlen +set");
        assert!(user.describe().starts_with("user u on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~app:* &news -@all +@read"));
        assert_eq!(may(&user, &["get", "app:1"]), Ok(()));
        assert_eq!(may(&user, &["get", "other"]), Err(Denied::Key));
        let all_commands = user.apply_all(&[b"+@all"]).unwrap();
        let migrate = |keys: &[&str]| {
            let mut args = vec!["migrate", "h", "1", "", "0", "5000", "AUTH", "KEYS", "KEYS"];
            args.extend(keys);
            may(&all_commands, &args)
        };
        assert_eq!(migrate(&["app:1", "app:2"]), Ok(()));
        assert_eq!(migrate(&["app:1", "other"]), Err(Denied::Key));
        assert_eq!(
            may(
                &all_commands,
                &["zunionstore", "app:d", "2", "app:1", "other"]
            ),
            Err(Denied::Key)
        );
        assert_eq!(
            may(&user, &["strlen", "app:1"]),
            Err(Denied::Command("strlen".into()))
        );
        assert_eq!(
            may(&user, &["del", "app:1"]),
            Err(Denied::Command("del".into()))
        );
        assert_eq!(may(&user, &["set", "app:1", "v"]), Ok(()));
        assert_eq!(
            may(&user, &["publish", "news", "m"]),
            Err(Denied::Command("publish".into()))
        );
        let user = user.apply_all(&[b"+@pubsub"]).unwrap();
        assert_eq!(may(&user, &["publish", "news", "m"]), Ok(()));
        assert_eq!(may(&user, &["publish", "other", "m"]), Err(Denied::Channel));
        assert_eq!(may(&user, &["psubscribe", "n*"]), Err(Denied::Channel));
        assert!(!user.unrestricted());
        let all = user
            .apply_all(&[b"allkeys", b"allchannels", b"allcommands"])
            .unwrap();
        assert!(all.unrestricted());
    }

    #[test]
    fn bad_rules_are_refused_whole_with_redis_reasons() {
        let user = User::new(b"u");
        let err = |rules: &[&[u8]]| user.apply_all(rules).unwrap_err();
        assert_eq!(
            err(&[b"on", b"+nosuch"]),
            "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
        );
        assert!(err(&[b"#abc"]).contains("exactly 64 characters"));
        assert!(err(&[b"<nope"]).contains("does not exist"));
        assert!(err(&[b"~*", b"~a"]).contains("Try 'resetkeys'"));
        assert!(err(&[b"bogus"]).ends_with("Syntax error"));
        assert!(err(&[b"+@nosuch"]).contains("Unknown command or category"));
    }

    #[test]
    fn runtime_users_survive_a_reload_and_never_turn_authentication_on() {
        let acl = Acl::default();
        assert!(acl.default_is_open());
        acl.set_user(b"app", &[b"on", b">pw", b"+@all", b"~*"])
            .unwrap();
        assert!(acl.default_is_open(), "a runtime user leaves default open");
        assert!(acl.authenticate(b"app", b"pw"));
        let configured = Configured {
            name: "ops".into(),
            password_sha256: hex(&sha256(b"ops-pw")),
        };
        acl.configure(std::slice::from_ref(&configured));
        assert!(
            !acl.default_is_open(),
            "configured users without default: AUTH needed"
        );
        assert!(acl.authenticate(b"ops", b"ops-pw") && acl.authenticate(b"app", b"pw"));
        acl.set_user(b"ops", &[b"off"]).unwrap();
        acl.configure(std::slice::from_ref(&configured));
        assert!(
            !acl.authenticate(b"ops", b"ops-pw"),
            "the same list changes nothing"
        );
        let other = Configured {
            name: "other".into(),
            password_sha256: hex(&sha256(b"x")),
        };
        acl.configure(&[configured, other]);
        assert!(
            acl.authenticate(b"ops", b"ops-pw"),
            "a changed list redefines configured users"
        );
        acl.configure(&[]);
        assert!(acl.user(b"ops").is_none() && acl.default_is_open());
        assert_eq!(acl.delete(&[b"app", b"nobody"]), Ok(1));
        assert!(acl.delete(&[b"default"]).is_err());
    }
}
