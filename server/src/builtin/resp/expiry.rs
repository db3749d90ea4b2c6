//! When keys expire, in the words of Redis 7.0's commands: the TTL options of SET and GETEX, the NX/XX/GT/LT
//! options of the EXPIRE family, and deadlines as Unix milliseconds (EXPIREAT, EXPIRETIME) converted to and
//! from the [`Instant`]s the store keeps.
//!
//! Redis keeps a deadline as Unix milliseconds; the store keeps a monotonic `Instant`, so a TTL survives a
//! wall-clock step. A [`Clock`] reads both clocks together, so a Unix time given to EXPIREAT comes back
//! unchanged from EXPIRETIME.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::store::{parse_i64, SetCondition};

pub const NOT_AN_INTEGER: &[u8] = b"ERR value is not an integer or out of range";
pub const SYNTAX: &[u8] = b"ERR syntax error";

/// Redis's `addReplyErrorExpireTime`, naming the command as the table does (`set`, `getex`, `pexpireat`).
pub fn invalid_expire_time(command: &str) -> Vec<u8> {
    format!("ERR invalid expire time in '{command}' command").into_bytes()
}

/// The monotonic and the wall clock read at one instant: on first use, so a command that needs no time
/// (SET without a TTL option, the commonest write) reads no clock at all.
#[derive(Debug, Default)]
pub struct Clock {
    pair: std::cell::OnceCell<(Instant, i128)>,
}

impl Clock {
    /// A clock for one command; both clocks are read together when it is first asked.
    pub fn now() -> Clock {
        Clock::default()
    }

    /// (the monotonic reading, Unix nanoseconds), read together.
    fn pair(&self) -> (Instant, i128) {
        *self.pair.get_or_init(|| {
            let instant = Instant::now();
            let unix_ns = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128);
            (instant, unix_ns)
        })
    }

    /// The monotonic reading.
    pub fn instant(&self) -> Instant {
        self.pair().0
    }

    /// Now in Unix milliseconds (Redis's `mstime()`).
    pub fn unix_ms(&self) -> i64 {
        (self.pair().1 / 1_000_000) as i64
    }

    /// The instant of Unix time `ms`; a time already past is now (an expired deadline).
    pub fn instant_at(&self, ms: i64) -> Instant {
        let (instant, unix_ns) = self.pair();
        let ahead = i128::from(ms) * 1_000_000 - unix_ns;
        if ahead <= 0 {
            return instant;
        }
        let secs = u64::try_from(ahead / 1_000_000_000).unwrap_or(u64::MAX);
        let ahead = Duration::new(secs, (ahead % 1_000_000_000) as u32);
        // Past what Instant holds (hundreds of billions of years) is as good as never: the furthest it can.
        instant
            .checked_add(ahead)
            .unwrap_or(instant + Duration::from_secs(u32::MAX.into()))
    }

    /// The Unix time in milliseconds of `at`, rounded to the nearest.
    pub fn unix_ms_of(&self, at: Instant) -> i64 {
        let (instant, unix_ns) = self.pair();
        let ns = match at.checked_duration_since(instant) {
            Some(ahead) => unix_ns + ahead.as_nanos() as i128,
            None => unix_ns - instant.duration_since(at).as_nanos() as i128,
        };
        i64::try_from((ns + 500_000).div_euclid(1_000_000)).unwrap_or(i64::MAX)
    }
}

/// A TTL option of SET or GETEX, its argument still unparsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl<'a> {
    /// None given: SET drops the TTL, GETEX leaves it.
    None,
    /// SET ... KEEPTTL.
    Keep,
    /// GETEX ... PERSIST.
    Persist,
    /// EX / PX: from now, in units of `unit_ms`.
    In { n: &'a [u8], unit_ms: i64 },
    /// EXAT / PXAT: a Unix time in units of `unit_ms`.
    At { n: &'a [u8], unit_ms: i64 },
}

/// The options of SET (`set`) or GETEX (not `set`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StringOptions<'a> {
    pub condition: SetCondition,
    pub get: bool,
    pub ttl: Ttl<'a>,
}

/// Reads SET's or GETEX's options as Redis 7.0's `parseExtendedStringArgumentsOrReply` does: an option may
/// repeat (the last value wins), NX with XX or two kinds of TTL are a syntax error, and NX, XX, GET and
/// KEEPTTL belong to SET, PERSIST to GETEX.
pub fn string_options<'a>(
    options: &[&'a [u8]],
    set: bool,
) -> Result<StringOptions<'a>, &'static [u8]> {
    let mut parsed = StringOptions {
        condition: SetCondition::Always,
        get: false,
        ttl: Ttl::None,
    };
    let mut i = 0;
    while i < options.len() {
        let is = |name: &[u8]| options[i].eq_ignore_ascii_case(name);
        let next = options.get(i + 1).copied();
        let timed = |at: bool, unit_ms: i64, n: &'a [u8]| {
            if at {
                Ttl::At { n, unit_ms }
            } else {
                Ttl::In { n, unit_ms }
            }
        };
        let mut ttl = None;
        if set && is(b"NX") && parsed.condition != SetCondition::IfPresent {
            parsed.condition = SetCondition::IfAbsent;
        } else if set && is(b"XX") && parsed.condition != SetCondition::IfAbsent {
            parsed.condition = SetCondition::IfPresent;
        } else if set && is(b"GET") {
            parsed.get = true;
        } else if set && is(b"KEEPTTL") {
            ttl = Some(Ttl::Keep);
        } else if !set && is(b"PERSIST") {
            ttl = Some(Ttl::Persist);
        } else if let (Some(n), Some((at, unit_ms))) = (next, timed_option(options[i])) {
            ttl = Some(timed(at, unit_ms, n));
            i += 1;
        } else {
            return Err(SYNTAX);
        }
        if let Some(ttl) = ttl {
            if !same_kind(parsed.ttl, ttl) {
                return Err(SYNTAX);
            }
            parsed.ttl = ttl;
        }
        i += 1;
    }
    Ok(parsed)
}

/// EX, PX, EXAT, PXAT: (absolute, unit in ms).
fn timed_option(option: &[u8]) -> Option<(bool, i64)> {
    [
        (&b"EX"[..], false, 1000),
        (b"PX", false, 1),
        (b"EXAT", true, 1000),
        (b"PXAT", true, 1),
    ]
    .into_iter()
    .find(|(name, _, _)| option.eq_ignore_ascii_case(name))
    .map(|(_, at, unit)| (at, unit))
}

/// Whether `next` may follow `before`: no TTL yet, or the same option again.
fn same_kind(before: Ttl<'_>, next: Ttl<'_>) -> bool {
    match (before, next) {
        (Ttl::None, _) | (Ttl::Keep, Ttl::Keep) | (Ttl::Persist, Ttl::Persist) => true,
        (Ttl::In { unit_ms: a, .. }, Ttl::In { unit_ms: b, .. })
        | (Ttl::At { unit_ms: a, .. }, Ttl::At { unit_ms: b, .. }) => a == b,
        _ => false,
    }
}

/// The deadline of an EX/PX/EXAT/PXAT argument as Redis 7.0's `getExpireMillisecondsOrReply` judges it:
/// an integer above 0, whose Unix time in milliseconds fits an i64. `None` for the other options.
pub fn string_deadline(
    ttl: Ttl<'_>,
    clock: &Clock,
    command: &str,
) -> Result<Option<Instant>, Vec<u8>> {
    let (n, unit_ms, from) = match ttl {
        Ttl::In { n, unit_ms } => (n, unit_ms, clock.unix_ms()),
        Ttl::At { n, unit_ms } => (n, unit_ms, 0),
        Ttl::None | Ttl::Keep | Ttl::Persist => return Ok(None),
    };
    let n = parse_i64(n).ok_or(NOT_AN_INTEGER)?;
    let ms = n
        .checked_mul(unit_ms)
        .and_then(|ms| ms.checked_add(from))
        .filter(|_| n > 0)
        .ok_or_else(|| invalid_expire_time(command))?;
    Ok(Some(clock.instant_at(ms)))
}

/// EXPIRE's NX, XX, GT and LT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpireCondition {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCondition {
    /// Reads the options after the time as Redis 7.0's `parseExtendedExpireArgumentsOrReply` does.
    pub fn parse(options: &[&[u8]]) -> Result<ExpireCondition, Vec<u8>> {
        let mut c = ExpireCondition::default();
        for option in options {
            let flag = match option.to_ascii_uppercase().as_slice() {
                b"NX" => &mut c.nx,
                b"XX" => &mut c.xx,
                b"GT" => &mut c.gt,
                b"LT" => &mut c.lt,
                _ => {
                    let text = String::from_utf8_lossy(option);
                    return Err(format!("ERR Unsupported option {text}").into_bytes());
                }
            };
            *flag = true;
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(
                b"ERR NX and XX, GT or LT options at the same time are not compatible".to_vec(),
            );
        }
        if c.gt && c.lt {
            return Err(b"ERR GT and LT options at the same time are not compatible".to_vec());
        }
        Ok(c)
    }

    /// Whether a key whose deadline is `current` (Unix ms, `None` for no TTL) takes the deadline `when`.
    /// No TTL counts as an infinite one: GT never beats it, LT always does.
    pub fn allows(&self, current: Option<i64>, when: i64) -> bool {
        !(self.nx && current.is_some()
            || self.xx && current.is_none()
            || self.gt && current.is_none_or(|c| when <= c)
            || self.lt && current.is_some_and(|c| when >= c))
    }
}

/// The Unix time in milliseconds of EXPIRE's (`relative`) or EXPIREAT's time argument `n` in units of
/// `unit_ms`, as Redis 7.0's `expireGenericCommand` judges it: negative times are allowed (the key is
/// deleted), an overflow of the conversion or the addition is not.
pub fn expire_when(
    n: &[u8],
    unit_ms: i64,
    relative: bool,
    clock: &Clock,
    command: &str,
) -> Result<i64, Vec<u8>> {
    let n = parse_i64(n).ok_or(NOT_AN_INTEGER)?;
    let base = if relative { clock.unix_ms() } else { 0 };
    n.checked_mul(unit_ms)
        .filter(|ms| *ms <= i64::MAX - base)
        .map(|ms| ms + base)
        .ok_or_else(|| invalid_expire_time(command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unix_time_comes_back_unchanged() {
        let clock = Clock::now();
        for ms in [
            clock.unix_ms() + 1,
            clock.unix_ms() + 86_400_000,
            9_000_000_000_000,
        ] {
            let later = Clock::now();
            assert_eq!(later.unix_ms_of(clock.instant_at(ms)), ms);
        }
        assert_eq!(clock.instant_at(0), clock.instant(), "the past is now");
    }

    #[test]
    fn options_combine_as_in_redis() {
        let opts = |o: &[&'static [u8]], set| string_options(o, set);
        assert!(opts(&[b"EX", b"1", b"EX", b"2"], true).is_ok());
        assert_eq!(opts(&[b"EX", b"1", b"PX", b"2"], true), Err(SYNTAX));
        assert_eq!(opts(&[b"EXAT", b"1", b"EX", b"2"], true), Err(SYNTAX));
        assert_eq!(opts(&[b"PERSIST"], true), Err(SYNTAX));
        assert_eq!(opts(&[b"KEEPTTL"], false), Err(SYNTAX));
        assert_eq!(opts(&[b"PERSIST", b"EX", b"1"], false), Err(SYNTAX));
        assert_eq!(opts(&[b"EX"], false), Err(SYNTAX));
        assert_eq!(
            ExpireCondition::parse(&[b"nx", b"xx"]).unwrap_err(),
            b"ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        let gt = ExpireCondition::parse(&[b"GT"]).unwrap();
        assert!(!gt.allows(None, 5) && gt.allows(Some(4), 5) && !gt.allows(Some(5), 5));
        let lt = ExpireCondition::parse(&[b"LT"]).unwrap();
        assert!(lt.allows(None, 5) && !lt.allows(Some(5), 5));
    }
}
