//! What the two ends of a handoff keep: the running server its handoff socket and a copy of every listener,
//! the successor its connection to the running server until it has taken over.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::wire::Offered;
use crate::listener::ShardSockets;

/// What a server that can hand over keeps: its handoff socket's path and a second descriptor of every
/// listening socket (the shards' own ones close when they stop accepting).
pub struct Held {
    pub socket: PathBuf,
    /// The CPUs this process could run on when it started: its successor gets them back (it is started
    /// from a shard thread, pinned to one CPU).
    pub allowed: Vec<usize>,
    pub listeners: Vec<Offered>,
    pub fds: Mutex<Vec<OwnedFd>>,
}

impl Held {
    /// Keeps a copy of every socket in `sockets` (by shard) for a later handoff through `socket`.
    pub fn new(
        socket: PathBuf,
        allowed: Vec<usize>,
        sockets: &[ShardSockets],
    ) -> std::io::Result<Held> {
        let mut listeners = Vec::new();
        let mut fds = Vec::new();
        for (shard, own) in sockets.iter().enumerate() {
            for (_, service, fd, addr) in &own.sockets {
                listeners.push(Offered {
                    service: service.to_string(),
                    shard,
                    addr: *addr,
                });
                fds.push(fd.try_clone()?);
            }
        }
        Ok(Held {
            socket,
            allowed,
            listeners,
            fds: Mutex::new(fds),
        })
    }
}

/// What a successor keeps of its predecessor until it takes over.
pub struct Predecessor {
    pub(super) stream: Mutex<Option<UnixStream>>,
    pub(super) drain: Duration,
    pub(super) state_dir: PathBuf,
}
