//! Listening TCP sockets and their accept queues, like `ss -lnt`.
//!
//! Two sources. `/proc/net/tcp{,6}` shows, for a listener, the current accept-queue length in `rx_queue`
//! but not the backlog it was created with. The kernel's sock_diag netlink interface shows both
//! (`idiag_rqueue` = queued connections, `idiag_wqueue` = backlog after the somaxconn cap), so the live host
//! is read through netlink and recorded snapshots through the files.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use serde::Serialize;

use crate::Error;

/// A listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub local: SocketAddr,
    /// Connections completed by the kernel and waiting for `accept()`.
    pub queued: u32,
    /// The effective backlog (`min(listen() backlog, somaxconn)`); `None` when the source does not show it.
    pub backlog: Option<u32>,
}

impl Listener {
    /// The accept queue is full: the next completed handshake is dropped (ListenOverflows). The kernel
    /// admits one connection beyond the backlog (`sk_acceptq_is_full` is `queued > backlog`).
    pub fn is_full(&self) -> bool {
        self.backlog.is_some_and(|b| self.queued > b)
    }
}

/// Where listener data came from, which decides what can be seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListenerSource {
    /// sock_diag netlink: queue length and backlog.
    Netlink,
    /// `/proc/net/tcp{,6}`: queue length only.
    ProcNetTcp,
}

const TCP_LISTEN: u8 = 0x0A;

/// Parses `/proc/net/tcp` or `/proc/net/tcp6`, keeping listeners (state `0A`).
pub fn parse_proc_net_tcp(text: &str, path: &Path) -> Result<Vec<Listener>, Error> {
    let mut listeners = Vec::new();
    // The first line is the column header.
    for (no, line) in text
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |why: String| Error::Parse {
            path: path.to_path_buf(),
            line: no + 1,
            why,
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 {
            return Err(bad(format!(
                "expected at least 5 columns, found {}",
                fields.len()
            )));
        }
        let state = u8::from_str_radix(fields[3], 16)
            .map_err(|_| bad(format!("state {:?} is not hex", fields[3])))?;
        if state != TCP_LISTEN {
            continue;
        }
        let local = parse_hex_endpoint(fields[1])
            .ok_or_else(|| bad(format!("bad local address {:?}", fields[1])))?;
        let queued = fields[4]
            .split_once(':')
            .and_then(|(_, rx)| u32::from_str_radix(rx, 16).ok())
            .ok_or_else(|| bad(format!("bad tx_queue:rx_queue {:?}", fields[4])))?;
        listeners.push(Listener {
            local,
            queued,
            backlog: None,
        });
    }
    Ok(listeners)
}

/// `0100007F:1F90` (IPv4) or 32 hex digits `:PORT` (IPv6). The address is printed as the in-memory
/// network-order bytes read as host-order 32-bit words, hence `to_ne_bytes`.
fn parse_hex_endpoint(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    if addr.len() % 8 != 0 || !addr.is_ascii() {
        return None;
    }
    for word in addr.as_bytes().chunks(8) {
        let word = u32::from_str_radix(std::str::from_utf8(word).ok()?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes.as_slice()).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Dumps the listening TCP sockets (IPv4 and IPv6) of the calling thread's network namespace via sock_diag.
pub fn dump_netlink() -> std::io::Result<Vec<Listener>> {
    let socket = netlink::DiagSocket::open()?;
    let mut listeners = socket.dump_listeners(libc::AF_INET as u8)?;
    listeners.extend(socket.dump_listeners(libc::AF_INET6 as u8)?);
    Ok(listeners)
}

mod netlink {
    //! The smallest sock_diag client that answers "which TCP listeners, how full": one dump request per
    //! address family, replies decoded field by field from bytes (no struct casts, so no alignment traps).

    use std::io;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use super::Listener;

    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const NLMSG_HDR: usize = 16;
    /// `struct inet_diag_req_v2`: family, protocol, ext, pad, states, and a 48-byte `inet_diag_sockid`.
    const REQ_LEN: usize = 56;
    /// `struct inet_diag_msg`: 4 bytes, sockid (48), expires, rqueue, wqueue, uid, inode.
    const MSG_LEN: usize = 72;

    pub struct DiagSocket(OwnedFd);

    impl DiagSocket {
        pub fn open() -> io::Result<DiagSocket> {
            // SAFETY: socket(2) with constant arguments; the result is checked before use.
            let fd = unsafe {
                libc::socket(
                    libc::AF_NETLINK,
                    libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                    libc::NETLINK_SOCK_DIAG,
                )
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: fd is a freshly created descriptor that nothing else owns.
            Ok(DiagSocket(unsafe { OwnedFd::from_raw_fd(fd) }))
        }

        pub fn dump_listeners(&self, family: u8) -> io::Result<Vec<Listener>> {
            let mut req = Vec::with_capacity(NLMSG_HDR + REQ_LEN);
            req.extend_from_slice(&((NLMSG_HDR + REQ_LEN) as u32).to_ne_bytes());
            req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
            req.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
            req.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
            req.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
            req.extend_from_slice(&[family, libc::IPPROTO_TCP as u8, 0, 0]);
            req.extend_from_slice(&(1u32 << super::TCP_LISTEN).to_ne_bytes());
            req.resize(NLMSG_HDR + REQ_LEN, 0); // sockid: all zero = any
                                                // SAFETY: req is a valid buffer of req.len() bytes for the duration of the call.
            let sent = unsafe { libc::send(self.0.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
            if sent < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut listeners = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            // A dump ends with NLMSG_DONE; the bound only guards against a kernel that never sends it.
            for _ in 0..100_000 {
                // SAFETY: buf is a valid writable buffer of buf.len() bytes.
                let n = unsafe {
                    libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0)
                };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                let mut rest = &buf[..n as usize];
                while rest.len() >= NLMSG_HDR {
                    let len = u32_at(rest, 0) as usize;
                    let kind = u16::from_ne_bytes([rest[4], rest[5]]);
                    if len < NLMSG_HDR || len > rest.len() {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "truncated sock_diag reply",
                        ));
                    }
                    match kind {
                        NLMSG_DONE => return Ok(listeners),
                        NLMSG_ERROR => {
                            let errno = if len >= NLMSG_HDR + 4 {
                                -(u32_at(rest, NLMSG_HDR) as i32)
                            } else {
                                libc::EIO
                            };
                            return Err(io::Error::from_raw_os_error(errno));
                        }
                        SOCK_DIAG_BY_FAMILY if len >= NLMSG_HDR + MSG_LEN => {
                            listeners.push(decode(&rest[NLMSG_HDR..len]));
                        }
                        _ => {}
                    }
                    // Messages are padded to 4 bytes.
                    let step = (len + 3) & !3;
                    rest = &rest[step.min(rest.len())..];
                }
            }
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "sock_diag dump did not end",
            ))
        }
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// Decodes an `inet_diag_msg` (the caller checked it is at least MSG_LEN bytes).
    fn decode(msg: &[u8]) -> Listener {
        let family = msg[0];
        // sockid starts at 4: sport (be16), dport (be16), src[16], dst[16], if, cookie[2].
        let port = u16::from_be_bytes([msg[4], msg[5]]);
        let src = &msg[8..24];
        let ip = if family == libc::AF_INET6 as u8 {
            let mut a = [0u8; 16];
            a.copy_from_slice(src);
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3]))
        };
        Listener {
            local: SocketAddr::new(ip, port),
            queued: u32_at(msg, 56),
            backlog: Some(u32_at(msg, 60)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 12345 1 0 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 12346 1 0 20 4 30 10 -1\n";

    #[test]
    fn proc_net_tcp_keeps_listeners_with_their_queue() {
        let l = parse_proc_net_tcp(TCP, Path::new("tcp")).unwrap();
        assert_eq!(
            l,
            vec![Listener {
                local: "127.0.0.1:8080".parse().unwrap(),
                queued: 3,
                backlog: None
            }]
        );
    }

    #[test]
    fn proc_net_tcp6_addresses() {
        let text = "  sl  local_address                         remote_address                        st tx_queue rx_queue\n\
   0: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000\n";
        let l = parse_proc_net_tcp(text, Path::new("tcp6")).unwrap();
        assert_eq!(l[0].local, "[::1]:8081".parse().unwrap());
    }

    #[test]
    fn bad_lines_name_the_line() {
        let err =
            parse_proc_net_tcp("header\n 0: XYZ 0 0A 0:0\n", Path::new("/p/tcp")).unwrap_err();
        assert!(
            err.to_string().contains("/p/tcp") && err.to_string().contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn full_only_when_the_backlog_is_known() {
        let mut l = Listener {
            local: "127.0.0.1:1".parse().unwrap(),
            queued: 3,
            backlog: Some(2),
        };
        assert!(l.is_full());
        l.backlog = Some(3);
        assert!(!l.is_full());
        l.backlog = None;
        assert!(!l.is_full());
    }
}
