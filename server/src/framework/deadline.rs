//! A connection's read deadline kept by one background timer instead of a timer armed around every read.
//!
//! The connection moves the deadline with a plain store before each read and parks it while it processes a
//! batch; a watchdog task sleeps until the deadline, and only if it has really passed shuts the socket's read
//! side, so the pending read ends with end-of-input and the connection sees [`ReadDeadline::expired`]. Moving
//! the deadline later costs nothing (the watchdog finds it moved when it wakes); only moving it earlier than the
//! watchdog's wake-up (a request deadline shorter than the idle one) re-arms its timer. A busy pipelined
//! connection thus costs no timer per read, only a watchdog wake-up per deadline period.

use std::cell::Cell;
use std::future::Future;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use glommio::Task;

/// Far enough that a parked deadline never fires while a batch is processed (writes are bounded by their own
/// timeout).
const PARKED: Duration = Duration::from_secs(24 * 3600);

struct State {
    at: Cell<Instant>,
    /// When the watchdog's timer fires.
    wakes_at: Cell<Instant>,
    /// Set (and `waker` woken) when the deadline moved before `wakes_at`.
    rearm: Cell<bool>,
    waker: Cell<Option<Waker>>,
    expired: Cell<bool>,
    fd: RawFd,
}

/// Resolves when the deadline moved earlier than the watchdog's timer.
struct Rearm<'a>(&'a State);

impl Future for Rearm<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.rearm.replace(false) {
            return Poll::Ready(());
        }
        self.0.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// The deadline of one connection's reads; dropping it stops its watchdog.
pub struct ReadDeadline {
    state: Rc<State>,
    _watchdog: Task<()>,
}

impl ReadDeadline {
    /// Starts the watchdog for the socket `fd`, which must stay open while this value lives, with a first
    /// deadline `at`.
    pub fn new(fd: RawFd, at: Instant) -> ReadDeadline {
        let state = Rc::new(State {
            at: Cell::new(at),
            wakes_at: Cell::new(at),
            rearm: Cell::new(false),
            waker: Cell::new(None),
            expired: Cell::new(false),
            fd,
        });
        let watched = state.clone();
        let watchdog = glommio::spawn_local(async move {
            loop {
                let now = Instant::now();
                let at = watched.at.get();
                if at <= now {
                    break;
                }
                watched.wakes_at.set(at);
                futures_lite::future::or(glommio::timer::sleep(at - now), Rearm(&watched)).await;
            }
            watched.expired.set(true);
            // SAFETY: the connection owns the descriptor and outlives this task (dropping the deadline cancels
            // it before the stream closes); shutdown(2) neither closes nor invalidates it.
            unsafe { libc::shutdown(watched.fd, libc::SHUT_RD) };
        });
        ReadDeadline {
            state,
            _watchdog: watchdog,
        }
    }

    /// The next read must complete by `at`.
    pub fn set(&self, at: Instant) {
        self.state.at.set(at);
        if at < self.state.wakes_at.get() {
            self.state.rearm.set(true);
            if let Some(waker) = self.state.waker.take() {
                waker.wake();
            }
        }
    }

    /// No deadline until the next [`ReadDeadline::set`] (while a batch is processed).
    pub fn park(&self, now: Instant) {
        self.state.at.set(now + PARKED);
    }

    /// The deadline passed and the read side was shut.
    pub fn expired(&self) -> bool {
        self.state.expired.get()
    }
}
