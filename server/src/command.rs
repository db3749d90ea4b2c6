//! The RESP commands the key-value service knows, by name, for dispatch and per-command metrics.

/// A command name, resolved once per request (case-insensitively) from its first argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Ping,
    Echo,
    Get,
    Set,
    Del,
    Exists,
    Incr,
    IncrBy,
    Decr,
    MGet,
    MSet,
    Expire,
    Ttl,
    DbSize,
    FlushAll,
    Info,
    Config,
    Command,
    Quit,
    Client,
    Select,
    Unknown,
}

impl Command {
    /// Every command, in the order of [`Command::index`] (for pre-registered metric series).
    pub const ALL: [Command; 22] = [
        Command::Ping,
        Command::Echo,
        Command::Get,
        Command::Set,
        Command::Del,
        Command::Exists,
        Command::Incr,
        Command::IncrBy,
        Command::Decr,
        Command::MGet,
        Command::MSet,
        Command::Expire,
        Command::Ttl,
        Command::DbSize,
        Command::FlushAll,
        Command::Info,
        Command::Config,
        Command::Command,
        Command::Quit,
        Command::Client,
        Command::Select,
        Command::Unknown,
    ];

    pub const COUNT: usize = Command::ALL.len();

    /// Resolves a command name case-insensitively; anything else is [`Command::Unknown`].
    pub fn lookup(name: &[u8]) -> Command {
        Command::ALL[..Command::COUNT - 1]
            .iter()
            .copied()
            .find(|c| c.name().as_bytes().eq_ignore_ascii_case(name))
            .unwrap_or(Command::Unknown)
    }

    /// The lower-case name, as a metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Command::Ping => "ping",
            Command::Echo => "echo",
            Command::Get => "get",
            Command::Set => "set",
            Command::Del => "del",
            Command::Exists => "exists",
            Command::Incr => "incr",
            Command::IncrBy => "incrby",
            Command::Decr => "decr",
            Command::MGet => "mget",
            Command::MSet => "mset",
            Command::Expire => "expire",
            Command::Ttl => "ttl",
            Command::DbSize => "dbsize",
            Command::FlushAll => "flushall",
            Command::Info => "info",
            Command::Config => "config",
            Command::Command => "command",
            Command::Quit => "quit",
            Command::Client => "client",
            Command::Select => "select",
            Command::Unknown => "unknown",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Redis's arity: a positive number is exact, a negative one a minimum (both count the name).
    pub fn arity(self) -> i32 {
        match self {
            Command::Ping => -1,
            Command::Echo => 2,
            Command::Get => 2,
            Command::Set => -3,
            Command::Del | Command::Exists | Command::MGet => -2,
            Command::Incr | Command::Decr | Command::Ttl => 2,
            Command::IncrBy | Command::Expire => 3,
            Command::MSet => -3,
            Command::DbSize => 1,
            Command::FlushAll | Command::Info | Command::Command => -1,
            Command::Config | Command::Client => -2,
            Command::Quit => -1,
            Command::Select => 2,
            Command::Unknown => -1,
        }
    }

    /// Whether `argc` (including the name) is acceptable for this command.
    pub fn arity_ok(self, argc: usize) -> bool {
        let arity = self.arity();
        if arity >= 0 {
            argc == arity as usize
        } else {
            argc >= arity.unsigned_abs() as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_indexes_match() {
        assert_eq!(Command::lookup(b"gEt"), Command::Get);
        assert_eq!(Command::lookup(b"nope"), Command::Unknown);
        for (i, c) in Command::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }

    #[test]
    fn arity_follows_redis() {
        assert!(Command::Get.arity_ok(2));
        assert!(!Command::Get.arity_ok(3));
        assert!(Command::MSet.arity_ok(5));
        assert!(!Command::MSet.arity_ok(2));
    }
}
