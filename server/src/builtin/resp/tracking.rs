//! Client-side caching (CLIENT TRACKING), as Redis 7.0 does it: the keys a tracking connection reads are
//! remembered, and a write of one of them, on any shard, sends that connection an invalidation (a RESP3
//! push `invalidate`, or a message on `__redis__:invalidate` to the connection it redirects to); in BCAST
//! mode every written key under one of its prefixes is sent, batched per command.
//!
//! One [`Tracking`] is shared by every shard (it lives in [`PubSub`], whose mailboxes carry the messages).
//! Its table (key → tracking connections) is bounded by `tracking-table-max-keys`: past it, keys are dropped
//! from the table and their connections told, as Redis does. Writes find out whether anybody tracks from
//! the keyspace-notification flags the part lock already loads ([`TRACKING`] is one bit there), so with
//! nobody tracking a write costs no extra atomic operation; the store then records the keys it changes and
//! the part's guard hands them here when it is released ([`super::keyspace::Part`]).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pincore_resp::reply::{self, Protocol};

use super::mailbox::Mailbox;

/// The bit of the keyspace-notification flags ([`super::pubsub::PubSub::raw_events`]) that says some
/// connection tracks keys.
pub const TRACKING: u32 = 1 << 31;

/// Redis's default `tracking-table-max-keys`.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

/// Keys dropped from a full table per call: the rest go on the next reads.
const EVICTIONS_PER_CALL: usize = 1_000;

/// A connection's CLIENT TRACKING options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The connection invalidations go to instead (0: this one).
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// BCAST prefixes (none given: the empty prefix, every key).
    pub prefixes: Vec<Vec<u8>>,
}

/// One tracking connection, as the shared state knows it.
struct Tracker {
    /// The connection's own mailbox: RESP3 invalidations, and `tracking-redir-broken`.
    own: Arc<Mailbox>,
    options: Options,
    /// The redirect connection is gone (CLIENT LIST flag `R`, TRACKINGINFO's `broken_redirect`).
    broken: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    trackers: HashMap<u64, Tracker>,
    /// Keys read by connections in the default mode, and who read them.
    keys: HashMap<Box<[u8]>, HashSet<u64>>,
    /// (key, connection) pairs in `keys`.
    items: usize,
    /// BCAST prefixes and their connections.
    prefixes: HashMap<Box<[u8]>, HashSet<u64>>,
    /// `tracking-table-max-keys` (0: unbounded, as in Redis).
    max_keys: usize,
    /// Every connection, by id, with its mailbox once it has one: REDIRECT's targets.
    connections: HashMap<u64, Option<Arc<Mailbox>>>,
}

/// The shared tracking state.
pub struct Tracking {
    state: Mutex<State>,
}

impl Default for Tracking {
    fn default() -> Tracking {
        Tracking {
            state: Mutex::new(State {
                max_keys: DEFAULT_MAX_KEYS,
                ..State::default()
            }),
        }
    }
}

thread_local! {
    /// The tracking connection whose command runs on this thread now (0: none), for NOLOOP.
    static WRITER: Cell<u64> = const { Cell::new(0) };
    /// Keys written on this thread that BCAST connections have not been told of yet, with their writer.
    static BROADCAST: RefCell<Vec<(Box<[u8]>, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `writer` as the connection whose writes NOLOOP leaves out.
pub fn as_writer<R>(writer: u64, f: impl FnOnce() -> R) -> R {
    let before = WRITER.with(|w| w.replace(writer));
    let result = f();
    WRITER.with(|w| w.set(before));
    result
}

/// INFO's figures: `tracking_total_keys`, `_items` (key and connection pairs), `_prefixes` and
/// `tracking_clients`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub keys: usize,
    pub items: usize,
    pub prefixes: usize,
    pub clients: usize,
}

/// What a change of tracking state tells the caller to do with the tracking bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// The first tracking connection: set [`TRACKING`].
    First,
    /// The last one left: clear it.
    Last,
    Unchanged,
}

impl Tracking {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change below leaves the maps whole: inserts and removals only.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A connection opened (REDIRECT may name it from now on).
    pub fn opened(&self, id: u64) {
        self.lock().connections.insert(id, None);
    }

    /// A connection has a mailbox now (it subscribed, ran MONITOR or tracks), or no longer has one
    /// (RESET).
    pub fn mailbox_of(&self, id: u64, mailbox: Option<&Arc<Mailbox>>) {
        if let Some(entry) = self.lock().connections.get_mut(&id) {
            *entry = mailbox.cloned();
        }
    }

    /// A connection closed.
    pub fn closed(&self, id: u64) {
        self.lock().connections.remove(&id);
    }

    /// Whether connection `id` is open.
    pub fn exists(&self, id: u64) -> bool {
        self.lock().connections.contains_key(&id)
    }

    pub fn set_max_keys(&self, max: usize, limit: usize) {
        let mut state = self.lock();
        state.max_keys = max;
        state.shrink(limit);
    }

    pub fn max_keys(&self) -> usize {
        self.lock().max_keys
    }

    /// What INFO reports.
    pub fn counts(&self) -> Counts {
        let state = self.lock();
        Counts {
            keys: state.keys.len(),
            items: state.items,
            prefixes: state.prefixes.len(),
            clients: state.trackers.len(),
        }
    }

    /// Turns tracking on for `id` with `options` (already checked), or changes its options: prefixes are
    /// added to those it has, as Redis adds them.
    pub fn enable(
        &self,
        id: u64,
        own: &Arc<Mailbox>,
        mut options: Options,
        broken: &Arc<AtomicBool>,
    ) -> Count {
        let mut state = self.lock();
        let first = state.trackers.is_empty();
        if options.bcast && options.prefixes.is_empty() {
            options.prefixes.push(Vec::new());
        }
        let mut prefixes = state
            .trackers
            .remove(&id)
            .map(|t| t.options.prefixes)
            .unwrap_or_default();
        for prefix in &options.prefixes {
            if !prefixes.contains(prefix) {
                prefixes.push(prefix.clone());
            }
            state
                .prefixes
                .entry(prefix.clone().into_boxed_slice())
                .or_default()
                .insert(id);
        }
        options.prefixes = prefixes;
        broken.store(false, Ordering::Relaxed);
        state.trackers.insert(
            id,
            Tracker {
                own: own.clone(),
                options,
                broken: broken.clone(),
            },
        );
        if first {
            Count::First
        } else {
            Count::Unchanged
        }
    }

    /// Turns tracking off for `id` (CLIENT TRACKING off, RESET, a closed connection). Its keys stay in the
    /// table until written, as in Redis, but nothing is sent for them.
    pub fn disable(&self, id: u64) -> Count {
        let mut state = self.lock();
        let Some(tracker) = state.trackers.remove(&id) else {
            return Count::Unchanged;
        };
        for prefix in &tracker.options.prefixes {
            if let Some(ids) = state.prefixes.get_mut(&prefix[..]) {
                ids.remove(&id);
                if ids.is_empty() {
                    state.prefixes.remove(&prefix[..]);
                }
            }
        }
        if state.trackers.is_empty() {
            Count::Last
        } else {
            Count::Unchanged
        }
    }

    /// The prefixes `id` broadcasts on, in order (TRACKINGINFO).
    pub fn prefixes(&self, id: u64) -> Vec<Vec<u8>> {
        let state = self.lock();
        let mut prefixes = state
            .trackers
            .get(&id)
            .map(|t| t.options.prefixes.clone())
            .unwrap_or_default();
        prefixes.sort();
        prefixes
    }

    /// Remembers that `id` read `keys` (after a read-only command in the default mode).
    pub fn remember<'k>(&self, id: u64, keys: impl Iterator<Item = &'k [u8]>, limit: usize) {
        let mut state = self.lock();
        for key in keys {
            let added = match state.keys.get_mut(key) {
                Some(ids) => ids.insert(id),
                None => {
                    state.keys.insert(key.into(), HashSet::from([id]));
                    true
                }
            };
            state.items += usize::from(added);
        }
        state.shrink(limit);
    }

    /// Keys changed (by the connection [`as_writer`] names, if any): each tracking connection that read one
    /// is told now; BCAST connections are told once the command is over ([`Tracking::broadcast`]).
    pub fn invalidate(&self, keys: Vec<Box<[u8]>>, limit: usize) {
        let writer = WRITER.with(Cell::get);
        let mut state = self.lock();
        if !state.prefixes.is_empty() {
            BROADCAST.with(|pending| {
                let mut pending = pending.borrow_mut();
                pending.extend(keys.iter().map(|k| (k.clone(), writer)));
            });
        }
        for key in keys {
            let Some(ids) = state.keys.remove(&key) else {
                continue;
            };
            state.items -= ids.len();
            for id in ids {
                let Some(tracker) = state.trackers.get(&id) else {
                    continue;
                };
                if tracker.options.bcast || (tracker.options.noloop && id == writer) {
                    continue;
                }
                state.send(id, Message::Keys(&[&key]), limit);
            }
        }
    }

    /// Sends the BCAST connections the keys written on this thread since the last call: one message per
    /// connection and prefix, as Redis batches them per event-loop turn.
    pub fn broadcast(&self, limit: usize) {
        let pending = BROADCAST.with(|pending| std::mem::take(&mut *pending.borrow_mut()));
        if pending.is_empty() {
            return;
        }
        let state = self.lock();
        let mut batches: Vec<(u64, Vec<&[u8]>)> = Vec::new();
        for (prefix, ids) in &state.prefixes {
            for &id in ids {
                let noloop = state.trackers.get(&id).is_some_and(|t| t.options.noloop);
                let mut keys: Vec<&[u8]> = pending
                    .iter()
                    .filter(|(key, writer)| key.starts_with(prefix) && !(noloop && *writer == id))
                    .map(|(key, _)| &key[..])
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                if !keys.is_empty() {
                    batches.push((id, keys));
                }
            }
        }
        for (id, keys) in batches {
            state.send(id, Message::Keys(&keys), limit);
        }
    }

    /// FLUSHALL and FLUSHDB: every tracking connection is told that everything changed (a null
    /// invalidation), and the table is emptied.
    pub fn flush(&self, limit: usize) {
        let mut state = self.lock();
        state.keys = HashMap::new();
        state.items = 0;
        let ids: Vec<u64> = state.trackers.keys().copied().collect();
        for id in ids {
            state.send(id, Message::Everything, limit);
        }
    }
}

/// A connection listed as a possible REDIRECT target while it is open.
pub struct Listed<'a> {
    tracking: &'a Tracking,
    id: u64,
}

impl<'a> Listed<'a> {
    pub fn new(tracking: &'a Tracking, id: u64) -> Listed<'a> {
        tracking.opened(id);
        Listed { tracking, id }
    }
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        self.tracking.closed(self.id);
    }
}

/// What an invalidation says.
#[derive(Clone, Copy)]
enum Message<'a> {
    Keys(&'a [&'a [u8]]),
    /// FLUSHALL: a null instead of the keys.
    Everything,
}

impl State {
    /// Drops keys from the table while it holds more than `max_keys`, telling their connections, at most
    /// [`EVICTIONS_PER_CALL`] per call.
    fn shrink(&mut self, limit: usize) {
        if self.max_keys == 0 || self.keys.len() <= self.max_keys {
            return;
        }
        let excess = (self.keys.len() - self.max_keys).min(EVICTIONS_PER_CALL);
        let dropped: Vec<Box<[u8]>> = self.keys.keys().take(excess).cloned().collect();
        for key in dropped {
            let ids = self.keys.remove(&key).unwrap_or_default();
            self.items -= ids.len();
            for id in ids {
                if self.trackers.get(&id).is_some_and(|t| !t.options.bcast) {
                    self.send(id, Message::Keys(&[&key]), limit);
                }
            }
        }
    }

    /// Sends one invalidation to tracking connection `id`, where its options say: its own mailbox in
    /// RESP3, or its redirect's (a push in RESP3, a `__redis__:invalidate` message to a subscribed RESP2
    /// connection). A redirect that is gone marks the tracker broken and, in RESP3, tells it so.
    fn send(&self, id: u64, message: Message<'_>, limit: usize) {
        let Some(tracker) = self.trackers.get(&id) else {
            return;
        };
        let own_resp3 = tracker.own.protocol() == Protocol::Resp3;
        if tracker.options.redirect == 0 {
            if own_resp3 {
                tracker
                    .own
                    .deliver_raw(&encode(message, true, Protocol::Resp3), limit);
            }
            return;
        }
        let redirect = tracker.options.redirect;
        match self.connections.get(&redirect) {
            None => {
                tracker.broken.store(true, Ordering::Relaxed);
                if own_resp3 {
                    let mut out = Vec::new();
                    reply::push(&mut out, Protocol::Resp3, 2);
                    reply::bulk(&mut out, b"tracking-redir-broken");
                    reply::integer(&mut out, redirect as i64);
                    tracker.own.deliver_raw(&out, limit);
                }
            }
            Some(Some(target)) if target.protocol() == Protocol::Resp3 => {
                target.deliver_raw(&encode(message, true, tracker.own.protocol()), limit);
            }
            Some(Some(target)) if target.subscribed() => {
                target.deliver_raw(&encode(message, false, tracker.own.protocol()), limit);
            }
            // A RESP2 connection that subscribes to nothing cannot be sent anything, as in Redis.
            Some(_) => {}
        }
    }
}

/// An invalidation as a RESP3 push (`invalidate` and the keys) or a RESP2 pub/sub message on
/// `__redis__:invalidate`; a flush's null is written in the tracking connection's `protocol`, as Redis
/// writes it.
fn encode(message: Message<'_>, push: bool, protocol: Protocol) -> Vec<u8> {
    let mut out = Vec::new();
    if push {
        reply::push(&mut out, Protocol::Resp3, 2);
        reply::bulk(&mut out, b"invalidate");
    } else {
        reply::push(&mut out, Protocol::Resp2, 3);
        reply::bulk(&mut out, b"message");
        reply::bulk(&mut out, b"__redis__:invalidate");
    }
    match message {
        Message::Keys(keys) => {
            reply::array(&mut out, keys.len());
            for key in keys {
                reply::bulk(&mut out, key);
            }
        }
        Message::Everything => reply::nil(&mut out, protocol),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(protocol: Protocol) -> Arc<Mailbox> {
        Arc::new(Mailbox::new(protocol))
    }

    fn taken(mailbox: &Mailbox) -> String {
        let mut out = Vec::new();
        mailbox.drain_into(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    const LIMIT: usize = 1 << 20;

    #[test]
    fn a_read_key_is_invalidated_once_and_noloop_skips_the_writer() {
        let tracking = Tracking::default();
        let own = mailbox(Protocol::Resp3);
        tracking.opened(1);
        let broken = Arc::new(AtomicBool::new(false));
        let options = Options {
            noloop: true,
            ..Options::default()
        };
        assert_eq!(tracking.enable(1, &own, options, &broken), Count::First);
        tracking.remember(1, [&b"a"[..], b"b"].into_iter(), LIMIT);
        tracking.invalidate(vec![b"a"[..].into(), b"c"[..].into()], LIMIT);
        assert_eq!(taken(&own), ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n");
        // Written again: no longer in the table.
        tracking.invalidate(vec![b"a"[..].into()], LIMIT);
        assert_eq!(taken(&own), "");
        as_writer(1, || tracking.invalidate(vec![b"b"[..].into()], LIMIT));
        assert_eq!(taken(&own), "");
        assert_eq!(tracking.disable(1), Count::Last);
    }

    #[test]
    fn redirects_go_to_a_subscribed_resp2_connection_or_break() {
        let tracking = Tracking::default();
        let (own, target) = (mailbox(Protocol::Resp3), mailbox(Protocol::Resp2));
        target.set_subscribed(true);
        tracking.opened(1);
        tracking.opened(2);
        tracking.mailbox_of(2, Some(&target));
        let broken = Arc::new(AtomicBool::new(false));
        let options = Options {
            redirect: 2,
            ..Options::default()
        };
        tracking.enable(1, &own, options, &broken);
        tracking.remember(1, [&b"k"[..]].into_iter(), LIMIT);
        tracking.invalidate(vec![b"k"[..].into()], LIMIT);
        assert_eq!(
            taken(&target),
            "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        tracking.closed(2);
        tracking.flush(LIMIT);
        assert!(broken.load(Ordering::Relaxed));
        assert_eq!(taken(&own), ">2\r\n$21\r\ntracking-redir-broken\r\n:2\r\n");
    }

    #[test]
    fn bcast_batches_per_prefix_and_the_table_is_bounded() {
        let tracking = Tracking::default();
        let own = mailbox(Protocol::Resp3);
        tracking.opened(1);
        let broken = Arc::new(AtomicBool::new(false));
        let options = Options {
            bcast: true,
            prefixes: vec![b"a:".to_vec(), b"b:".to_vec()],
            ..Options::default()
        };
        tracking.enable(1, &own, options, &broken);
        tracking.invalidate(
            vec![b"a:1"[..].into(), b"a:2"[..].into(), b"c:1"[..].into()],
            LIMIT,
        );
        tracking.broadcast(LIMIT);
        assert_eq!(
            taken(&own),
            ">2\r\n$10\r\ninvalidate\r\n*2\r\n$3\r\na:1\r\n$3\r\na:2\r\n"
        );
        tracking.disable(1);
        let other = mailbox(Protocol::Resp3);
        tracking.enable(2, &other, Options::default(), &broken);
        tracking.set_max_keys(2, LIMIT);
        tracking.remember(2, [&b"x"[..], b"y", b"z"].into_iter(), LIMIT);
        assert_eq!(tracking.counts().keys, 2);
        assert!(taken(&other).starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n"));
    }
}
