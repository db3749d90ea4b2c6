//! Redis's eviction policies ([`Policy`]) and the access record LRU and LFU judge keys by ([`Access`]).
//!
//! When a write finds the keyspace over `maxmemory`, the keyspace picks a part at random and that part's
//! store evicts the key the policy wants gone most among a few sampled ones (see
//! [`super::keyspace::Keyspace::make_room`] and [`super::store::Store::evict`]), as Redis does with
//! `maxmemory-samples`: approximate, but each eviction costs a handful of comparisons.

use std::sync::LazyLock;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// The access clock counts from here (its 24 bits wrap after 194 days, as Redis's LRU clock does).
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// The clock the access records keep: seconds since the epoch, in 24 bits. Computed from the `now` every
/// command already has, so touching a key on a read costs a subtraction and a 4-byte store, no syscall.
pub(super) fn clock(now: Instant) -> u32 {
    (now.saturating_duration_since(*EPOCH).as_secs() & u64::from(CLOCK_MASK)) as u32
}

const CLOCK_MASK: u32 = (1 << 24) - 1;

/// A key's access record: the clock at its last access (low 24 bits) and an LFU counter (high 8 bits), as
/// Redis keeps them in its object header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Access(pub(super) u32);

/// The counter a new key starts with (Redis's `LFU_INIT_VAL`), so it is not evicted before it had a chance
/// to be read.
const LFU_INIT: u8 = 5;
/// Redis's `lfu-log-factor` default: about a million accesses take the counter to 255.
const LFU_LOG_FACTOR: u32 = 10;
/// Redis's `lfu-decay-time` default: the counter loses one per minute without access.
const LFU_DECAY_SECONDS: u32 = 60;

impl Access {
    pub(super) fn new(now: Instant) -> Access {
        Access(clock(now) | u32::from(LFU_INIT) << 24)
    }

    /// Seconds since the last access (modulo the clock's 24 bits, as Redis's `estimateObjectIdleTime`).
    pub(super) fn idle(self, now: Instant) -> u32 {
        clock(now).wrapping_sub(self.0) & CLOCK_MASK
    }

    /// The LFU counter, less one for every decay period without access.
    pub(super) fn frequency(self, now: Instant) -> u8 {
        let periods = self.idle(now) / LFU_DECAY_SECONDS;
        ((self.0 >> 24) as u8).saturating_sub(periods.min(255) as u8)
    }

    /// The record RESTORE gives a key: idle for `idle` seconds (at most what the 24-bit clock holds), or
    /// with the LFU counter `frequency`; each part not given stays as it is.
    pub(super) fn restored(self, now: Instant, idle: Option<u64>, frequency: Option<u8>) -> Access {
        let counter = frequency.unwrap_or((self.0 >> 24) as u8);
        let at = match idle {
            Some(seconds) => {
                clock(now).wrapping_sub(seconds.min(u64::from(CLOCK_MASK)) as u32) & CLOCK_MASK
            }
            None => clock(now),
        };
        Access(at | u32::from(counter) << 24)
    }

    /// The record after an access at `now`; `random` is a uniform u32 for the counter's logarithmic
    /// increment (Redis's `LFULogIncr`: the higher the counter, the less likely it grows).
    pub(super) fn touched(self, now: Instant, random: u32) -> Access {
        let mut counter = self.frequency(now);
        if counter < 255 {
            let base = u32::from(counter.saturating_sub(LFU_INIT));
            // Grows with probability 1 / (base * factor + 1).
            if u64::from(random) * u64::from(base * LFU_LOG_FACTOR + 1) < 1 << 32 {
                counter += 1;
            }
        }
        Access(clock(now) | u32::from(counter) << 24)
    }
}

/// Redis's eviction policies: what to do when a write finds the keyspace over `maxmemory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Policy {
    /// Refuse the write with `-OOM`.
    #[default]
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    /// Every policy, in Redis's order.
    pub const ALL: [Policy; 8] = [
        Policy::NoEviction,
        Policy::AllKeysLru,
        Policy::AllKeysLfu,
        Policy::AllKeysRandom,
        Policy::VolatileLru,
        Policy::VolatileLfu,
        Policy::VolatileRandom,
        Policy::VolatileTtl,
    ];

    /// Redis's name (`maxmemory-policy`).
    pub fn name(self) -> &'static str {
        match self {
            Policy::NoEviction => "noeviction",
            Policy::AllKeysLru => "allkeys-lru",
            Policy::AllKeysLfu => "allkeys-lfu",
            Policy::AllKeysRandom => "allkeys-random",
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
        }
    }

    /// LRU and LFU judge each key's own access record (Redis then stops sharing small integers between keys).
    pub fn tracks_access(self) -> bool {
        matches!(
            self,
            Policy::AllKeysLru | Policy::AllKeysLfu | Policy::VolatileLru | Policy::VolatileLfu
        )
    }

    /// Only keys with a time to live may be evicted.
    pub fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    /// How much the policy wants a key gone (higher first), from its access record and deadline
    /// (nanoseconds since the store's epoch); an expired key (`expired`) goes before any other.
    pub(super) fn score(
        self,
        access: Access,
        deadline: Option<u64>,
        expired: bool,
        now: Instant,
    ) -> u64 {
        if expired {
            return u64::MAX;
        }
        match self {
            Policy::NoEviction | Policy::AllKeysRandom | Policy::VolatileRandom => 0,
            Policy::AllKeysLru | Policy::VolatileLru => u64::from(access.idle(now)),
            // Least frequent first; among equals, the longest idle.
            Policy::AllKeysLfu | Policy::VolatileLfu => {
                u64::from(255 - access.frequency(now)) << 32 | u64::from(access.idle(now))
            }
            // Soonest deadline first.
            Policy::VolatileTtl => u64::MAX - 1 - deadline.unwrap_or(u64::MAX - 1),
        }
    }
}

impl TryFrom<String> for Policy {
    type Error = String;
    fn try_from(name: String) -> Result<Policy, String> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Policy::ALL.iter().map(|p| p.name()).collect();
                // Named by its key: serde reports where the settings are, not which of their keys failed.
                format!(
                    "eviction_policy: {name:?} is not an eviction policy; use one of {}",
                    names.join(", ")
                )
            })
    }
}

impl From<Policy> for String {
    fn from(policy: Policy) -> String {
        policy.name().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lfu_counters_grow_logarithmically_and_decay_by_the_minute() {
        let now = Instant::now();
        let mut access = Access::new(now);
        assert_eq!(access.frequency(now), LFU_INIT);
        // A draw of 0 always increments; the largest draw only while the counter is at its initial value.
        access = access.touched(now, 0);
        assert_eq!(access.frequency(now), LFU_INIT + 1);
        assert_eq!(access.touched(now, u32::MAX).frequency(now), LFU_INIT + 1);
        let idle = now + Duration::from_secs(3 * 60 + 5);
        // Whole seconds of a clock that started at some fraction of a second.
        assert!((184..=185).contains(&access.idle(idle)));
        assert_eq!(access.frequency(idle), LFU_INIT + 1 - 3);
        // Below the initial value every access counts, as in Redis.
        let touched = access.touched(idle, u32::MAX);
        assert_eq!(
            (touched.frequency(idle), touched.idle(idle)),
            (LFU_INIT - 1, 0)
        );
    }

    #[test]
    fn lru_idle_time_wraps_with_the_clock() {
        let now = Instant::now();
        let access = Access(CLOCK_MASK);
        assert_eq!(access.idle(now), clock(now).wrapping_add(1) & CLOCK_MASK);
    }

    #[test]
    fn policies_are_named_as_redis_names_them() {
        for policy in Policy::ALL {
            assert_eq!(Policy::try_from(policy.name().to_string()), Ok(policy));
        }
        let e = Policy::try_from("lru".to_string()).unwrap_err();
        assert!(
            e.starts_with("eviction_policy: \"lru\" is not an eviction policy")
                && e.contains("volatile-ttl"),
            "{e}"
        );
        assert!(Policy::VolatileTtl.volatile() && !Policy::AllKeysLru.volatile());
    }
}
