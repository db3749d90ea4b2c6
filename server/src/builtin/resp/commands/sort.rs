//! SORT and SORT_RO, as Redis 7.0's `sort.c`: a list, set or sorted set sorted by its elements (as numbers,
//! or as bytes with ALPHA) or by the keys a BY pattern names (`weight_*`, or a hash field: `wobj_*->weight`),
//! LIMIT offset count, GET patterns (`#` for the element itself) and STORE into a list.
//!
//! The keys a BY or GET pattern names are known only once the elements are read, and may lie in any part of
//! the keyspace: such a SORT holds every part, taken in ascending order as FLUSHALL takes them, so it is atomic
//! and cannot deadlock with any other command; EXEC holds every part for a queued one ([`reaches_every_key`]).
//! Without patterns it holds the parts of its key and of its STORE destination only. Everything is read through
//! shared borrows of the held parts, changing nothing (no access counted, no expired key deleted), until the
//! STORE result replaces its destination.
//!
//! Bounds: the reply stops at `limits.max_reply_bytes` like every listing reply, and a STORE result larger than
//! that is refused before anything is written; the sort itself holds one entry per element of a collection that
//! is already in memory.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::time::Instant;

use pincore_resp::reply::{self, Protocol};

use super::collections::ReplyBound;
use super::{Call, Flow};
use crate::builtin::resp::expiry::{NOT_AN_INTEGER, SYNTAX};
use crate::builtin::resp::keyspace::{KeyParts, Parts, PARTS};
use crate::builtin::resp::store::{parse_i64, Store};
use crate::builtin::resp::types::list::End;
use crate::builtin::resp::types::{Hash, Kind, List, Set, WrongType, ZSet};

const NOT_A_DOUBLE: &[u8] = b"ERR One or more scores can't be converted into double";
const TOO_LARGE: &[u8] =
    b"ERR SORT STORE result larger than limits.max_reply_bytes; nothing was stored";

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE destination]
pub fn sort(c: &mut Call<'_>) -> Flow {
    run(c, false)
}

/// SORT_RO: SORT without STORE.
pub fn sort_ro(c: &mut Call<'_>) -> Flow {
    run(c, true)
}

/// Whether a queued SORT or SORT_RO (`args` with the name first) may read keys anywhere in the keyspace, so
/// that EXEC must hold every part for it.
pub fn reaches_every_key(name: &str, args: &[&[u8]]) -> bool {
    matches!(name, "sort" | "sort_ro")
        && Options::parse(&args[2.min(args.len())..], name == "sort_ro")
            .is_ok_and(|o| o.reaches_other_keys())
}

/// The STORE destination of a queued SORT: EXEC must hold its part too.
pub fn store_destination<'a>(name: &str, args: &[&'a [u8]]) -> Option<&'a [u8]> {
    if name != "sort" || args.len() < 2 {
        return None;
    }
    Options::parse(&args[2..], false).ok()?.store
}

/// A SORT's options, parsed before any key is read.
#[derive(Debug, Default, PartialEq)]
struct Options<'a> {
    desc: bool,
    alpha: bool,
    /// LIMIT offset count, as given.
    limit: Option<(i64, i64)>,
    by: Option<&'a [u8]>,
    gets: Vec<&'a [u8]>,
    store: Option<&'a [u8]>,
}

impl<'a> Options<'a> {
    /// The options after the key, as Redis's `sortCommandGeneric` reads them: a word it does not know, or
    /// one without its arguments, is a syntax error; STORE is unknown to SORT_RO.
    fn parse(args: &[&'a [u8]], readonly: bool) -> Result<Options<'a>, &'static [u8]> {
        let mut options = Options::default();
        let mut i = 0;
        while i < args.len() {
            let word = args[i];
            let left = args.len() - i - 1;
            let is = |name: &str| word.eq_ignore_ascii_case(name.as_bytes());
            if is("asc") {
                options.desc = false;
            } else if is("desc") {
                options.desc = true;
            } else if is("alpha") {
                options.alpha = true;
            } else if is("limit") && left >= 2 {
                let offset = parse_i64(args[i + 1]).ok_or(NOT_AN_INTEGER)?;
                let count = parse_i64(args[i + 2]).ok_or(NOT_AN_INTEGER)?;
                options.limit = Some((offset, count));
                i += 2;
            } else if is("store") && left >= 1 && !readonly {
                options.store = Some(args[i + 1]);
                i += 1;
            } else if is("by") && left >= 1 {
                options.by = Some(args[i + 1]);
                i += 1;
            } else if is("get") && left >= 1 {
                options.gets.push(args[i + 1]);
                i += 1;
            } else {
                return Err(SYNTAX);
            }
            i += 1;
        }
        Ok(options)
    }

    /// BY a pattern without `*`: the elements keep their order (`BY nosort`).
    fn dont_sort(&self) -> bool {
        self.by.is_some_and(|p| !has_star(p))
    }

    /// Whether a BY or GET pattern names other keys (one with `*`; `GET #` is the element itself).
    fn reaches_other_keys(&self) -> bool {
        self.by
            .into_iter()
            .chain(self.gets.iter().copied())
            .any(has_star)
    }
}

fn has_star(pattern: &[u8]) -> bool {
    pattern.contains(&b'*')
}

fn run(c: &mut Call<'_>, readonly: bool) -> Flow {
    let options = match Options::parse(&c.args[2..], readonly) {
        Ok(options) => options,
        Err(message) => {
            reply::error(c.out, message);
            return Flow::Reply;
        }
    };
    let work = Work {
        key: c.args[1],
        now: c.now,
        protocol: c.session.protocol,
        bound: ReplyBound::start(c.resp, c.out),
        max_stored: c.resp.ctx.config().limits.max_reply_bytes,
    };
    let keyspace = c.parts.keyspace();
    match &mut c.parts {
        Parts::Lock(_) if options.reaches_other_keys() => {
            let mut every = keyspace.lock_parts((0..PARTS).collect());
            let mut parts = KeyParts::Held {
                keyspace,
                held: &mut every,
            };
            work.sort(options, &mut parts, c.out);
        }
        // Held by EXEC: every part when the patterns reach other keys (see `reaches_every_key`).
        parts => {
            let keys = [work.key].into_iter().chain(options.store);
            work.sort(options, &mut parts.lock_keys(keys), c.out);
        }
    }
    Flow::Reply
}

/// One SORT's fixed inputs.
struct Work<'a> {
    key: &'a [u8],
    now: Instant,
    protocol: Protocol,
    bound: ReplyBound,
    max_stored: usize,
}

/// The elements a SORT read, and the range of them it returns.
type Loaded<'s> = (Vec<Cow<'s, [u8]>>, std::ops::Range<usize>);

/// The sort key of one element: its number, the element's own bytes (ALPHA), or the bytes a BY pattern
/// names (ALPHA; `None`, a missing key, sorts first).
enum By<'v> {
    Score(f64),
    Element,
    Bytes(Option<&'v [u8]>),
}

impl Work<'_> {
    fn sort(&self, mut options: Options<'_>, parts: &mut KeyParts<'_>, out: &mut Vec<u8>) {
        let view: &KeyParts<'_> = parts;
        let (elements, range) = match self.load(view.peek(self.key), &mut options) {
            Ok(loaded) => loaded,
            Err(WrongType) => return reply::error(out, WrongType::MESSAGE),
        };
        let mut order: Vec<usize> = (0..elements.len()).collect();
        if !options.dont_sort() {
            let Some(keys) = self.sort_keys(view, &options, &elements) else {
                return reply::error(out, NOT_A_DOUBLE);
            };
            order.sort_by(|&a, &b| {
                let cmp = compare(&keys[a], &keys[b], &elements[a], &elements[b]);
                if options.desc {
                    cmp.reverse()
                } else {
                    cmp
                }
            });
        }
        let picked = order[range].iter().map(|&i| &*elements[i]);
        let Some(destination) = options.store else {
            return self.reply(view, &options.gets, picked, out);
        };
        let Some(list) = self.list(view, &options.gets, picked) else {
            return reply::error(out, TOO_LARGE);
        };
        let len = list.len();
        // Replaces the destination whatever it held; an empty result deletes it, as in Redis.
        parts
            .store(destination)
            .store_collection(destination, list.into(), self.now);
        reply::integer(out, len as i64);
    }

    /// The elements to sort and the range of them to return. Redis reads a list or sorted set that is not
    /// sorted (`BY nosort`) directly in its own order, reversed by DESC, only the LIMIT range; every other
    /// case reads all elements and LIMIT applies after sorting.
    fn load<'s>(
        &self,
        store: &'s Store,
        options: &mut Options<'_>,
    ) -> Result<Loaded<'s>, WrongType> {
        let (key, now) = (self.key, self.now);
        let kind = store.peek_kind(key, now);
        let len = match kind {
            None => 0,
            Some(Kind::List) => store.peek::<List>(key).map_or(0, List::len),
            Some(Kind::Set) => store.peek::<Set>(key).map_or(0, Set::len),
            Some(Kind::ZSet) => store.peek::<ZSet>(key).map_or(0, ZSet::len),
            Some(_) => return Err(WrongType),
        };
        // Stored, a set's native order would be arbitrary: Redis sorts it by its bytes instead.
        if options.dont_sort() && kind == Some(Kind::Set) && options.store.is_some() {
            options.by = None;
            options.alpha = true;
        }
        let range = limit_range(options.limit, len);
        let in_order = options.dont_sort() && matches!(kind, Some(Kind::List | Kind::ZSet));
        let elements: Vec<Cow<'s, [u8]>> = match kind {
            Some(Kind::List) if in_order => {
                let list = store.peek::<List>(key).into_iter().flat_map(List::iter);
                let list = taken(list, options.desc, range.clone());
                list.into_iter().map(Cow::Borrowed).collect()
            }
            Some(Kind::ZSet) if in_order => {
                let zset = store.peek::<ZSet>(key).into_iter().flat_map(ZSet::iter);
                let zset = taken(zset, options.desc, range.clone());
                zset.into_iter().map(|(m, _)| Cow::Borrowed(m)).collect()
            }
            Some(Kind::List) => store
                .peek::<List>(key)
                .into_iter()
                .flat_map(List::iter)
                .map(Cow::Borrowed)
                .collect(),
            Some(Kind::Set) => store
                .peek::<Set>(key)
                .into_iter()
                .flat_map(Set::iter)
                .collect(),
            Some(Kind::ZSet) => store
                .peek::<ZSet>(key)
                .into_iter()
                .flat_map(ZSet::iter)
                .map(|(m, _)| Cow::Borrowed(m))
                .collect(),
            _ => Vec::new(),
        };
        let range = if in_order { 0..elements.len() } else { range };
        Ok((elements, range))
    }

    /// Each element's sort key, or `None` if one is to be a number and is not (Redis's "can't be converted
    /// into double"; a missing BY key counts as 0).
    fn sort_keys<'v>(
        &self,
        view: &'v KeyParts<'_>,
        options: &Options<'_>,
        elements: &'v [Cow<'_, [u8]>],
    ) -> Option<Vec<By<'v>>> {
        let mut keys = Vec::with_capacity(elements.len());
        for element in elements {
            let value = match options.by {
                Some(pattern) => lookup(view, pattern, element, self.now),
                None => Some(&**element),
            };
            keys.push(match (options.alpha, options.by) {
                (true, Some(_)) => By::Bytes(value),
                (true, None) => By::Element,
                (false, _) => By::Score(value.map_or(Some(0.0), parse_double)?),
            });
        }
        Some(keys)
    }

    /// The reply: each picked element, or what each GET pattern names for it (nil for nothing).
    fn reply<'e>(
        &self,
        view: &KeyParts<'_>,
        gets: &[&[u8]],
        picked: impl ExactSizeIterator<Item = &'e [u8]>,
        out: &mut Vec<u8>,
    ) {
        reply::array(out, picked.len() * gets.len().max(1));
        for element in picked {
            if gets.is_empty() {
                reply::bulk(out, element);
            }
            for pattern in gets {
                match get(view, pattern, element, self.now) {
                    Some(value) => reply::bulk(out, value),
                    None => reply::nil(out, self.protocol),
                }
            }
            if self.bound.full(out) {
                break;
            }
        }
    }

    /// The STORE result: as the reply, with an empty string for nothing; `None` past the bound.
    fn list<'e>(
        &self,
        view: &KeyParts<'_>,
        gets: &[&[u8]],
        picked: impl Iterator<Item = &'e [u8]>,
    ) -> Option<List> {
        let mut list = List::default();
        let mut bytes = 0;
        let mut push = |value: &[u8]| {
            bytes += value.len();
            list.push(End::Right, value);
            bytes <= self.max_stored
        };
        for element in picked {
            let fits = if gets.is_empty() {
                push(element)
            } else {
                gets.iter()
                    .all(|pattern| push(get(view, pattern, element, self.now).unwrap_or_default()))
            };
            if !fits {
                return None;
            }
        }
        Some(list)
    }
}

/// LIMIT offset count over `len` elements, as Redis 7.0 clamps it: a negative offset is 0, a negative
/// count is all.
fn limit_range(limit: Option<(i64, i64)>, len: usize) -> std::ops::Range<usize> {
    let Some((offset, count)) = limit else {
        return 0..len;
    };
    let start = usize::try_from(offset.max(0))
        .unwrap_or(usize::MAX)
        .min(len);
    let count = usize::try_from(count).unwrap_or(len).min(len);
    start..start.saturating_add(count).min(len)
}

/// `range` of `items`, counted from the back when `reverse`.
fn taken<T>(
    items: impl DoubleEndedIterator<Item = T>,
    reverse: bool,
    range: std::ops::Range<usize>,
) -> Vec<T> {
    let (skip, take) = (range.start, range.len());
    if reverse {
        items.rev().skip(skip).take(take).collect()
    } else {
        items.skip(skip).take(take).collect()
    }
}

/// Redis's `sortCompare`: numbers, ties broken by the elements' bytes; or bytes, a missing one first.
fn compare(a: &By<'_>, b: &By<'_>, element_a: &[u8], element_b: &[u8]) -> Ordering {
    match (a, b) {
        (By::Score(x), By::Score(y)) => x
            .partial_cmp(y)
            .unwrap_or(Ordering::Equal)
            .then_with(|| element_a.cmp(element_b)),
        (By::Element, By::Element) => element_a.cmp(element_b),
        (By::Bytes(x), By::Bytes(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// A number as C's `strtod` reads it for SORT: leading blanks allowed, nothing after, not NaN, not out of
/// range (an empty string is 0).
fn parse_double(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?.trim_start();
    if text.is_empty() {
        return Some(0.0);
    }
    let value: f64 = text.parse().ok()?;
    let spelled_infinite = text.to_ascii_lowercase().contains("inf");
    (!value.is_nan() && (value.is_finite() || spelled_infinite)).then_some(value)
}

/// What GET `pattern` names for `element`: the element itself for `#`.
fn get<'v>(
    view: &'v KeyParts<'_>,
    pattern: &[u8],
    element: &'v [u8],
    now: Instant,
) -> Option<&'v [u8]> {
    if pattern == b"#" {
        return Some(element);
    }
    lookup(view, pattern, element, now)
}

/// Redis's `lookupKeyByPattern`: the first `*` of `pattern` replaced by `element` names a string key, or,
/// with `->field` after the `*`, a field of a hash key; `None` when there is no `*` or nothing of that kind.
fn lookup<'v>(
    view: &'v KeyParts<'_>,
    pattern: &[u8],
    element: &[u8],
    now: Instant,
) -> Option<&'v [u8]> {
    let star = pattern.iter().position(|&b| b == b'*')?;
    let rest = &pattern[star + 1..];
    let (postfix, field) = match rest.windows(2).position(|w| w == b"->") {
        Some(at) if at + 2 < rest.len() => (&rest[..at], Some(&rest[at + 2..])),
        _ => (rest, None),
    };
    let key = [&pattern[..star], element, postfix].concat();
    let store = view.peek(&key);
    match field {
        None => store.peek_string(&key, now),
        Some(field) if store.peek_kind(&key, now) == Some(Kind::Hash) => {
            store.peek::<Hash>(&key)?.get(field)
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_as_redis_reads_them() {
        let args: Vec<&[u8]> = vec![
            b"BY", b"w_*", b"limit", b"1", b"2", b"GET", b"#", b"get", b"o_*->f", b"DESC",
            b"alpha", b"STORE", b"d",
        ];
        let o = Options::parse(&args, false).unwrap();
        assert_eq!(o.by, Some(&b"w_*"[..]));
        assert_eq!(o.limit, Some((1, 2)));
        assert_eq!(o.gets, [&b"#"[..], b"o_*->f"]);
        assert!(o.desc && o.alpha && o.reaches_other_keys() && !o.dont_sort());
        assert_eq!(o.store, Some(&b"d"[..]));
        assert_eq!(
            Options::parse(&[b"store", b"d"], true),
            Err(SYNTAX),
            "SORT_RO"
        );
        assert_eq!(Options::parse(&[b"limit", b"1"], false), Err(SYNTAX));
        assert_eq!(
            Options::parse(&[b"limit", b"x", b"1"], false),
            Err(NOT_AN_INTEGER)
        );
        let nosort = Options::parse(&[b"by", b"nosort", b"get", b"#"], false).unwrap();
        assert!(nosort.dont_sort() && !nosort.reaches_other_keys());
    }

    #[test]
    fn limit_clamps_as_redis_7() {
        assert_eq!(limit_range(None, 5), 0..5);
        assert_eq!(limit_range(Some((-10, 100)), 5), 0..5);
        assert_eq!(limit_range(Some((5, 10)), 5), 5..5);
        assert_eq!(limit_range(Some((1, -1)), 5), 1..5);
        assert_eq!(limit_range(Some((2, i64::MAX)), 3), 2..3);
        assert_eq!(limit_range(Some((i64::MAX, 1)), 3), 3..3);
        assert_eq!(limit_range(Some((0, 0)), 3), 0..0);
    }

    #[test]
    fn numbers_parse_as_strtod_reads_them() {
        assert_eq!(parse_double(b" 1.5"), Some(1.5));
        assert_eq!(parse_double(b""), Some(0.0));
        assert_eq!(parse_double(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_double(b"1e400"), None);
        assert_eq!(parse_double(b"nan"), None);
        assert_eq!(parse_double(b"1x"), None);
        assert_eq!(parse_double(b"1 "), None);
    }
}
