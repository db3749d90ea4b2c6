//! The RESP command table, in the spirit of Redis's: one row per command, one file per family.
//!
//! A row says everything the server and its clients need to know about a command: its name, arity, flags,
//! key positions, how it routes and the function that runs it. `COMMAND`, `COMMAND COUNT`, `COMMAND INFO`,
//! `COMMAND DOCS`, the per-command metrics and the arity check all come from the table. Adding a command is
//! one row here and one function in its family's file.
//!
//! Every shard serves the keyspace directly (see [`super::keyspace`]), so `Route` describes what a command
//! touches rather than where it is sent: only [`Run::EveryShard`] commands (INFO) wait on other shards.

mod acl;
mod blocking;
mod collections;
mod config;
mod connection;
mod debug;
mod declined;
mod hashes;
mod inert;
mod keys;
mod lists;
mod persistence;
mod pubsub;
mod replication;
mod restore;
mod scans;
mod server;
mod sets;
pub mod sort;
mod strings;
mod tracking;
pub mod transactions;
pub mod zsets;

use std::time::Instant;

use super::clients::Client;
use super::info;
use super::keyspace::Parts;
use super::transaction::Transaction;
use super::watch::Watching;
use super::Resp;
use crate::framework::ShardSnapshot;
pub use transactions::counted_keys;

/// Flags, as Redis names them in `COMMAND INFO`.
pub mod flag {
    pub const WRITE: u8 = 1;
    pub const READONLY: u8 = 2;
    pub const ADMIN: u8 = 4;
    pub const FAST: u8 = 8;
    /// May grow memory: refused (or preceded by evictions) when the keyspace is over `maxmemory`.
    pub const DENYOOM: u8 = 16;
    /// A publish/subscribe command.
    pub const PUBSUB: u8 = 32;
    /// Every flag with its Redis name, in the order `COMMAND` lists them.
    pub const NAMES: [(u8, &str); 6] = [
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (FAST, "fast"),
    ];
}

/// What a command touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Only the connection (PING, CLIENT, QUIT) or constant server facts (COMMAND, CONFIG GET). MULTI, EXEC
    /// and DISCARD too: what EXEC's queued commands touch comes from their own rows.
    Connection,
    /// Channels: the subscriptions every shard shares (SUBSCRIBE, PUBLISH, PUBSUB).
    Channels,
    /// The keys at its key positions, each part locked for the command's own work.
    Keys,
    /// Every shard's data: the whole keyspace (DBSIZE, FLUSHALL) or every shard's metrics (INFO).
    AllShards,
}

/// The per-command state a function sees.
pub struct Call<'a> {
    pub resp: &'a Resp,
    pub session: &'a mut Session,
    /// The arguments, the command name first; the arity is already checked.
    pub args: &'a [&'a [u8]],
    pub now: Instant,
    pub out: &'a mut Vec<u8>,
    /// The keyspace parts, locked by the command itself, or held for it by the EXEC running it: commands
    /// reach the keyspace only through these.
    pub parts: Parts<'a>,
    /// A command whose reply needs other shards or must not hold this one (KEYS, CLIENT LIST) leaves the
    /// work here instead of writing to `out`: the connection awaits it in its reply's turn.
    pub later: Option<Deferred>,
}

/// A reply still being made: it runs on this shard, may await other shards' jobs and yield between steps.
pub type Deferred = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<u8>>>>;

/// Per-connection state that commands can change.
pub struct Session {
    /// Unique among the server's connections since it started (CLIENT ID, HELLO's `id`).
    pub id: u64,
    /// RESP2 until the client says `HELLO 3`.
    pub protocol: pincore_resp::reply::Protocol,
    /// Whether AUTH (or HELLO ... AUTH) succeeded, or the service was open when the connection was made;
    /// until then only HELLO, AUTH, PING and QUIT run.
    pub authenticated: bool,
    /// CLIENT REPLY.
    pub reply: ReplyMode,
    /// What CLIENT LIST shows of this connection, name and user included.
    pub client: std::rc::Rc<Client>,
    /// Between MULTI and EXEC or DISCARD: the queued commands.
    pub transaction: Option<Transaction>,
    /// The keys WATCHed for the next EXEC.
    pub watching: Watching,
    /// Channels and patterns subscribed to, and the mailbox their messages arrive in; made by the first
    /// SUBSCRIBE or PSUBSCRIBE, unregistered on every shard when the connection closes.
    pub pubsub: Option<super::pubsub::Subscriptions>,
    /// A blocking pop that found nothing: the connection waits for it before anything else.
    pub blocked: Option<super::blocking::Blocked>,
    /// CLIENT TRACKING on: the options (see [`super::tracking`]).
    pub tracking: Option<super::pubsub::Tracked>,
    /// CLIENT CACHING yes|no, for the next command (or transaction).
    pub caching: bool,
    /// The user's rules when they restrict anything (`None`: everything allowed, nothing to check), as of
    /// the users' table version `acl_version` (0: to be read before the next command).
    pub acl: Option<std::sync::Arc<dyn Rules>>,
    pub acl_version: u64,
    /// SYNC or PSYNC (true) was run: the connection becomes a replica's link once its replies are out.
    pub sync: Option<bool>,
    /// PSYNC's replication id and the first stream offset it asked for (`-1`: none).
    pub psync_from: Option<(Vec<u8>, u64)>,
    /// REPLCONF listening-port, kept for INFO once the connection is a replica's link.
    pub listening_port: u16,
    /// EXEC is running this connection's queued commands: nothing blocks.
    pub in_exec: bool,
}

/// Which replies a connection gets (CLIENT REPLY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyMode {
    #[default]
    On,
    /// No replies until CLIENT REPLY ON.
    Off,
    /// No reply to the next command.
    SkipNext,
}

impl Session {
    /// A connection's state, with the next client id.
    pub fn for_connection(fd: std::os::fd::RawFd) -> Session {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Session {
            id,
            protocol: Default::default(),
            authenticated: false,
            reply: ReplyMode::On,
            client: std::rc::Rc::new(Client::new(id, fd)),
            transaction: None,
            watching: Watching::default(),
            pubsub: None,
            blocked: None,
            tracking: None,
            caching: false,
            acl: None,
            acl_version: 0,
            sync: None,
            psync_from: None,
            listening_port: 0,
            in_exec: false,
        }
    }

    /// Subscribed to at least one channel or pattern: in RESP2 only the pub/sub commands, PING, QUIT and
    /// RESET run then, and the read deadline waits for nothing but partial requests.
    pub fn subscribed(&self) -> bool {
        self.pubsub.as_ref().is_some_and(|s| s.count() > 0)
    }

    /// Subscribed, or running MONITOR: waiting for what others do is not being idle.
    pub fn listening(&self) -> bool {
        self.pubsub
            .as_ref()
            .is_some_and(|s| s.count() > 0 || s.monitoring())
    }

    /// The connection's subscriptions (and MONITOR), made by the first command that needs them.
    pub fn subscriptions(
        &mut self,
        pubsub: &std::sync::Arc<super::pubsub::PubSub>,
    ) -> &mut super::pubsub::Subscriptions {
        let (protocol, id) = (self.protocol, self.id);
        self.pubsub.get_or_insert_with(|| {
            let subscriptions = super::pubsub::Subscriptions::new(pubsub.clone(), protocol);
            pubsub
                .tracking
                .mailbox_of(id, Some(subscriptions.mailbox()));
            subscriptions
        })
    }

    /// The mailbox of a connection that has subscribed or run MONITOR at some point.
    pub fn mailbox(&self) -> Option<&std::sync::Arc<super::pubsub::Mailbox>> {
        self.pubsub.as_ref().map(|s| s.mailbox())
    }
}

impl Session {
    /// A command was refused while a transaction is open: EXEC will abort it (Redis's `flagTransaction`).
    pub fn refused(&mut self) {
        if let Some(transaction) = &mut self.transaction {
            transaction.abort();
        }
    }

    /// Ends the transaction, if any, and every watch (EXEC, DISCARD, a closed connection).
    pub fn end_transaction(&mut self, parts: &mut Parts<'_>) {
        self.transaction = None;
        self.watching.clear(parts);
    }
}

/// What a command did besides writing its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Reply,
    /// Close the connection after the reply (QUIT).
    Close,
}

/// How a command runs.
#[derive(Clone, Copy)]
pub enum Run {
    /// On this shard, at once.
    Here(fn(&mut Call<'_>) -> Flow),
    /// Once every shard's metrics snapshot is in: `prepare` reads the arguments, `render` writes the reply.
    EveryShard {
        prepare: fn(&[&[u8]]) -> Vec<String>,
        render: fn(&Resp, &[String], &[ShardSnapshot], pincore_resp::reply::Protocol, &mut Vec<u8>),
    },
}

/// One row of the table.
pub struct Spec {
    /// Lower-case, as `COMMAND` and the metrics labels show it.
    pub name: &'static str,
    /// Redis's arity: positive is exact, negative a minimum (both count the name).
    pub arity: i32,
    pub flags: u8,
    /// Key positions: first, last (negative counts from the end), step; 0, 0, 0 for none.
    pub keys: (i32, i32, i32),
    pub route: Route,
    /// The family (Redis's `group` in `COMMAND DOCS`).
    pub group: &'static str,
    pub summary: &'static str,
    pub run: Run,
}

use flag::{ADMIN, DENYOOM, FAST, PUBSUB, READONLY, WRITE};
use Route::{AllShards, Channels, Connection as Conn, Keys};

#[allow(clippy::too_many_arguments)] // one argument per column, so that each row reads as a table line
const fn row(
    name: &'static str,
    arity: i32,
    flags: u8,
    keys: (i32, i32, i32),
    route: Route,
    group: &'static str,
    summary: &'static str,
    run: fn(&mut Call<'_>) -> Flow,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys,
        route,
        group,
        summary,
        run: Run::Here(run),
    }
}

/// A command pincore-server deliberately lacks (see `declined.rs`): its Redis arity and group, and why.
const fn declined_row(
    name: &'static str,
    arity: i32,
    group: &'static str,
    summary: &'static str,
) -> Spec {
    row(
        name,
        arity,
        ADMIN,
        (0, 0, 0),
        Conn,
        group,
        summary,
        declined::declined,
    )
}

/// The commands, in the order of their metric series.
pub static COMMANDS: [Spec; 190] = [
    row(
        "ping",
        -1,
        FAST,
        (0, 0, 0),
        Conn,
        "connection",
        "Returns PONG, or the message given.",
        connection::ping,
    ),
    row(
        "echo",
        2,
        FAST,
        (0, 0, 0),
        Conn,
        "connection",
        "Returns the message given.",
        connection::echo,
    ),
    row(
        "get",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "string",
        "Returns the value of a key.",
        strings::get,
    ),
    row(
        "set",
        -3,
        WRITE | DENYOOM,
        (1, 1, 1),
        Keys,
        "string",
        "Sets a key's value, with NX|XX, EX|PX|EXAT|PXAT|KEEPTTL and GET.",
        strings::set,
    ),
    row(
        "del",
        -2,
        WRITE,
        (1, -1, 1),
        Keys,
        "generic",
        "Deletes keys; returns how many existed.",
        keys::del,
    ),
    row(
        "exists",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        Keys,
        "generic",
        "Counts the keys given that exist.",
        keys::exists,
    ),
    row(
        "incr",
        2,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "string",
        "Adds 1 to a key's integer value.",
        strings::incr,
    ),
    row(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "string",
        "Adds an integer to a key's integer value.",
        strings::incrby,
    ),
    row(
        "decr",
        2,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "string",
        "Subtracts 1 from a key's integer value.",
        strings::decr,
    ),
    row(
        "mget",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        Keys,
        "string",
        "Returns the values of keys.",
        strings::mget,
    ),
    row(
        "mset",
        -3,
        WRITE | DENYOOM,
        (1, -1, 2),
        Keys,
        "string",
        "Sets several keys at once, atomically.",
        strings::mset,
    ),
    row(
        "setnx",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "string",
        "Sets a key's value only if it does not exist; 1 if set.",
        strings::setnx,
    ),
    row(
        "setex",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Keys,
        "string",
        "Sets a key's value with a time to live in seconds.",
        strings::setex,
    ),
    row(
        "psetex",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Keys,
        "string",
        "Sets a key's value with a time to live in milliseconds.",
        strings::psetex,
    ),
    row(
        "getset",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "string",
        "Sets a key's value and returns the previous one.",
        strings::getset,
    ),
    row(
        "getdel",
        2,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "string",
        "Returns a key's value and deletes the key.",
        strings::getdel,
    ),
    row(
        "getex",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "string",
        "Returns a key's value and sets its expiry: EX|PX|EXAT|PXAT|PERSIST.",
        strings::getex,
    ),
    row(
        "append",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "string",
        "Appends to a key's value; returns the new length.",
        strings::append,
    ),
    row(
        "strlen",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "string",
        "Returns the length of a key's value.",
        strings::strlen,
    ),
    row(
        "getrange",
        4,
        READONLY,
        (1, 1, 1),
        Keys,
        "string",
        "Returns a substring of a key's value.",
        strings::getrange,
    ),
    row(
        "substr",
        4,
        READONLY,
        (1, 1, 1),
        Keys,
        "string",
        "Returns a substring of a key's value (GETRANGE's old name).",
        strings::getrange,
    ),
    row(
        "setrange",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Keys,
        "string",
        "Overwrites part of a key's value from an offset, padding with zero bytes.",
        strings::setrange,
    ),
    row(
        "setbit",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Keys,
        "bitmap",
        "Sets or clears the bit at an offset of a key's value, growing it with zero bytes.",
        strings::setbit,
    ),
    row(
        "getbit",
        3,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "bitmap",
        "Returns the bit at an offset of a key's value.",
        strings::getbit,
    ),
    row(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "string",
        "Adds a float to a key's value.",
        strings::incrbyfloat,
    ),
    row(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "string",
        "Subtracts an integer from a key's integer value.",
        strings::decrby,
    ),
    row(
        "msetnx",
        -3,
        WRITE | DENYOOM,
        (1, -1, 2),
        Keys,
        "string",
        "Sets several keys at once only if none exists, atomically.",
        strings::msetnx,
    ),
    row(
        "expire",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "generic",
        "Sets a key's time to live in seconds, with NX|XX|GT|LT.",
        keys::expire,
    ),
    row(
        "ttl",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "generic",
        "Returns a key's time to live in seconds.",
        keys::ttl,
    ),
    row(
        "pexpire",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "generic",
        "Sets a key's time to live in milliseconds, with NX|XX|GT|LT.",
        keys::pexpire,
    ),
    row(
        "expireat",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "generic",
        "Sets a key's expiry as a Unix time in seconds, with NX|XX|GT|LT.",
        keys::expireat,
    ),
    row(
        "pexpireat",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "generic",
        "Sets a key's expiry as a Unix time in milliseconds, with NX|XX|GT|LT.",
        keys::pexpireat,
    ),
    row(
        "pttl",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "generic",
        "Returns a key's time to live in milliseconds.",
        keys::pttl,
    ),
    row(
        "expiretime",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "generic",
        "Returns a key's expiry as a Unix time in seconds.",
        keys::expiretime,
    ),
    row(
        "pexpiretime",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "generic",
        "Returns a key's expiry as a Unix time in milliseconds.",
        keys::pexpiretime,
    ),
    row(
        "persist",
        2,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "generic",
        "Removes a key's time to live.",
        keys::persist,
    ),
    row(
        "type",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "generic",
        "Returns the type of a key's value: string, hash, list, set, zset, or none.",
        keys::type_of,
    ),
    row(
        "rename",
        3,
        WRITE,
        (1, 2, 1),
        Keys,
        "generic",
        "Renames a key, replacing the destination.",
        keys::rename,
    ),
    row(
        "renamenx",
        3,
        WRITE | FAST,
        (1, 2, 1),
        Keys,
        "generic",
        "Renames a key only if the new name does not exist.",
        keys::renamenx,
    ),
    row(
        "copy",
        -3,
        WRITE | DENYOOM,
        (1, 2, 1),
        Keys,
        "generic",
        "Copies a key's value and TTL to another key, with REPLACE.",
        keys::copy,
    ),
    row(
        "unlink",
        -2,
        WRITE | FAST,
        (1, -1, 1),
        Keys,
        "generic",
        "DEL by its non-blocking name: a key is one allocation, freed at once.",
        keys::del,
    ),
    row(
        "touch",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        Keys,
        "generic",
        "Counts the keys given that exist, marking them as read.",
        keys::touch,
    ),
    row(
        "randomkey",
        1,
        READONLY,
        (0, 0, 0),
        AllShards,
        "generic",
        "Returns a random key.",
        keys::randomkey,
    ),
    row(
        "dbsize",
        1,
        READONLY | FAST,
        (0, 0, 0),
        AllShards,
        "server",
        "Returns the number of keys.",
        server::dbsize,
    ),
    row(
        "flushall",
        -1,
        WRITE,
        (0, 0, 0),
        AllShards,
        "server",
        "Deletes every key.",
        server::flushall,
    ),
    row(
        "flushdb",
        -1,
        WRITE,
        (0, 0, 0),
        AllShards,
        "server",
        "Deletes every key of the (only) database.",
        server::flushall,
    ),
    row(
        "shutdown",
        -1,
        ADMIN,
        (0, 0, 0),
        Conn,
        "server",
        "Stops the server as SIGTERM does: drains, then saves if persistence.save_on_shutdown says so.",
        server::shutdown,
    ),
    row(
        "time",
        1,
        FAST,
        (0, 0, 0),
        Conn,
        "server",
        "Returns the server's Unix time in seconds and microseconds.",
        server::time,
    ),
    Spec {
        name: "info",
        arity: -1,
        flags: 0,
        keys: (0, 0, 0),
        route: AllShards,
        group: "server",
        summary: "Returns the server, clients, stats and keyspace sections, from every shard.",
        run: Run::EveryShard {
            prepare: info::sections,
            render: info::reply,
        },
    },
    row(
        "config",
        -2,
        ADMIN,
        (0, 0, 0),
        Conn,
        "server",
        "CONFIG GET, SET (live, as a SIGHUP reload), RESETSTAT, REWRITE (refused), HELP.",
        config::config,
    ),
    row(
        "command",
        -1,
        0,
        (0, 0, 0),
        Conn,
        "server",
        "Describes the commands: COMMAND, COUNT, INFO, DOCS.",
        server::command,
    ),
    row(
        "quit",
        -1,
        FAST,
        (0, 0, 0),
        Conn,
        "connection",
        "Closes the connection after the reply.",
        connection::quit,
    ),
    row(
        "reset",
        1,
        FAST,
        (0, 0, 0),
        Conn,
        "connection",
        "Ends any transaction, watch and subscription, back to RESP2, no name, and unauthenticated if users are configured.",
        connection::reset,
    ),
    row(
        "client",
        -2,
        0,
        (0, 0, 0),
        Conn,
        "connection",
        "CLIENT SETNAME, GETNAME, SETINFO, ID.",
        connection::client,
    ),
    row(
        "select",
        2,
        FAST,
        (0, 0, 0),
        Conn,
        "connection",
        "Selects database 0 (the only one).",
        connection::select,
    ),
    row(
        "hello",
        -1,
        FAST,
        (0, 0, 0),
        Conn,
        "connection",
        "Switches to RESP2 or RESP3 (with AUTH and SETNAME) and returns the server's facts.",
        connection::hello,
    ),
    row(
        "auth",
        -2,
        FAST,
        (0, 0, 0),
        Conn,
        "connection",
        "Authenticates the connection as a configured user.",
        connection::auth,
    ),
    row(
        "acl",
        -2,
        ADMIN,
        (0, 0, 0),
        Conn,
        "server",
        "Users and their rights: SETUSER, DELUSER, GETUSER, LIST, USERS, CAT, WHOAMI, GENPASS, DRYRUN.",
        acl::acl,
    ),
    row(
        "multi",
        1,
        FAST,
        (0, 0, 0),
        Conn,
        "transactions",
        "Starts a transaction: later commands are queued until EXEC.",
        transactions::multi,
    ),
    row(
        "exec",
        1,
        0,
        (0, 0, 0),
        Conn,
        "transactions",
        "Runs the queued commands atomically, or none if a WATCHed key changed.",
        transactions::exec,
    ),
    row(
        "discard",
        1,
        FAST,
        (0, 0, 0),
        Conn,
        "transactions",
        "Drops the queued commands and ends the transaction.",
        transactions::discard,
    ),
    row(
        "watch",
        -2,
        FAST,
        (1, -1, 1),
        Keys,
        "transactions",
        "Makes the next EXEC run only if none of these keys changes before it.",
        transactions::watch,
    ),
    row(
        "unwatch",
        1,
        FAST,
        (0, 0, 0),
        Conn,
        "transactions",
        "Forgets every WATCHed key.",
        transactions::unwatch,
    ),
    row(
        "subscribe",
        -2,
        PUBSUB,
        (0, 0, 0),
        Channels,
        "pubsub",
        "Subscribes to channels; their messages arrive from every shard's publishers.",
        pubsub::subscribe,
    ),
    row(
        "unsubscribe",
        -1,
        PUBSUB,
        (0, 0, 0),
        Channels,
        "pubsub",
        "Unsubscribes from channels, or from every channel without arguments.",
        pubsub::unsubscribe,
    ),
    row(
        "psubscribe",
        -2,
        PUBSUB,
        (0, 0, 0),
        Channels,
        "pubsub",
        "Subscribes to the channels matching glob-style patterns.",
        pubsub::psubscribe,
    ),
    row(
        "punsubscribe",
        -1,
        PUBSUB,
        (0, 0, 0),
        Channels,
        "pubsub",
        "Unsubscribes from patterns, or from every pattern without arguments.",
        pubsub::punsubscribe,
    ),
    row(
        "publish",
        3,
        PUBSUB | FAST,
        (0, 0, 0),
        Channels,
        "pubsub",
        "Posts a message to a channel; returns how many subscribers, on every shard, received it.",
        pubsub::publish,
    ),
    row(
        "pubsub",
        -2,
        0,
        (0, 0, 0),
        Channels,
        "pubsub",
        "PUBSUB CHANNELS [pattern], NUMSUB [channel ...], NUMPAT: the subscriptions of every shard.",
        pubsub::pubsub,
    ),
    row(
        "keys",
        2,
        READONLY,
        (0, 0, 0),
        AllShards,
        "generic",
        "Returns every key matching a glob pattern, walking the keyspace a part at a time.",
        keys::keys,
    ),
    row(
        "scan",
        -2,
        READONLY,
        (0, 0, 0),
        AllShards,
        "generic",
        "Iterates the keys: a cursor, with MATCH, COUNT and TYPE.",
        keys::scan,
    ),
    row(
        "object",
        -2,
        READONLY,
        (2, 2, 1),
        Keys,
        "generic",
        "OBJECT ENCODING, FREQ, IDLETIME, REFCOUNT, HELP: how a key's value is held and used.",
        keys::object,
    ),
    row(
        "memory",
        -2,
        READONLY,
        (2, 2, 1),
        Keys,
        "server",
        "MEMORY USAGE key, HELP: the bytes a key costs, as maxmemory counts them.",
        keys::memory,
    ),
    row(
        "dump",
        2,
        READONLY,
        (1, 1, 1),
        Keys,
        "generic",
        "Returns a key's value serialized as Redis's DUMP does (RDB format, version and CRC-64).",
        restore::dump,
    ),
    row(
        "restore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Keys,
        "generic",
        "Makes a key from a DUMP payload, with REPLACE, ABSTTL, IDLETIME and FREQ.",
        restore::restore,
    ),
    row(
        "migrate",
        -6,
        WRITE,
        (3, 3, 1),
        Keys,
        "generic",
        "Moves keys to another server (RESTORE there, DEL here), with COPY, REPLACE, AUTH, AUTH2 and KEYS.",
        restore::migrate,
    ),
    row(
        "lcs",
        -3,
        READONLY,
        (1, 2, 1),
        Keys,
        "string",
        "Returns the longest common subsequence of two values, its length or its ranges.",
        strings::lcs,
    ),
    declined_row(
        "eval",
        -3,
        "scripting",
        "Not supported: pincore-server has no scripting.",
    ),
    declined_row(
        "evalsha",
        -3,
        "scripting",
        "Not supported: pincore-server has no scripting.",
    ),
    declined_row(
        "eval_ro",
        -3,
        "scripting",
        "Not supported: pincore-server has no scripting.",
    ),
    declined_row(
        "evalsha_ro",
        -3,
        "scripting",
        "Not supported: pincore-server has no scripting.",
    ),
    declined_row(
        "fcall",
        -3,
        "scripting",
        "Not supported: pincore-server has no scripting.",
    ),
    declined_row(
        "fcall_ro",
        -3,
        "scripting",
        "Not supported: pincore-server has no scripting.",
    ),
    declined_row(
        "script",
        -2,
        "scripting",
        "Not supported: pincore-server has no scripting.",
    ),
    declined_row(
        "function",
        -2,
        "scripting",
        "Not supported: scripting (FUNCTION FLUSH answers OK, there is nothing to flush).",
    ),
    declined_row(
        "module",
        -2,
        "server",
        "Not supported: pincore-server has no modules.",
    ),
    declined_row(
        "replicaof",
        3,
        "server",
        "Not supported: pincore-server is a master only (replicas attach with SYNC or PSYNC).",
    ),
    declined_row(
        "slaveof",
        3,
        "server",
        "Not supported: pincore-server is a master only (replicas attach with SYNC or PSYNC).",
    ),
    row(
        "sync",
        1,
        ADMIN,
        (0, 0, 0),
        Conn,
        "server",
        "Makes this connection a replica's link: the dataset as an RDB file, then the replication stream.",
        replication::sync,
    ),
    row(
        "psync",
        -3,
        ADMIN,
        (0, 0, 0),
        Conn,
        "server",
        "As SYNC, answering +FULLRESYNC <replid> <offset> first (a partial resync is always a full one).",
        replication::psync,
    ),
    row(
        "replconf",
        -1,
        ADMIN,
        (0, 0, 0),
        Conn,
        "server",
        "A replica's settings before SYNC (listening-port, capa) and its acknowledged offset (ACK).",
        replication::replconf,
    ),
    row(
        "wait",
        3,
        0,
        (0, 0, 0),
        Conn,
        "generic",
        "Waits until the given number of replicas acknowledged the stream so far, or the timeout (ms).",
        replication::wait,
    ),
    row(
        "save",
        1,
        ADMIN,
        (0, 0, 0),
        Conn,
        "server",
        "Writes a snapshot of the keyspace; answers once it is on disk.",
        persistence::save,
    ),
    row(
        "bgsave",
        -1,
        ADMIN,
        (0, 0, 0),
        Conn,
        "server",
        "Writes a snapshot of the keyspace in the background.",
        persistence::bgsave,
    ),
    row(
        "lastsave",
        1,
        FAST,
        (0, 0, 0),
        Conn,
        "server",
        "Returns the Unix time of the last successful snapshot.",
        persistence::lastsave,
    ),
    row(
        "bgrewriteaof",
        1,
        ADMIN,
        (0, 0, 0),
        Conn,
        "server",
        "Rewrites the append-only file in the background: a new base of the keyspace as it is now.",
        persistence::bgrewriteaof,
    ),
    row(
        "debug",
        -2,
        ADMIN,
        (0, 0, 0),
        Conn,
        "server",
        "OBJECT, DIGEST, DIGEST-VALUE, RELOAD, LOADAOF, SET-ACTIVE-EXPIRE, SLEEP, PROTOCOL, HELP; only with services.resp.settings.enable_debug_command.",
        debug::debug,
    ),
    row(
        "hset",
        -4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "hash",
        "Sets fields of a hash; returns how many were new.",
        hashes::hset,
    ),
    row(
        "hmset",
        -4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "hash",
        "Sets fields of a hash (HSET's old name, replying OK).",
        hashes::hmset,
    ),
    row(
        "hsetnx",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "hash",
        "Sets a field of a hash only if it does not exist.",
        hashes::hsetnx,
    ),
    row(
        "hget",
        3,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "hash",
        "Returns the value of a field of a hash.",
        hashes::hget,
    ),
    row(
        "hmget",
        -3,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "hash",
        "Returns the values of fields of a hash.",
        hashes::hmget,
    ),
    row(
        "hgetall",
        2,
        READONLY,
        (1, 1, 1),
        Keys,
        "hash",
        "Returns every field and value of a hash.",
        hashes::hgetall,
    ),
    row(
        "hdel",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "hash",
        "Deletes fields of a hash; returns how many existed.",
        hashes::hdel,
    ),
    row(
        "hexists",
        3,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "hash",
        "Whether a hash has a field.",
        hashes::hexists,
    ),
    row(
        "hlen",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "hash",
        "Returns the number of fields of a hash.",
        hashes::hlen,
    ),
    row(
        "hkeys",
        2,
        READONLY,
        (1, 1, 1),
        Keys,
        "hash",
        "Returns the fields of a hash.",
        hashes::hkeys,
    ),
    row(
        "hvals",
        2,
        READONLY,
        (1, 1, 1),
        Keys,
        "hash",
        "Returns the values of a hash.",
        hashes::hvals,
    ),
    row(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "hash",
        "Adds an integer to a field of a hash.",
        hashes::hincrby,
    ),
    row(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "hash",
        "Adds a float to a field of a hash.",
        hashes::hincrbyfloat,
    ),
    row(
        "hstrlen",
        3,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "hash",
        "Returns the length of a field's value.",
        hashes::hstrlen,
    ),
    row(
        "hrandfield",
        -2,
        READONLY,
        (1, 1, 1),
        Keys,
        "hash",
        "Returns random fields of a hash, with WITHVALUES.",
        hashes::hrandfield,
    ),
    row(
        "lpush",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "list",
        "Prepends elements to a list; returns its length.",
        lists::lpush,
    ),
    row(
        "rpush",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "list",
        "Appends elements to a list; returns its length.",
        lists::rpush,
    ),
    row(
        "lpushx",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "list",
        "Prepends elements to an existing list.",
        lists::lpushx,
    ),
    row(
        "rpushx",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "list",
        "Appends elements to an existing list.",
        lists::rpushx,
    ),
    row(
        "lpop",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "list",
        "Removes and returns the first elements of a list.",
        lists::lpop,
    ),
    row(
        "rpop",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "list",
        "Removes and returns the last elements of a list.",
        lists::rpop,
    ),
    row(
        "llen",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "list",
        "Returns the length of a list.",
        lists::llen,
    ),
    row(
        "lrange",
        4,
        READONLY,
        (1, 1, 1),
        Keys,
        "list",
        "Returns a range of elements of a list.",
        lists::lrange,
    ),
    row(
        "lindex",
        3,
        READONLY,
        (1, 1, 1),
        Keys,
        "list",
        "Returns the element at an index of a list.",
        lists::lindex,
    ),
    row(
        "lset",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Keys,
        "list",
        "Sets the element at an index of a list.",
        lists::lset,
    ),
    row(
        "linsert",
        5,
        WRITE | DENYOOM,
        (1, 1, 1),
        Keys,
        "list",
        "Inserts an element before or after another in a list.",
        lists::linsert,
    ),
    row(
        "lrem",
        4,
        WRITE,
        (1, 1, 1),
        Keys,
        "list",
        "Removes elements equal to a value from a list.",
        lists::lrem,
    ),
    row(
        "ltrim",
        4,
        WRITE,
        (1, 1, 1),
        Keys,
        "list",
        "Keeps only a range of elements of a list.",
        lists::ltrim,
    ),
    row(
        "lpos",
        -3,
        READONLY,
        (1, 1, 1),
        Keys,
        "list",
        "Returns the positions of an element in a list, with RANK, COUNT, MAXLEN.",
        lists::lpos,
    ),
    row(
        "lmove",
        5,
        WRITE | DENYOOM,
        (1, 2, 1),
        Keys,
        "list",
        "Moves an element from one end of a list to an end of another.",
        lists::lmove,
    ),
    row(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        (1, 2, 1),
        Keys,
        "list",
        "Moves the last element of a list to the front of another.",
        lists::rpoplpush,
    ),
    row(
        "sadd",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "set",
        "Adds members to a set; returns how many were new.",
        sets::sadd,
    ),
    row(
        "srem",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "set",
        "Removes members from a set; returns how many existed.",
        sets::srem,
    ),
    row(
        "smembers",
        2,
        READONLY,
        (1, 1, 1),
        Keys,
        "set",
        "Returns every member of a set.",
        sets::smembers,
    ),
    row(
        "sismember",
        3,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "set",
        "Whether a value is a member of a set.",
        sets::sismember,
    ),
    row(
        "smismember",
        -3,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "set",
        "Whether each value is a member of a set.",
        sets::smismember,
    ),
    row(
        "scard",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "set",
        "Returns the number of members of a set.",
        sets::scard,
    ),
    row(
        "spop",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "set",
        "Removes and returns random members of a set.",
        sets::spop,
    ),
    row(
        "srandmember",
        -2,
        READONLY,
        (1, 1, 1),
        Keys,
        "set",
        "Returns random members of a set.",
        sets::srandmember,
    ),
    row(
        "sinter",
        -2,
        READONLY,
        (1, -1, 1),
        Keys,
        "set",
        "Returns the intersection of sets.",
        sets::sinter,
    ),
    row(
        "sunion",
        -2,
        READONLY,
        (1, -1, 1),
        Keys,
        "set",
        "Returns the union of sets.",
        sets::sunion,
    ),
    row(
        "sdiff",
        -2,
        READONLY,
        (1, -1, 1),
        Keys,
        "set",
        "Returns the members of the first set not in the others.",
        sets::sdiff,
    ),
    row(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        Keys,
        "set",
        "Stores the intersection of sets in a key.",
        sets::sinterstore,
    ),
    row(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        Keys,
        "set",
        "Stores the union of sets in a key.",
        sets::sunionstore,
    ),
    row(
        "sdiffstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        Keys,
        "set",
        "Stores the difference of sets in a key.",
        sets::sdiffstore,
    ),
    row(
        "smove",
        4,
        WRITE | FAST,
        (1, 2, 1),
        Keys,
        "set",
        "Moves a member from one set to another.",
        sets::smove,
    ),
    row(
        "sintercard",
        -3,
        READONLY,
        (2, -1, 1),
        Keys,
        "set",
        "Returns the size of the intersection of sets, with LIMIT.",
        sets::sintercard,
    ),
    row(
        "zadd",
        -4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Adds members with scores to a sorted set, with NX|XX, GT|LT, CH, INCR.",
        zsets::zadd,
    ),
    row(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Adds to the score of a member of a sorted set.",
        zsets::zincrby,
    ),
    row(
        "zrem",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Removes members from a sorted set.",
        zsets::zrem,
    ),
    row(
        "zcard",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Returns the number of members of a sorted set.",
        zsets::zcard,
    ),
    row(
        "zscore",
        3,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Returns the score of a member of a sorted set.",
        zsets::zscore,
    ),
    row(
        "zmscore",
        -3,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Returns the scores of members of a sorted set.",
        zsets::zmscore,
    ),
    row(
        "zrank",
        3,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Returns the rank of a member of a sorted set, lowest score first.",
        zsets::zrank,
    ),
    row(
        "zrevrank",
        3,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Returns the rank of a member of a sorted set, highest score first.",
        zsets::zrevrank,
    ),
    row(
        "zcount",
        4,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Counts the members of a sorted set within a score range.",
        zsets::zcount,
    ),
    row(
        "zlexcount",
        4,
        READONLY | FAST,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Counts the members of a sorted set within a lexicographic range.",
        zsets::zlexcount,
    ),
    row(
        "zrange",
        -4,
        READONLY,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Returns members of a sorted set by rank, score or lex, with REV, LIMIT, WITHSCORES.",
        zsets::zrange,
    ),
    row(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        (1, 2, 1),
        Keys,
        "sorted-set",
        "Stores a range of a sorted set in a key.",
        zsets::zrangestore,
    ),
    row(
        "zrangebyscore",
        -4,
        READONLY,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Returns members of a sorted set within a score range.",
        zsets::zrangebyscore,
    ),
    row(
        "zrevrangebyscore",
        -4,
        READONLY,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Returns members of a sorted set within a score range, highest first.",
        zsets::zrevrangebyscore,
    ),
    row(
        "zrevrange",
        -4,
        READONLY,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Returns members of a sorted set by rank, highest first.",
        zsets::zrevrange,
    ),
    row(
        "zrangebylex",
        -4,
        READONLY,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Returns members of a sorted set within a lexicographic range.",
        zsets::zrangebylex,
    ),
    row(
        "zrevrangebylex",
        -4,
        READONLY,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Returns members of a sorted set within a lexicographic range, highest first.",
        zsets::zrevrangebylex,
    ),
    row(
        "zpopmin",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Removes and returns the members with the lowest scores.",
        zsets::zpopmin,
    ),
    row(
        "zpopmax",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Removes and returns the members with the highest scores.",
        zsets::zpopmax,
    ),
    row(
        "zrandmember",
        -2,
        READONLY,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Returns random members of a sorted set, with WITHSCORES.",
        zsets::zrandmember,
    ),
    row(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Stores the union of sorted sets in a key, with WEIGHTS and AGGREGATE.",
        zsets::zunionstore,
    ),
    row(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Stores the intersection of sorted sets in a key, with WEIGHTS and AGGREGATE.",
        zsets::zinterstore,
    ),
    row(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Stores the members of the first sorted set that are in no other.",
        zsets::zdiffstore,
    ),
    row(
        "zunion",
        -3,
        READONLY,
        (2, -1, 1),
        Keys,
        "sorted-set",
        "Returns the union of sorted sets, with WEIGHTS, AGGREGATE and WITHSCORES.",
        zsets::zunion,
    ),
    row(
        "zinter",
        -3,
        READONLY,
        (2, -1, 1),
        Keys,
        "sorted-set",
        "Returns the intersection of sorted sets, with WEIGHTS, AGGREGATE and WITHSCORES.",
        zsets::zinter,
    ),
    row(
        "zdiff",
        -3,
        READONLY,
        (2, -1, 1),
        Keys,
        "sorted-set",
        "Returns the members of the first sorted set that are in no other, with WITHSCORES.",
        zsets::zdiff,
    ),
    row(
        "zintercard",
        -3,
        READONLY,
        (2, -1, 1),
        Keys,
        "sorted-set",
        "Returns the size of the intersection of sorted sets, with LIMIT.",
        zsets::zintercard,
    ),
    row(
        "zremrangebyrank",
        4,
        WRITE,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Removes the members within a range of ranks.",
        zsets::zremrangebyrank,
    ),
    row(
        "zremrangebyscore",
        4,
        WRITE,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Removes the members within a range of scores.",
        zsets::zremrangebyscore,
    ),
    row(
        "zremrangebylex",
        4,
        WRITE,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Removes the members within a lexicographical range.",
        zsets::zremrangebylex,
    ),
    row(
        "sscan",
        -3,
        READONLY,
        (1, 1, 1),
        Keys,
        "set",
        "Iterates a set's members, with MATCH (the whole set in one step).",
        scans::sscan,
    ),
    row(
        "hscan",
        -3,
        READONLY,
        (1, 1, 1),
        Keys,
        "hash",
        "Iterates a hash's fields and values, with MATCH (the whole hash in one step).",
        scans::hscan,
    ),
    row(
        "zscan",
        -3,
        READONLY,
        (1, 1, 1),
        Keys,
        "sorted-set",
        "Iterates a sorted set's members and scores, with MATCH (the whole set in one step).",
        scans::zscan,
    ),
    row(
        "blpop",
        -3,
        WRITE,
        (1, -2, 1),
        Keys,
        "list",
        "Removes and returns the first element of the first non-empty list, waiting up to a timeout.",
        blocking::blpop,
    ),
    row(
        "brpop",
        -3,
        WRITE,
        (1, -2, 1),
        Keys,
        "list",
        "Removes and returns the last element of the first non-empty list, waiting up to a timeout.",
        blocking::brpop,
    ),
    row(
        "blmove",
        6,
        WRITE | DENYOOM,
        (1, 2, 1),
        Keys,
        "list",
        "LMOVE, waiting up to a timeout for the source to have an element.",
        blocking::blmove,
    ),
    row(
        "brpoplpush",
        4,
        WRITE | DENYOOM,
        (1, 2, 1),
        Keys,
        "list",
        "RPOPLPUSH, waiting up to a timeout for the source to have an element.",
        blocking::brpoplpush,
    ),
    row(
        "bzpopmin",
        -3,
        WRITE | FAST,
        (1, -2, 1),
        Keys,
        "sorted-set",
        "Removes and returns the lowest-scored member of the first non-empty sorted set, waiting up to a timeout.",
        blocking::bzpopmin,
    ),
    row(
        "bzpopmax",
        -3,
        WRITE | FAST,
        (1, -2, 1),
        Keys,
        "sorted-set",
        "Removes and returns the highest-scored member of the first non-empty sorted set, waiting up to a timeout.",
        blocking::bzpopmax,
    ),
    row(
        "lmpop",
        -4,
        WRITE,
        (2, -2, 1),
        Keys,
        "list",
        "Removes and returns up to COUNT elements from either end of the first non-empty list.",
        blocking::lmpop,
    ),
    row(
        "blmpop",
        -5,
        WRITE,
        (3, -2, 1),
        Keys,
        "list",
        "LMPOP, waiting up to a timeout for one of the lists to have an element.",
        blocking::blmpop,
    ),
    row(
        "zmpop",
        -4,
        WRITE,
        (2, -2, 1),
        Keys,
        "sorted-set",
        "Removes and returns up to COUNT of the lowest- or highest-scored members of the first non-empty sorted set.",
        blocking::zmpop,
    ),
    row(
        "bzmpop",
        -5,
        WRITE,
        (3, -2, 1),
        Keys,
        "sorted-set",
        "ZMPOP, waiting up to a timeout for one of the sorted sets to have a member.",
        blocking::bzmpop,
    ),
    row(
        "monitor",
        1,
        ADMIN,
        (0, 0, 0),
        Conn,
        "server",
        "Streams every command the server runs to this connection, until it closes or RESETs.",
        server::monitor,
    ),
    row(
        "sort",
        -2,
        WRITE | DENYOOM,
        (1, 1, 1),
        Keys,
        "generic",
        "Sorts a list, set or sorted set, by its elements or BY the keys a pattern names; GET, LIMIT, ALPHA, STORE.",
        sort::sort,
    ),
    row(
        "sort_ro",
        -2,
        READONLY,
        (1, 1, 1),
        Keys,
        "generic",
        "SORT without STORE.",
        sort::sort_ro,
    ),
];

/// The index that stands for a command not in the table (its metrics are labelled `unknown`).
pub const UNKNOWN: usize = COMMANDS.len();

/// The metric label of index `i` (a row's name, or `unknown`).
pub fn label(i: usize) -> &'static str {
    COMMANDS.get(i).map_or(info::UNKNOWN_LABEL, |c| c.name)
}

/// Longest command name in the table, with room to spare: a longer name is unknown without a lookup.
const LONGEST_NAME: usize = 24;

/// Resolves a command name case-insensitively to its row, or [`UNKNOWN`]: the name lower-cased on the
/// stack and looked up in a hash table built once (every command pays this, so not a scan of the table).
pub fn lookup(name: &[u8]) -> usize {
    static BY_NAME: std::sync::OnceLock<
        hashbrown::HashMap<&'static [u8], usize, ahash::RandomState>,
    > = std::sync::OnceLock::new();
    if name.len() > LONGEST_NAME {
        return UNKNOWN;
    }
    let mut lower = [0u8; LONGEST_NAME];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    let table = BY_NAME.get_or_init(|| {
        COMMANDS
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes(), i))
            .collect()
    });
    table.get(&*lower).copied().unwrap_or(UNKNOWN)
}

impl Spec {
    /// The keys among `args` (the name first) by the row's key positions, as Redis's
    /// `getKeysFromCommand` reads them; none for a command without keys.
    pub fn keys_of<'k>(&self, args: &'k [&'k [u8]]) -> impl Iterator<Item = &'k [u8]> + 'k {
        let (first, last, step) = self.keys;
        let argc = args.len() as i64;
        let last = if last < 0 {
            argc + i64::from(last)
        } else {
            i64::from(last)
        };
        let (first, last) = (i64::from(first), last.min(argc - 1));
        let step = usize::try_from(step).unwrap_or(1).max(1);
        let range = if first > 0 && first <= last {
            first as usize..last as usize + 1
        } else {
            0..0
        };
        args[range].iter().step_by(step).copied()
    }

    /// Whether `argc` (including the name) is acceptable for this command.
    pub fn arity_ok(&self, argc: usize) -> bool {
        if self.arity >= 0 {
            argc == self.arity as usize
        } else {
            argc >= self.arity.unsigned_abs() as usize
        }
    }
}

/// The reply to a wrong number of arguments, counted as `wrong_arity`.
pub fn wrong_arity(call: &mut Call<'_>, name: &str) -> Flow {
    call.resp.ctx.error("wrong_arity");
    pincore_resp::reply::error(
        call.out,
        format!("ERR wrong number of arguments for '{name}' command").as_bytes(),
    );
    Flow::Reply
}

/// The subcommand of a container command (OBJECT, CLIENT, CONFIG) from `table` (lower-case name, Redis's
/// arity counting the command and subcommand), or `None` after Redis's error for an unknown subcommand or
/// a wrong number of arguments.
pub fn subcommand(
    c: &mut Call<'_>,
    command: &str,
    table: &[(&'static str, i32)],
) -> Option<&'static str> {
    let given = c.args[1];
    let Some(&(name, arity)) = table
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(given))
    else {
        let text = format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            printable(given),
            command.to_ascii_uppercase()
        );
        pincore_resp::reply::error(c.out, text.as_bytes());
        return None;
    };
    let argc = c.args.len();
    let fits = if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    };
    if !fits {
        wrong_arity(c, &format!("{command}|{name}"));
        return None;
    }
    Some(name)
}

/// A HELP reply as Redis writes it: a header naming the command, the lines, and HELP itself.
pub fn help(out: &mut Vec<u8>, command: &str, lines: &[&str]) {
    use pincore_resp::reply;
    reply::array(out, lines.len() + 3);
    reply::simple(
        out,
        format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").as_bytes(),
    );
    for line in lines {
        reply::simple(out, line.as_bytes());
    }
    reply::simple(out, b"HELP");
    reply::simple(out, b"    Prints this help.");
}

/// At most 128 bytes of client input, lossily as text (CR/LF are made safe by the encoder).
pub fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(128)]).into_owned()
}

/// What a connection's user may do, checked before each of its commands (ACL users: `acl::User` is the
/// one implementation; the session knows it only by this, so the table does not depend on the ACL code).
pub trait Rules: Send + Sync {
    /// `Err` with Redis's `-NOPERM` text when the user may not run command `index` (`spec`, called
    /// `full_name`) with `args`.
    fn check(
        &self,
        index: usize,
        spec: &Spec,
        full_name: &str,
        args: &[&[u8]],
    ) -> Result<(), Vec<u8>>;
}

/// Remembers `keys` (of a command at table row `spec`) for a tracking connection, if the command reads
/// and the connection's mode and CLIENT CACHING say so (also for the commands EXEC ran, after it).
pub fn remember_keys(resp: &super::Resp, session: &Session, spec: &Spec, keys: &[&[u8]]) {
    let Some(tracking) = &session.tracking else {
        return;
    };
    if spec.flags & flag::READONLY != 0
        && spec.flags & flag::PUBSUB == 0
        && tracking.remembers(session.caching)
    {
        resp.pubsub
            .tracking
            .remember(session.id, keys.iter().copied(), resp.pubsub.limit());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(label(lookup(b"gEt")), "get");
        assert_eq!(lookup(b"nope"), UNKNOWN);
        assert_eq!(label(UNKNOWN), "unknown");
    }

    #[test]
    fn arity_follows_redis() {
        let get = &COMMANDS[lookup(b"get")];
        assert!(get.arity_ok(2) && !get.arity_ok(3));
        let mset = &COMMANDS[lookup(b"mset")];
        assert!(mset.arity_ok(5) && !mset.arity_ok(2));
    }

    #[test]
    fn keys_come_from_the_key_positions() {
        let keys = |args: &[&[u8]]| -> Vec<Vec<u8>> {
            COMMANDS[lookup(args[0])]
                .keys_of(args)
                .map(<[u8]>::to_vec)
                .collect()
        };
        assert_eq!(keys(&[b"get", b"k"]), [b"k"]);
        assert_eq!(keys(&[b"mset", b"a", b"1", b"b", b"2"]), [b"a", b"b"]);
        assert_eq!(keys(&[b"mset", b"a", b"1", b"b"]), [b"a", b"b"]);
        assert_eq!(keys(&[b"del", b"a", b"b", b"c"]), [b"a", b"b", b"c"]);
        assert_eq!(keys(&[b"rename", b"a", b"b"]), [b"a", b"b"]);
        assert!(keys(&[b"ping"]).is_empty());
        assert!(keys(&[b"dbsize"]).is_empty());
        assert!(keys(&[b"get"]).is_empty(), "too few arguments: no key");
    }

    #[test]
    fn rows_are_consistent() {
        for (i, c) in COMMANDS.iter().enumerate() {
            assert_eq!(lookup(c.name.as_bytes()), i, "{} is listed twice", c.name);
            assert!(
                c.name.len() <= LONGEST_NAME,
                "{} is longer than LONGEST_NAME",
                c.name
            );
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert_eq!(
                c.route == Route::Keys,
                c.keys.0 > 0,
                "{}: keys and route",
                c.name
            );
            assert!(
                c.flags & (WRITE | READONLY) != WRITE | READONLY,
                "{}: write and readonly",
                c.name
            );
            assert!(
                c.flags & DENYOOM == 0 || c.flags & WRITE != 0,
                "{}: only a write can grow memory",
                c.name
            );
        }
    }
}
