//! What a running server and its successor say to each other over the handoff socket, and the listening
//! sockets that travel with it (`SCM_RIGHTS`).
//!
//! Every message is one frame: a 4-byte little-endian length and that many bytes of JSON. Descriptors ride
//! on a frame of their own ([`Message::Fds`]), at most [`FDS_PER_FRAME`] at a time (the kernel refuses more
//! than 253 in one message). Reads and writes are blocking with a timeout: both ends run them off the shard
//! threads.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use serde::{Deserialize, Serialize};

/// Descriptors sent in one frame.
pub const FDS_PER_FRAME: usize = 64;
/// The largest frame accepted: an offer of thousands of listeners fits many times over.
const MAX_FRAME: usize = 4 << 20;

/// Who connected to the handoff socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A new server that wants the listeners (`--upgrade-from`).
    Successor,
    /// Someone asking the server to start its successor and hand over (`pincore-server upgrade`).
    Trigger,
}

/// One listening socket on offer: which service and shard it belongs to, and its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offered {
    pub service: String,
    pub shard: usize,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "message", rename_all = "snake_case")]
pub enum Message {
    Hello {
        role: Role,
        pid: u32,
    },
    /// Old → successor: the listeners (their descriptors follow in [`Message::Fds`] frames, in this order),
    /// how long the old server may take to drain, and where services leave their state.
    Offer {
        shards: usize,
        listeners: Vec<Offered>,
        drain_ms: u64,
        state_dir: PathBuf,
    },
    Fds {
        count: usize,
    },
    /// Successor → old: every shard runs on the listeners; stop accepting, drain and hand over state.
    Ready,
    /// Successor → old: it will not take over (the reason says why); the old server keeps serving.
    Refused {
        reason: String,
    },
    /// Old → successor: drained; services' state is written (`failures` names each service that could not).
    Done {
        failures: Vec<String>,
    },
    /// Old → trigger: the successor serves, with this process id.
    Upgraded {
        pid: u32,
    },
    /// Old → trigger: the handoff did not happen and the old server keeps serving.
    RolledBack {
        reason: String,
    },
}

/// Writes one message.
pub fn send(stream: &mut UnixStream, message: &Message) -> std::io::Result<()> {
    let body = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    let mut frame = (body.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame)
}

/// Writes `fds` in [`Message::Fds`] frames.
pub fn send_fds(stream: &mut UnixStream, fds: &[RawFd]) -> std::io::Result<()> {
    for chunk in fds.chunks(FDS_PER_FRAME) {
        let body = serde_json::to_vec(&Message::Fds { count: chunk.len() })
            .map_err(std::io::Error::other)?;
        let mut frame = (body.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&body);
        let rights = [ControlMessage::ScmRights(chunk)];
        let sent = sendmsg::<()>(
            stream.as_raw_fd(),
            &[IoSlice::new(&frame)],
            &rights,
            MsgFlags::empty(),
            None,
        )?;
        // The descriptors went with the first byte; the rest of the frame, if the kernel took less, follows.
        stream.write_all(&frame[sent..])?;
    }
    Ok(())
}

/// Reads one message and any descriptors that came with it (owned, close-on-exec).
pub fn receive(stream: &mut UnixStream) -> std::io::Result<(Message, Vec<OwnedFd>)> {
    let mut header = [0u8; 4];
    let mut fds = Vec::new();
    let mut got = 0;
    while got < header.len() {
        let mut space = nix::cmsg_space!([RawFd; FDS_PER_FRAME]);
        let mut iov = [IoSliceMut::new(&mut header[got..])];
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        if msg.bytes == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += msg.bytes;
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(received) = cmsg {
                // SAFETY: the kernel just installed these descriptors in this process for us; nothing else
                // owns them.
                fds.extend(
                    received
                        .into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
    }
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "a handoff message of {len} bytes is over the {MAX_FRAME}-byte limit"
        )));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    let message = serde_json::from_slice(&body)
        .map_err(|e| std::io::Error::other(format!("a handoff message is not understood: {e}")))?;
    Ok((message, fds))
}

/// Reads `count` descriptors sent with [`send_fds`].
pub fn receive_fds(stream: &mut UnixStream, count: usize) -> std::io::Result<Vec<OwnedFd>> {
    let mut all = Vec::with_capacity(count);
    while all.len() < count {
        match receive(stream)? {
            (Message::Fds { count: n }, fds) if fds.len() == n && n > 0 => all.extend(fds),
            (Message::Fds { count: n }, fds) => {
                return Err(std::io::Error::other(format!(
                    "a handoff frame announced {n} listening sockets and carried {}",
                    fds.len()
                )))
            }
            (other, _) => {
                return Err(std::io::Error::other(format!(
                    "expected listening sockets, got {other:?}"
                )))
            }
        }
    }
    if all.len() != count {
        return Err(std::io::Error::other(format!(
            "expected {count} listening sockets, got {}",
            all.len()
        )));
    }
    Ok(all)
}

/// Whether an offer fits what this server is configured to run: the same number of shards and, for every
/// enabled service (`wanted`: name and `listen` address), one socket per shard on that address (port 0
/// takes whatever port the old server has). Anything else needs new listeners, so the successor refuses
/// with the first difference.
pub fn check_offer(
    offered: &[Offered],
    offered_shards: usize,
    wanted: &[(&str, SocketAddr)],
    shards: usize,
) -> Result<(), String> {
    if offered_shards != shards {
        return Err(format!(
            "the running server has {offered_shards} shards and this configuration gives {shards}; a change of the shard set needs a restart"
        ));
    }
    for (service, addr) in wanted {
        let theirs: Vec<&Offered> = offered.iter().filter(|o| o.service == *service).collect();
        let Some(first) = theirs.first() else {
            return Err(format!(
                "services.{service} is enabled here but the running server does not listen for it; enabling a service needs a restart"
            ));
        };
        let matches =
            first.addr.ip() == addr.ip() && (addr.port() == 0 || first.addr.port() == addr.port());
        if !matches {
            return Err(format!(
                "services.{service}.listen is {addr} here and {} in the running server; a changed address needs a restart",
                first.addr
            ));
        }
        let mut on: Vec<usize> = theirs.iter().map(|o| o.shard).collect();
        on.sort_unstable();
        if on != (0..shards).collect::<Vec<_>>() || theirs.iter().any(|o| o.addr != first.addr) {
            return Err(format!(
                "the running server's {service} listeners are not one per shard on one address"
            ));
        }
    }
    if let Some(extra) = offered
        .iter()
        .find(|o| !wanted.iter().any(|(name, _)| *name == o.service))
    {
        return Err(format!(
            "the running server listens for {} on {} and this configuration disables it; disabling a service needs a restart",
            extra.service, extra.addr
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(service: &str, addr: &str, shards: usize) -> Vec<Offered> {
        (0..shards)
            .map(|shard| Offered {
                service: service.to_string(),
                shard,
                addr: addr.parse().unwrap(),
            })
            .collect()
    }

    #[test]
    fn an_offer_on_the_configured_addresses_is_taken() {
        let mut offered = offer("resp", "127.0.0.1:6380", 2);
        offered.extend(offer("admin", "127.0.0.1:9180", 2));
        let wanted = [
            ("resp", "127.0.0.1:6380".parse().unwrap()),
            ("admin", "127.0.0.1:0".parse().unwrap()),
        ];
        assert_eq!(check_offer(&offered, 2, &wanted, 2), Ok(()));
    }

    #[test]
    fn a_changed_port_shard_count_or_service_set_is_refused_naming_it() {
        let offered = offer("resp", "127.0.0.1:6380", 2);
        let moved = [("resp", "127.0.0.1:6381".parse().unwrap())];
        let err = check_offer(&offered, 2, &moved, 2).unwrap_err();
        assert!(
            err.contains("services.resp.listen") && err.contains("6381"),
            "{err}"
        );
        let same = [("resp", "127.0.0.1:6380".parse().unwrap())];
        let err = check_offer(&offered, 2, &same, 3).unwrap_err();
        assert!(err.contains("2 shards") && err.contains("gives 3"), "{err}");
        let more = [
            ("resp", "127.0.0.1:6380".parse().unwrap()),
            ("echo", "127.0.0.1:7007".parse().unwrap()),
        ];
        let err = check_offer(&offered, 2, &more, 2).unwrap_err();
        assert!(err.contains("services.echo"), "{err}");
        let err = check_offer(&offered, 2, &[], 2).unwrap_err();
        assert!(err.contains("disables"), "{err}");
    }

    #[test]
    fn messages_and_descriptors_cross_a_socket_pair() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let sockets: Vec<std::net::TcpListener> = (0..FDS_PER_FRAME + 3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let raw: Vec<RawFd> = sockets.iter().map(AsRawFd::as_raw_fd).collect();
        let hello = Message::Hello {
            role: Role::Successor,
            pid: 7,
        };
        send(&mut a, &hello).unwrap();
        send_fds(&mut a, &raw).unwrap();
        assert_eq!(receive(&mut b).unwrap().0, hello);
        let fds = receive_fds(&mut b, raw.len()).unwrap();
        let ports: Vec<u16> = fds
            .into_iter()
            .map(|fd| std::net::TcpListener::from(fd).local_addr().unwrap().port())
            .collect();
        let expected: Vec<u16> = sockets
            .iter()
            .map(|s| s.local_addr().unwrap().port())
            .collect();
        assert_eq!(ports, expected);
        drop(a);
        assert_eq!(
            receive(&mut b).unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
    }
}
