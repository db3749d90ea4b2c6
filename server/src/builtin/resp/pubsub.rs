//! Publish/subscribe across shards: one registry every shard shares, and one mailbox per subscribed
//! connection.
//!
//! The registry maps each channel, and each pattern, to the mailboxes of the connections subscribed to it,
//! behind one `RwLock`: PUBLISH takes it shared, (un)subscribing exclusively. A publisher, on whatever shard,
//! encodes the message once and appends it to each receiver's mailbox itself, under that mailbox's own mutex,
//! then wakes the receiving connection's task (glommio queues a wake-up from another thread to that task's
//! shard, and writes its eventfd only if the shard sleeps). So a PUBLISH never waits on another shard and
//! costs no cross-shard message at all when nobody subscribes; its count of receivers is read from the
//! registry as it delivers. Messages from one publisher reach every mailbox in the order they were published
//! (each PUBLISH has appended everywhere before it replies).
//!
//! A mailbox is bounded: once what it holds plus what its connection has taken but not yet written would
//! pass `services.resp.settings.pubsub_max_pending_bytes`, it drops its messages, takes no more and wakes its
//! connection, which closes (Redis's `client-output-buffer-limit pubsub`, hard limit). The publisher never
//! blocks on a slow subscriber.
//!
//! MONITOR connections get a mailbox the same way, registered in a list of their own: every command run on
//! any shard is appended to each as one line (see [`super::monitor`]), bounded, closed and counted as a slow
//! subscriber is. With no monitor, a command pays one relaxed atomic load for them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use pincore_resp::reply::{self, Protocol};

use super::glob;
pub use super::mailbox::{Mailbox, Overflowed};
use super::tracking::{Count, Options, Tracking, TRACKING};

/// The default of `services.resp.settings.pubsub_max_pending_bytes`: Redis's hard pub/sub limit.
pub const DEFAULT_MAX_PENDING: usize = 32 * 1024 * 1024;

/// Redis's event classes, as the flag letters of `notify-keyspace-events` name them.
pub mod class {
    pub const KEYSPACE: u32 = 1 << 0; // K
    pub const KEYEVENT: u32 = 1 << 1; // E
    pub const GENERIC: u32 = 1 << 2; // g
    pub const STRING: u32 = 1 << 3; // $
    pub const LIST: u32 = 1 << 4; // l
    pub const SET: u32 = 1 << 5; // s
    pub const HASH: u32 = 1 << 6; // h
    pub const ZSET: u32 = 1 << 7; // z
    pub const EXPIRED: u32 = 1 << 8; // x
    pub const EVICTED: u32 = 1 << 9; // e
    pub const STREAM: u32 = 1 << 10; // t
    pub const KEY_MISS: u32 = 1 << 11; // m
    pub const MODULE: u32 = 1 << 12; // d
    pub const NEW: u32 = 1 << 13; // n
    /// `A`: every class but `m` and `n`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// The registry of subscriptions, shared by every shard.
pub struct PubSub {
    registry: RwLock<Registry>,
    /// `services.resp.settings.pubsub_max_pending_bytes`, changed live by SIGHUP.
    limit: AtomicUsize,
    /// The mailboxes of MONITOR connections.
    monitors: RwLock<Vec<Arc<Mailbox>>>,
    /// How many there are, read without the lock on every command.
    monitoring: AtomicUsize,
    /// `notify-keyspace-events`: the enabled classes (see [`super::notify`]), 0 when off; and
    /// [`super::tracking::TRACKING`] while some connection tracks keys.
    events: AtomicU32,
    /// Client-side caching: who tracks which keys (see [`super::tracking`]).
    pub tracking: Tracking,
}

#[derive(Default)]
struct Registry {
    channels: HashMap<Box<[u8]>, Vec<Arc<Mailbox>>>,
    patterns: HashMap<Box<[u8]>, Vec<Arc<Mailbox>>>,
}

/// Whether a subscription is to a channel or to a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
}

impl Default for PubSub {
    fn default() -> PubSub {
        PubSub {
            registry: RwLock::default(),
            limit: AtomicUsize::new(DEFAULT_MAX_PENDING),
            monitors: RwLock::default(),
            monitoring: AtomicUsize::new(0),
            events: AtomicU32::new(0),
            tracking: Tracking::default(),
        }
    }
}

impl PubSub {
    /// Sets the bound of each subscriber's pending messages, in bytes.
    pub fn set_limit(&self, bytes: usize) {
        self.limit.store(bytes, Ordering::Relaxed);
    }

    /// Delivers `message` on `channel` to every subscriber of the channel and of each matching pattern, and
    /// returns how many deliveries that was (Redis's PUBLISH reply: a connection subscribed to the channel and
    /// to two matching patterns counts three times).
    pub fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        let registry = self.read();
        let limit = self.limit.load(Ordering::Relaxed);
        let mut receivers = 0;
        let mut encoded = Vec::new();
        if let Some(mailboxes) = registry.channels.get(channel) {
            reply::push(&mut encoded, Protocol::Resp2, 3);
            reply::bulk(&mut encoded, b"message");
            reply::bulk(&mut encoded, channel);
            reply::bulk(&mut encoded, message);
            for mailbox in mailboxes {
                mailbox.deliver(&encoded, limit, true);
            }
            receivers += mailboxes.len();
        }
        for (pattern, mailboxes) in &registry.patterns {
            if !glob::matches(pattern, channel, false) {
                continue;
            }
            encoded.clear();
            reply::push(&mut encoded, Protocol::Resp2, 4);
            reply::bulk(&mut encoded, b"pmessage");
            reply::bulk(&mut encoded, pattern);
            reply::bulk(&mut encoded, channel);
            reply::bulk(&mut encoded, message);
            for mailbox in mailboxes {
                mailbox.deliver(&encoded, limit, true);
            }
            receivers += mailboxes.len();
        }
        receivers
    }

    /// The keyspace notification classes enabled (`notify-keyspace-events`), 0 when off.
    #[inline]
    pub fn events(&self) -> u32 {
        self.events.load(Ordering::Relaxed) & !TRACKING
    }

    /// The notification classes and the [`TRACKING`] bit, in one relaxed load: what a part lock and the end
    /// of a command read to learn whether they have anything to do.
    #[inline]
    pub fn raw_events(&self) -> u32 {
        self.events.load(Ordering::Relaxed)
    }

    pub fn set_events(&self, flags: u32) {
        let _ = self
            .events
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some((old & TRACKING) | (flags & !TRACKING))
            });
    }

    /// Sets or clears the [`TRACKING`] bit as a change of tracking state says.
    pub fn tracking_changed(&self, count: Count) {
        match count {
            Count::First => self.events.fetch_or(TRACKING, Ordering::Relaxed),
            Count::Last => self.events.fetch_and(!TRACKING, Ordering::Relaxed),
            Count::Unchanged => return,
        };
    }

    /// The bound of each subscriber's pending messages, in bytes (invalidations are bounded by it too).
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// One key's keyspace notification (see [`super::notify`]): on `__keyspace@0__:key` and
    /// `__keyevent@0__:event`, as `flags` (the enabled classes) allow for an event of `class`.
    pub fn notify_key(&self, flags: u32, class: u32, event: &str, key: &[u8]) {
        if flags & class == 0 {
            return;
        }
        if flags & class::KEYSPACE != 0 {
            let channel = [&b"__keyspace@0__:"[..], key].concat();
            self.publish(&channel, event.as_bytes());
        }
        if flags & class::KEYEVENT != 0 {
            let channel = format!("__keyevent@0__:{event}");
            self.publish(channel.as_bytes(), key);
        }
    }

    /// Whether any connection runs MONITOR: one relaxed load, so that commands pay nothing more when none
    /// does.
    #[inline]
    pub fn monitored(&self) -> bool {
        self.monitoring.load(Ordering::Relaxed) > 0
    }

    /// Appends `line` (one encoded reply) to every MONITOR connection's mailbox.
    pub fn feed_monitors(&self, line: &[u8]) {
        let limit = self.limit.load(Ordering::Relaxed);
        let monitors = self
            .monitors
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for mailbox in monitors.iter() {
            mailbox.deliver(line, limit, false);
        }
    }

    fn monitors(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Mailbox>>> {
        self.monitors
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add_monitor(&self, mailbox: &Arc<Mailbox>) {
        let mut monitors = self.monitors();
        monitors.push(mailbox.clone());
        self.monitoring.store(monitors.len(), Ordering::Relaxed);
    }

    fn remove_monitor(&self, mailbox: &Arc<Mailbox>) {
        let mut monitors = self.monitors();
        monitors.retain(|m| !Arc::ptr_eq(m, mailbox));
        self.monitoring.store(monitors.len(), Ordering::Relaxed);
    }

    /// The channels with at least one subscriber, those matching `pattern` if one is given (PUBSUB CHANNELS).
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let registry = self.read();
        registry
            .channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob::matches(p, c, false)))
            .map(|c| c.to_vec())
            .collect()
    }

    /// How many connections subscribe to `channel` (PUBSUB NUMSUB; patterns do not count).
    pub fn subscribers(&self, channel: &[u8]) -> usize {
        self.read().channels.get(channel).map_or(0, Vec::len)
    }

    /// How many distinct patterns have subscribers (PUBSUB NUMPAT).
    pub fn patterns(&self) -> usize {
        self.read().patterns.len()
    }

    /// Channels and patterns with subscribers (INFO's `pubsub_channels` and `pubsub_patterns`).
    pub fn counts(&self) -> (usize, usize) {
        let registry = self.read();
        (registry.channels.len(), registry.patterns.len())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        // A panic cannot leave the maps half-changed: every change is one insert or one removal.
        self.registry
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self, kind: Kind, name: &[u8], mailbox: &Arc<Mailbox>) {
        let mut registry = self.write();
        let map = registry.map(kind);
        match map.get_mut(name) {
            Some(mailboxes) => mailboxes.push(mailbox.clone()),
            None => {
                map.insert(name.into(), vec![mailbox.clone()]);
            }
        }
    }

    fn remove(&self, kind: Kind, names: &[&[u8]], mailbox: &Arc<Mailbox>) {
        if names.is_empty() {
            return;
        }
        let mut registry = self.write();
        let map = registry.map(kind);
        for name in names {
            let Some(mailboxes) = map.get_mut(*name) else {
                continue;
            };
            mailboxes.retain(|m| !Arc::ptr_eq(m, mailbox));
            if mailboxes.is_empty() {
                map.remove(*name);
            }
        }
    }
}

impl Registry {
    fn map(&mut self, kind: Kind) -> &mut HashMap<Box<[u8]>, Vec<Arc<Mailbox>>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
        }
    }
}

/// One connection's subscriptions; dropping it (the connection closed) removes them from the registry.
pub struct Subscriptions {
    pubsub: Arc<PubSub>,
    mailbox: Arc<Mailbox>,
    channels: HashSet<Box<[u8]>>,
    patterns: HashSet<Box<[u8]>>,
    /// The connection runs MONITOR.
    monitoring: bool,
}

impl Subscriptions {
    pub fn new(pubsub: Arc<PubSub>, protocol: Protocol) -> Subscriptions {
        Subscriptions {
            pubsub,
            mailbox: Arc::new(Mailbox::new(protocol)),
            channels: HashSet::new(),
            patterns: HashSet::new(),
            monitoring: false,
        }
    }

    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }

    /// Channels and patterns subscribed to: the count Redis reports in every (un)subscribe confirmation.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    fn set(&mut self, kind: Kind) -> &mut HashSet<Box<[u8]>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
        }
    }

    /// MONITOR: every command run from now on arrives in the mailbox (nothing changes if it already does).
    pub fn monitor(&mut self) {
        if !self.monitoring {
            self.monitoring = true;
            self.pubsub.add_monitor(&self.mailbox);
        }
    }

    /// Whether the connection runs MONITOR.
    pub fn monitoring(&self) -> bool {
        self.monitoring
    }

    /// Subscribes to a channel or pattern (nothing changes if it already is).
    pub fn subscribe(&mut self, kind: Kind, name: &[u8]) {
        if self.set(kind).insert(name.into()) {
            self.pubsub.add(kind, name, &self.mailbox);
            self.mailbox.set_subscribed(true);
        }
    }

    /// Unsubscribes from a channel or pattern (nothing changes if it is not subscribed).
    pub fn unsubscribe(&mut self, kind: Kind, name: &[u8]) {
        if self.set(kind).remove(name) {
            self.pubsub.remove(kind, &[name], &self.mailbox);
            self.mailbox.set_subscribed(self.count() > 0);
        }
    }

    /// The channels or patterns subscribed to, in no particular order (as Redis lists them).
    pub fn names(&self, kind: Kind) -> Vec<Box<[u8]>> {
        match kind {
            Kind::Channel => self.channels.iter().cloned().collect(),
            Kind::Pattern => self.patterns.iter().cloned().collect(),
        }
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        for kind in [Kind::Channel, Kind::Pattern] {
            let names = std::mem::take(self.set(kind));
            let names: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
            self.pubsub.remove(kind, &names, &self.mailbox);
        }
        if self.monitoring {
            self.pubsub.remove_monitor(&self.mailbox);
        }
    }
}

/// A connection's own side of tracking: its options, read on every command without a lock; dropping it
/// (tracking off, RESET, the connection closed) turns tracking off in the shared state.
pub struct Tracked {
    pubsub: Arc<PubSub>,
    id: u64,
    pub options: Options,
    /// The redirect connection is gone: shared with the shared state, which finds out.
    pub broken: Arc<AtomicBool>,
}

impl Tracked {
    /// Turns tracking on (or changes it) for connection `id`, whose mailbox `own` is.
    pub fn enable(
        pubsub: &Arc<PubSub>,
        id: u64,
        own: &Arc<Mailbox>,
        options: Options,
        broken: Arc<AtomicBool>,
    ) -> Tracked {
        let count = pubsub.tracking.enable(id, own, options.clone(), &broken);
        pubsub.tracking_changed(count);
        Tracked {
            pubsub: pubsub.clone(),
            id,
            options,
            broken,
        }
    }

    /// Whether a read-only command's keys are remembered now, given CLIENT CACHING's answer for it.
    pub fn remembers(&self, caching: bool) -> bool {
        let optin_allows = !self.options.optin || caching;
        let optout_allows = !self.options.optout || !caching;
        !self.options.bcast && optin_allows && optout_allows
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let count = self.pubsub.tracking.disable(self.id);
        self.pubsub.tracking_changed(count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(mailbox: &Mailbox) -> Vec<u8> {
        let mut out = Vec::new();
        mailbox.drain_into(&mut out).expect("not overflowed");
        out
    }

    #[test]
    fn publish_reaches_channel_and_pattern_subscribers_and_counts_them() {
        let pubsub = Arc::new(PubSub::default());
        let mut a = Subscriptions::new(pubsub.clone(), Protocol::Resp2);
        let mut b = Subscriptions::new(pubsub.clone(), Protocol::Resp3);
        a.subscribe(Kind::Channel, b"news");
        b.subscribe(Kind::Channel, b"news");
        b.subscribe(Kind::Pattern, b"n*");
        assert_eq!(pubsub.publish(b"news", b"hi"), 3);
        assert_eq!(
            taken(a.mailbox()),
            b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            taken(b.mailbox()),
            b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n>4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        assert_eq!(pubsub.subscribers(b"news"), 2);
        assert_eq!(pubsub.patterns(), 1);
        assert_eq!(pubsub.channels(Some(b"x*")), Vec::<Vec<u8>>::new());
        assert_eq!(pubsub.publish(b"other", b"hi"), 0);
    }

    #[test]
    fn dropping_a_connections_subscriptions_unregisters_them() {
        let pubsub = Arc::new(PubSub::default());
        let mut a = Subscriptions::new(pubsub.clone(), Protocol::Resp2);
        a.subscribe(Kind::Channel, b"c1");
        a.subscribe(Kind::Channel, b"c2");
        a.subscribe(Kind::Pattern, b"c*");
        a.unsubscribe(Kind::Channel, b"c1");
        assert_eq!(a.count(), 2);
        drop(a);
        assert_eq!(pubsub.subscribers(b"c2"), 0);
        assert_eq!(pubsub.patterns(), 0);
        assert!(pubsub.channels(None).is_empty());
        assert_eq!(pubsub.publish(b"c2", b"x"), 0);
    }

    #[test]
    fn a_mailbox_is_bounded_by_what_its_connection_has_not_written() {
        let pubsub = Arc::new(PubSub::default());
        pubsub.set_limit(100);
        let mut a = Subscriptions::new(pubsub.clone(), Protocol::Resp2);
        a.subscribe(Kind::Channel, b"c");
        let mut out = Vec::new();
        // Written messages no longer count.
        for _ in 0..10 {
            pubsub.publish(b"c", &[b'x'; 40]);
            a.mailbox().drain_into(&mut out).unwrap();
            a.mailbox().written();
        }
        // Taken but not written still counts.
        pubsub.publish(b"c", &[b'x'; 40]);
        a.mailbox().drain_into(&mut out).unwrap();
        pubsub.publish(b"c", &[b'x'; 40]);
        assert_eq!(a.mailbox().drain_into(&mut out), Err(Overflowed));
        // The publisher still counts the receiver, as Redis does.
        assert_eq!(pubsub.publish(b"c", b"y"), 1);
    }
}
