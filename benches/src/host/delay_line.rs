//! A delay line in user space, for kernels without `netem`: two packet sockets in a middle namespace, one on
//! each veth that leads to it, forward every frame from one side to the other after a fixed delay, through an
//! optional bottleneck (a rate and a buffer that drops what does not fit). TCP on either side sees a real
//! round trip, so a bandwidth-delay product of megabytes exists without any qdisc.
//!
//! Each direction is a model of a link: a frame first waits its turn at the bottleneck (its serialisation
//! time at the rate; dropped when the bytes waiting there exceed the buffer), then travels for the one-way
//! delay. One thread per direction reads and timestamps, one sends what is due, in order.
//!
//! The sockets pass the kernel's virtio-net header through (`PACKET_VNET_HDR`), so a 64 KB GSO packet
//! crosses the line as one frame with its segmentation and checksum offload intact: the line costs two
//! system calls per 64 KB, not per 1.5 KB segment, and needs no `ethtool` to turn offloads off.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::host::netns;

/// How the line treats each direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineSpec {
    /// Added to every frame, each way: the round trip grows by twice this.
    pub one_way: Duration,
    /// The bottleneck's rate in bits per second; `None`: only as fast as the line's threads go.
    pub bits_per_s: Option<f64>,
    /// Bytes that may wait at the bottleneck before frames are dropped.
    pub queue_bytes: u64,
}

/// What the line did, both directions together (`--json` fields).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineCounters {
    pub frames: u64,
    pub bytes: u64,
    /// Dropped because the bottleneck's buffer was full.
    pub queue_drops: u64,
    /// Dropped by the kernel before the line read them (its socket buffer was full: the line's threads did
    /// not keep up).
    pub socket_drops: u64,
}

/// A running delay line; dropping it stops and joins its threads and closes its sockets.
pub struct DelayLine {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    sockets: [Arc<PacketSocket>; 2],
    counters: Arc<Counters>,
}

impl DelayLine {
    /// Opens a packet socket on `devices[0]` and `devices[1]` inside namespace `ns` and forwards between
    /// them until dropped.
    pub fn start(ns: &str, devices: [&str; 2], spec: LineSpec) -> Result<DelayLine> {
        let open = |dev: &str| -> Result<Arc<PacketSocket>> {
            netns::within(ns, || PacketSocket::open(dev))?
                .map(Arc::new)
                .map_err(|e| BenchError::io(format!("opening a packet socket on {dev} in {ns}"), e))
        };
        let sockets = [open(devices[0])?, open(devices[1])?];
        let mut line = DelayLine {
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            sockets: sockets.clone(),
            counters: Arc::new(Counters::default()),
        };
        for (from, to) in [(0, 1), (1, 0)] {
            let link = Arc::new(Link::default());
            let (input, output) = (Arc::clone(&sockets[from]), Arc::clone(&sockets[to]));
            let (stop, counters) = (Arc::clone(&line.stop), Arc::clone(&line.counters));
            let reader = {
                let link = Arc::clone(&link);
                let stop = Arc::clone(&stop);
                move || read_into(&input, &link, spec, &counters, &stop)
            };
            let writer = move || send_when_due(&output, &link, &stop);
            for (role, body) in [
                ("read", Box::new(reader) as Box<dyn FnOnce() + Send>),
                ("send", Box::new(writer)),
            ] {
                let thread = std::thread::Builder::new()
                    .name(format!("delay-{role}-{}", devices[from]))
                    .spawn(body)
                    .map_err(|e| BenchError::io("starting the delay line's threads", e))?;
                line.threads.push(thread);
            }
        }
        Ok(line)
    }

    /// What went through so far.
    pub fn counters(&self) -> LineCounters {
        let c = &self.counters;
        LineCounters {
            frames: c.frames.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            queue_drops: c.queue_drops.load(Ordering::Relaxed),
            socket_drops: self.sockets.iter().map(|s| s.kernel_drops()).sum(),
        }
    }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[derive(Default)]
struct Counters {
    frames: AtomicU64,
    bytes: AtomicU64,
    queue_drops: AtomicU64,
}

/// One direction: frames with the instant they are due on the far side, in that order.
#[derive(Default)]
struct Link {
    frames: Mutex<VecDeque<(Instant, Vec<u8>)>>,
    arrived: Condvar,
}

/// How long a blocked thread waits before it looks at the stop flag again.
const POLL: Duration = Duration::from_millis(50);

/// Room for a 64 KB GSO frame, its Ethernet header and the virtio-net header.
const FRAME_BUF: usize = 70 * 1024;

/// Reads frames from `input` and queues each with the instant it is due: after the bottleneck's
/// serialisation time and the delay. The bottleneck's queue is the time its rate is booked ahead.
fn read_into(
    input: &PacketSocket,
    link: &Link,
    spec: LineSpec,
    counters: &Counters,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; FRAME_BUF];
    let mut bottleneck = Bottleneck::new(&spec, Instant::now());
    while !stop.load(Ordering::Relaxed) {
        let n = match input.recv(&mut buf) {
            Ok(n) => n,
            Err(_) => continue, // the receive timeout: look at the flag again
        };
        let Some(leaves) = bottleneck.admit(Instant::now(), n) else {
            counters.queue_drops.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        counters.frames.fetch_add(1, Ordering::Relaxed);
        counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let mut frames = link.frames.lock().unwrap_or_else(|p| p.into_inner());
        frames.push_back((leaves + spec.one_way, buf[..n].to_vec()));
        drop(frames);
        link.arrived.notify_one();
    }
}

/// A link's bottleneck: a rate at which frames leave and a buffer for those waiting their turn.
struct Bottleneck {
    bits_per_s: Option<f64>,
    queue_bytes: f64,
    /// When the bottleneck finishes sending what it has accepted so far.
    busy_until: Instant,
}

impl Bottleneck {
    fn new(spec: &LineSpec, now: Instant) -> Bottleneck {
        Bottleneck {
            bits_per_s: spec.bits_per_s,
            queue_bytes: spec.queue_bytes as f64,
            busy_until: now,
        }
    }

    /// When a frame of `len` bytes arriving at `now` has left the bottleneck, or `None` when the bytes
    /// already waiting and this frame do not fit in the buffer (the frame is dropped).
    fn admit(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let Some(rate) = self.bits_per_s else {
            return Some(now);
        };
        let start = self.busy_until.max(now);
        let waiting_bytes = (start - now).as_secs_f64() * rate / 8.0;
        if waiting_bytes + len as f64 > self.queue_bytes {
            return None;
        }
        self.busy_until = start + Duration::from_secs_f64(len as f64 * 8.0 / rate);
        Some(self.busy_until)
    }
}

/// Sends each queued frame on `output` when it is due.
fn send_when_due(output: &PacketSocket, link: &Link, stop: &AtomicBool) {
    let mut due_now = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut frames = link.frames.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match frames.front() {
            None => {
                let _ = link.arrived.wait_timeout(frames, POLL);
                continue;
            }
            Some(&(due, _)) if due > now => {
                // Frames arrive in due order, so nothing that comes in meanwhile is due earlier.
                drop(frames);
                std::thread::sleep((due - now).min(POLL));
                continue;
            }
            Some(_) => {}
        }
        while frames.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, frame)) = frames.pop_front() {
                due_now.push(frame);
            }
        }
        drop(frames);
        for frame in due_now.drain(..) {
            // A frame the far side refuses is lost, as on a wire.
            let _ = output.send(&frame);
        }
    }
}

/// An `AF_PACKET` socket bound to one device, with the virtio-net header on every frame.
struct PacketSocket {
    fd: OwnedFd,
    /// The kernel's drops summed over reads of its counter (each read resets it).
    drops: AtomicU64,
}

impl PacketSocket {
    /// Opens the socket in the calling thread's network namespace.
    fn open(device: &str) -> io::Result<PacketSocket> {
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2); the result is checked before it is owned.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, protocol as i32) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor this function just opened and owns alone.
        let socket = PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
            drops: AtomicU64::new(0),
        };
        socket.set(libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)?;
        // Frames this socket sends would otherwise come back to its own reader.
        socket.set(libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)?;
        // Room for a window's worth of 64 KB frames while the reader is descheduled (root may exceed rmem_max).
        socket.set(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 32 << 20)?;
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: POLL.as_micros() as libc::suseconds_t,
        };
        for option in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
            socket.set_raw(libc::SOL_SOCKET, option, &timeout)?;
        }
        let name = std::ffi::CString::new(device)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the device name"))?;
        // SAFETY: `name` is a valid NUL-terminated string.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if index == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value before the fields are set.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = protocol;
        address.sll_ifindex = index as i32;
        // SAFETY: `address` is a sockaddr_ll and the length says so.
        let bound = unsafe {
            libc::bind(
                socket.fd.as_raw_fd(),
                &address as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if bound < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(socket)
    }

    fn set(&self, level: i32, option: i32, value: libc::c_int) -> io::Result<()> {
        self.set_raw(level, option, &value)
    }

    fn set_raw<T>(&self, level: i32, option: i32, value: &T) -> io::Result<()> {
        // SAFETY: `value` points to a live T and the length is its size.
        let r = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                option,
                value as *const T as *const libc::c_void,
                std::mem::size_of::<T>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One frame with its virtio-net header; a frame larger than `buf` is an error (it is dropped).
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_TRUNC,
            )
        };
        match n {
            n if n < 0 => Err(io::Error::last_os_error()),
            n if n as usize > buf.len() => Err(io::Error::other("frame larger than the buffer")),
            n => Ok(n as usize),
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: `frame` is readable for its length.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Frames the kernel dropped because this socket's buffer was full.
    fn kernel_drops(&self) -> u64 {
        let mut stats = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `stats` is a tpacket_stats and `len` its size.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                &mut stats as *mut libc::tpacket_stats as *mut libc::c_void,
                &mut len,
            )
        };
        let since_last = if r < 0 { 0 } else { u64::from(stats.tp_drops) };
        self.drops.fetch_add(since_last, Ordering::Relaxed) + since_last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bottleneck(bits_per_s: Option<f64>, queue_bytes: u64, now: Instant) -> Bottleneck {
        let spec = LineSpec {
            one_way: Duration::from_millis(25),
            bits_per_s,
            queue_bytes,
        };
        Bottleneck::new(&spec, now)
    }

    #[test]
    fn frames_leave_at_the_rate_and_what_does_not_fit_is_dropped() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // 8 Mbit/s: a byte a microsecond, so 1000 bytes take a millisecond.
        let mut b = bottleneck(Some(8e6), 2500, t0);
        assert_eq!(b.admit(t0, 1000), Some(ms(1)));
        assert_eq!(b.admit(t0, 1000), Some(ms(2)), "waits behind the first");
        assert_eq!(b.admit(t0, 1000), None, "2000 waiting + 1000 > 2500");
        assert_eq!(b.admit(t0, 400), Some(ms(2) + Duration::from_micros(400)));
        // Once the queue has drained the bottleneck starts from the arrival, not from its past.
        assert_eq!(b.admit(ms(10), 1000), Some(ms(11)));
    }

    #[test]
    fn without_a_rate_every_frame_leaves_at_once() {
        let t0 = Instant::now();
        let mut b = bottleneck(None, 0, t0);
        for _ in 0..3 {
            assert_eq!(b.admit(t0, 65_000), Some(t0));
        }
    }
}
