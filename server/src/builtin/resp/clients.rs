//! The connections a shard serves, as CLIENT LIST, CLIENT INFO and CLIENT KILL see them.
//!
//! Each connection registers a [`Client`] record in its shard's [`Clients`] when it starts and removes it
//! when it ends; the record is shard-local (`Rc`, `Cell`), updated by the connection as it runs (name, user,
//! last command, last activity) at the cost of a store each, with no lock and nothing shared between
//! shards. CLIENT LIST and CLIENT KILL run a job on every shard (`Context::on_every_shard`) that reads or
//! acts on that shard's records, so a command on one shard sees and closes connections on all of them.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Instant;

/// One connection.
pub struct Client {
    pub id: u64,
    /// The peer's and our end's addresses, read from the socket the first time they are wanted (so a
    /// connection that nobody lists costs no syscall for them).
    addresses: OnceCell<(Option<SocketAddr>, Option<SocketAddr>)>,
    /// The socket, to shut when the connection is killed (never closed from here: that is the connection's
    /// own task, so the descriptor cannot be reused under it).
    pub fd: RawFd,
    pub created: Instant,
    pub name: RefCell<Option<Vec<u8>>>,
    /// The user AUTH named; `None` is `default`.
    pub user: RefCell<Option<Vec<u8>>>,
    /// The last command's full name, as CLIENT LIST's `cmd=` shows it.
    pub last_command: Cell<&'static str>,
    pub last_active: Cell<Instant>,
    /// 2 or 3.
    pub protocol: Cell<u8>,
    /// CLIENT NO-EVICT (shown as flag `e`; connections are never evicted here).
    pub no_evict: Cell<bool>,
    /// The read buffer: bytes received and not yet consumed, and room left (`qbuf`, `qbuf-free`). Set
    /// when a read completes and again once its commands ran, so the commands of a read see their own
    /// bytes, as in Redis.
    pub query_buffer: Cell<(usize, usize)>,
    /// CLIENT KILL (SKIPME no) matched the connection that sent it: it closes once the replies of its
    /// current read are sent, as Redis closes after the reply.
    pub close_after_reply: Cell<bool>,
    /// CLIENT TRACKING on: what CLIENT LIST shows of it (flags `t`, `R`, `B` and `redir=`).
    pub tracking: RefCell<Option<Tracking>>,
}

/// A tracking connection as CLIENT LIST shows it.
pub struct Tracking {
    pub redirect: u64,
    pub bcast: bool,
    pub broken: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Client {
    pub fn new(id: u64, fd: RawFd) -> Client {
        let now = Instant::now();
        Client {
            id,
            addresses: OnceCell::new(),
            fd,
            created: now,
            name: RefCell::new(None),
            user: RefCell::new(None),
            last_command: Cell::new("NULL"),
            last_active: Cell::new(now),
            protocol: Cell::new(2),
            no_evict: Cell::new(false),
            query_buffer: Cell::new((0, 0)),
            close_after_reply: Cell::new(false),
            tracking: RefCell::new(None),
        }
    }

    /// The peer's address (CLIENT LIST's `addr`).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addresses().0
    }

    /// The local address the peer connected to (`laddr`).
    pub fn laddr(&self) -> Option<SocketAddr> {
        self.addresses().1
    }

    fn addresses(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        *self.addresses.get_or_init(|| {
            if self.fd < 0 {
                return (None, None);
            }
            // SAFETY: the descriptor is the connection's open socket for as long as this record is
            // registered (see `fd`); it is only borrowed for two getsockopt-like calls.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
            let socket = socket2::SockRef::from(&fd);
            let read = |a: std::io::Result<socket2::SockAddr>| a.ok().and_then(|a| a.as_socket());
            (read(socket.peer_addr()), read(socket.local_addr()))
        })
    }

    pub fn user_name(&self) -> Vec<u8> {
        self.user
            .borrow()
            .clone()
            .unwrap_or_else(|| b"default".to_vec())
    }

    /// The connection as one line of CLIENT LIST, in Redis 7.0's field order. Apart from the query
    /// buffer, the buffers, pub/sub and MULTI figures Redis keeps per client are not tracked here and show
    /// as 0 (or -1, Redis's "none").
    pub fn line(&self, now: Instant) -> String {
        let address = |a: Option<SocketAddr>| a.map_or_else(String::new, |a| a.to_string());
        let mut line = String::with_capacity(256);
        let _ = write!(
            line,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir={} resp={}",
            self.id,
            address(self.addr()),
            address(self.laddr()),
            self.fd,
            String::from_utf8_lossy(self.name.borrow().as_deref().unwrap_or_default()),
            now.saturating_duration_since(self.created).as_secs(),
            now.saturating_duration_since(self.last_active.get()).as_secs(),
            self.flags(),
            self.query_buffer.get().0,
            self.query_buffer.get().1,
            self.last_command.get(),
            String::from_utf8_lossy(&self.user_name()),
            self.tracking
                .borrow()
                .as_ref()
                .map_or(-1, |t| t.redirect as i64),
            self.protocol.get(),
        );
        line
    }

    /// CLIENT LIST's `flags`, in Redis's order: `t` tracking, `R` its redirect is gone, `B` broadcast,
    /// `e` no-evict; `N` for none.
    fn flags(&self) -> String {
        let mut flags = String::new();
        if let Some(tracking) = &*self.tracking.borrow() {
            flags.push('t');
            if tracking.broken.load(std::sync::atomic::Ordering::Relaxed) {
                flags.push('R');
            }
            if tracking.bcast {
                flags.push('B');
            }
        }
        if self.no_evict.get() {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        flags
    }
}

/// Which connections CLIENT KILL closes: every given filter must match (Redis's new form), or the address
/// alone (its old form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KillFilter {
    pub id: Option<u64>,
    pub addr: Option<Vec<u8>>,
    pub laddr: Option<Vec<u8>>,
    pub user: Option<Vec<u8>>,
    /// TYPE: only `normal` matches anything (there are no replicas or pub/sub clients).
    pub normal_only: Option<bool>,
    /// The connection asking, and whether it is spared (SKIPME yes, the default of the new form).
    pub asking: u64,
    pub skip_me: bool,
}

impl KillFilter {
    pub fn matches(&self, client: &Client) -> bool {
        let address = |a: Option<SocketAddr>| a.map(|a| a.to_string().into_bytes());
        self.id.is_none_or(|id| id == client.id)
            && self
                .addr
                .as_ref()
                .is_none_or(|a| Some(a) == address(client.addr()).as_ref())
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| Some(a) == address(client.laddr()).as_ref())
            && self.user.as_ref().is_none_or(|u| *u == client.user_name())
            && self.normal_only != Some(false)
            && !(self.skip_me && client.id == self.asking)
    }
}

/// The connections of one shard.
#[derive(Default)]
pub struct Clients {
    open: RefCell<HashMap<u64, Rc<Client>>>,
}

impl Clients {
    /// Registers `client` until the returned guard is dropped.
    pub fn register(&self, client: Rc<Client>) -> Registration<'_> {
        let id = client.id;
        self.open.borrow_mut().insert(id, client);
        Registration { clients: self, id }
    }

    /// CLIENT LIST lines of this shard's connections (only those in `ids`, when given), by id.
    pub fn lines(&self, ids: Option<&[u64]>, now: Instant) -> Vec<(u64, String)> {
        self.open
            .borrow()
            .values()
            .filter(|c| ids.is_none_or(|ids| ids.contains(&c.id)))
            .map(|c| (c.id, c.line(now)))
            .collect()
    }

    /// Shuts every connection `filter` matches, and returns how many. The asking connection (SKIPME no)
    /// is only marked: it still gets this command's reply, then closes before it reads again (shutting its
    /// read side would not do: Linux still returns data that arrives after `SHUT_RD`).
    pub fn kill(&self, filter: &KillFilter) -> usize {
        let open = self.open.borrow();
        let mut killed = 0;
        for client in open.values().filter(|c| filter.matches(c)) {
            if client.id == filter.asking {
                client.close_after_reply.set(true);
            } else {
                // SAFETY: shutdown(2) on a descriptor the connection's task still owns (it closes it only
                // after unregistering, on this same thread), changing no memory.
                unsafe {
                    libc::shutdown(client.fd, libc::SHUT_RDWR);
                }
            }
            killed += 1;
        }
        killed
    }
}

/// Removes a connection from its shard's [`Clients`] however the connection ends.
pub struct Registration<'a> {
    clients: &'a Clients,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.clients.open.borrow_mut().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: u64, port: u16, user: Option<&str>) -> Client {
        let c = Client::new(id, -1);
        let _ = c.addresses.set((
            Some(([127, 0, 0, 1], port).into()),
            Some(([127, 0, 0, 1], 6380).into()),
        ));
        *c.user.borrow_mut() = user.map(|u| u.as_bytes().to_vec());
        c
    }

    #[test]
    fn filters_match_as_client_kill_reads_them() {
        let (a, b) = (client(1, 5000, None), client(2, 5001, Some("app")));
        let all = KillFilter::default();
        assert!(all.matches(&a) && all.matches(&b));
        let by_addr = KillFilter {
            addr: Some(b"127.0.0.1:5001".to_vec()),
            ..KillFilter::default()
        };
        assert!(!by_addr.matches(&a) && by_addr.matches(&b));
        let by_user = KillFilter {
            user: Some(b"default".to_vec()),
            laddr: Some(b"127.0.0.1:6380".to_vec()),
            ..KillFilter::default()
        };
        assert!(by_user.matches(&a) && !by_user.matches(&b));
        let skip_me = KillFilter {
            asking: 1,
            skip_me: true,
            ..KillFilter::default()
        };
        assert!(!skip_me.matches(&a) && skip_me.matches(&b));
        let replicas = KillFilter {
            normal_only: Some(false),
            ..KillFilter::default()
        };
        assert!(!replicas.matches(&a));
    }

    #[test]
    fn a_line_has_redis_fields_in_order() {
        let c = client(7, 5000, None);
        *c.name.borrow_mut() = Some(b"worker".to_vec());
        c.last_command.set("client|list");
        let line = c.line(Instant::now());
        assert!(
            line.starts_with("id=7 addr=127.0.0.1:5000 laddr=127.0.0.1:6380 fd=-1 name=worker age=0 idle=0 flags=N db=0 "),
            "{line}"
        );
        assert!(
            line.ends_with("cmd=client|list user=default redir=-1 resp=2"),
            "{line}"
        );
    }
}
