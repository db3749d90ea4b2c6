//! Sorted-set commands: ZADD (NX, XX, GT, LT, CH, INCR), ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD, ZCOUNT,
//! ZLEXCOUNT, ZRANK, ZREVRANK, ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES) and its older forms
//! (ZRANGEBYSCORE, ZREVRANGE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX), ZRANGESTORE, ZPOPMIN, ZPOPMAX,
//! ZRANDMEMBER, ZUNION, ZINTER, ZDIFF and their STORE forms (WEIGHTS, AGGREGATE, WITHSCORES), ZINTERCARD,
//! ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX. Scores are written as Redis 7.0 writes them
//! (`%.17g`, `inf`, `-inf`), as doubles in RESP3.

use pincore_resp::reply::{self, Protocol};

use super::collections::{
    index_range, integer, optional_count, part, read_or_reply, size_of, store_result, ReplyBound,
};
use super::hashes::{random_count, random_indexes};
use super::{Call, Flow};
use crate::builtin::resp::expiry::{NOT_AN_INTEGER, SYNTAX};
use crate::builtin::resp::kv::{parse_float, NOT_A_FLOAT};
use crate::builtin::resp::store::parse_i64;
use crate::builtin::resp::types::zset::score_reply;
use crate::builtin::resp::types::{Kind, Set, WrongType, ZSet};
use crate::builtin::resp::Resp;

/// Members with their scores as Redis replies with them: RESP2 a flat array, RESP3 an array of pairs; or
/// the members alone.
fn reply_members<'a>(
    resp: &Resp,
    protocol: Protocol,
    out: &mut Vec<u8>,
    members: impl ExactSizeIterator<Item = (&'a [u8], f64)>,
    with_scores: bool,
) {
    let pairs = with_scores && protocol == Protocol::Resp3;
    let len = members.len();
    reply::array(out, if with_scores && !pairs { len * 2 } else { len });
    let bound = ReplyBound::start(resp, out);
    for (member, value) in members {
        if pairs {
            reply::array(out, 2);
        }
        reply::bulk(out, member);
        if with_scores {
            score_reply(out, protocol, value);
        }
        if bound.full(out) {
            break;
        }
    }
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...], and ZINCRBY (INCR fixed).
fn add(c: &mut Call<'_>, incr_only: bool) -> Flow {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, incr_only);
    let mut at = 2;
    if !incr_only {
        while at < c.args.len() {
            let option = c.args[at].to_ascii_uppercase();
            match option.as_slice() {
                b"NX" => nx = true,
                b"XX" => xx = true,
                b"GT" => gt = true,
                b"LT" => lt = true,
                b"CH" => ch = true,
                b"INCR" => incr = true,
                _ => break,
            }
            at += 1;
        }
    }
    let pairs = &c.args[at..];
    let error: Option<&[u8]> = if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        Some(SYNTAX)
    } else if nx && xx {
        Some(b"ERR XX and NX options at the same time are not compatible")
    } else if (gt || lt) && (nx || (gt && lt)) {
        Some(b"ERR GT, LT, and/or NX options at the same time are not compatible")
    } else if incr && pairs.len() > 2 {
        Some(b"ERR INCR option supports a single increment-element pair")
    } else {
        None
    };
    if let Some(message) = error {
        reply::error(c.out, message);
        return Flow::Reply;
    }
    let Some(scores) = pairs
        .chunks_exact(2)
        .map(|p| parse_float(p[0]))
        .collect::<Option<Vec<f64>>>()
    else {
        reply::error(c.out, NOT_A_FLOAT);
        return Flow::Reply;
    };
    let protocol = c.session.protocol;
    let done = part!(c).change(c.args[1], c.now, !xx, |z: &mut ZSet| {
        let (mut added, mut updated, mut last) = (0, 0, None);
        for (pair, &given) in pairs.chunks_exact(2).zip(&scores) {
            let member = pair[1];
            match z.score(member) {
                Some(_) if nx => {}
                Some(current) => {
                    let new = if incr { current + given } else { given };
                    if new.is_nan() {
                        return Err(&b"ERR resulting score is not a number (NaN)"[..]);
                    }
                    if (lt && new >= current) || (gt && new <= current) {
                        continue;
                    }
                    if new != current {
                        z.insert(member, new);
                        updated += 1;
                    }
                    last = Some(new);
                }
                None if xx => {}
                None => {
                    z.insert(member, given);
                    added += 1;
                    last = Some(given);
                }
            }
        }
        Ok((added, updated, last))
    });
    match done {
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
        Ok(Some(Err(message))) => reply::error(c.out, message),
        Ok(outcome) => {
            let (added, updated, last) = outcome.and_then(Result::ok).unwrap_or((0, 0, None));
            match (incr, last) {
                (true, Some(value)) => score_reply(c.out, protocol, value),
                (true, None) => reply::nil(c.out, protocol),
                (false, _) => reply::integer(c.out, if ch { added + updated } else { added }),
            }
        }
    }
    Flow::Reply
}

pub fn zadd(c: &mut Call<'_>) -> Flow {
    add(c, false)
}

/// ZINCRBY key increment member: ZADD INCR with the arguments in that order.
pub fn zincrby(c: &mut Call<'_>) -> Flow {
    add(c, true)
}

pub fn zrem(c: &mut Call<'_>) -> Flow {
    let members = &c.args[2..];
    let removed = part!(c).change(c.args[1], c.now, false, |z: &mut ZSet| {
        members.iter().filter(|m| z.remove(m).is_some()).count() as i64
    });
    integer(c, removed.map(Option::unwrap_or_default));
    Flow::Reply
}

pub fn zcard(c: &mut Call<'_>) -> Flow {
    size_of(c, ZSet::len)
}

pub fn zscore(c: &mut Call<'_>) -> Flow {
    let protocol = c.session.protocol;
    let mut part = part!(c);
    let Some(zset) = read_or_reply::<ZSet>(&mut part, c.args[1], c.now, c.out) else {
        return Flow::Reply;
    };
    match zset.and_then(|z| z.score(c.args[2])) {
        Some(value) => score_reply(c.out, protocol, value),
        None => reply::nil(c.out, protocol),
    }
    Flow::Reply
}

pub fn zmscore(c: &mut Call<'_>) -> Flow {
    let protocol = c.session.protocol;
    let mut part = part!(c);
    let Some(zset) = read_or_reply::<ZSet>(&mut part, c.args[1], c.now, c.out) else {
        return Flow::Reply;
    };
    let members = &c.args[2..];
    reply::array(c.out, members.len());
    for member in members {
        match zset.and_then(|z| z.score(member)) {
            Some(value) => score_reply(c.out, protocol, value),
            None => reply::nil(c.out, protocol),
        }
    }
    Flow::Reply
}

/// ZRANK and ZREVRANK key member.
fn rank(c: &mut Call<'_>, reverse: bool) -> Flow {
    let protocol = c.session.protocol;
    let mut part = part!(c);
    let Some(zset) = read_or_reply::<ZSet>(&mut part, c.args[1], c.now, c.out) else {
        return Flow::Reply;
    };
    match zset.and_then(|z| z.rank(c.args[2]).map(|r| (z.len(), r))) {
        Some((len, r)) => reply::integer(c.out, if reverse { len - 1 - r } else { r } as i64),
        None => reply::nil(c.out, protocol),
    }
    Flow::Reply
}

pub fn zrank(c: &mut Call<'_>) -> Flow {
    rank(c, false)
}

pub fn zrevrank(c: &mut Call<'_>) -> Flow {
    rank(c, true)
}

/// A score bound of ZRANGEBYSCORE and ZCOUNT: `(` makes it exclusive; read as C's `strtod` reads it (an
/// empty text is 0), NaN refused.
fn score_bound(text: &[u8]) -> Option<(f64, bool)> {
    let (text, exclusive) = match text.split_first() {
        Some((b'(', rest)) => (rest, true),
        _ => (text, false),
    };
    let value = if text.is_empty() {
        0.0
    } else {
        std::str::from_utf8(text).ok()?.parse::<f64>().ok()?
    };
    (!value.is_nan()).then_some((value, exclusive))
}

/// A lexicographic bound of ZRANGEBYLEX and ZLEXCOUNT: `-`, `+`, `[member` or `(member`.
#[derive(Debug, Clone)]
enum Lex {
    Least,
    Most,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

fn lex_bound(text: &[u8]) -> Option<Lex> {
    match text.split_first()? {
        (b'-', []) => Some(Lex::Least),
        (b'+', []) => Some(Lex::Most),
        (b'[', rest) => Some(Lex::Inclusive(rest.to_vec())),
        (b'(', rest) => Some(Lex::Exclusive(rest.to_vec())),
        _ => None,
    }
}

/// Whether `member` is at or above the lower bound `min`.
fn lex_above(member: &[u8], min: &Lex) -> bool {
    match min {
        Lex::Least => true,
        Lex::Most => false,
        Lex::Inclusive(m) => member >= m.as_slice(),
        Lex::Exclusive(m) => member > m.as_slice(),
    }
}

/// Whether `member` is at or below the upper bound `max`.
fn lex_below(member: &[u8], max: &Lex) -> bool {
    match max {
        Lex::Least => false,
        Lex::Most => true,
        Lex::Inclusive(m) => member <= m.as_slice(),
        Lex::Exclusive(m) => member < m.as_slice(),
    }
}

/// What a range selects.
enum Range {
    Rank(i64, i64),
    Score { min: (f64, bool), max: (f64, bool) },
    Lex { min: Lex, max: Lex },
}

impl Range {
    fn score_in(value: f64, min: (f64, bool), max: (f64, bool)) -> (bool, bool) {
        let above = if min.1 { value > min.0 } else { value >= min.0 };
        let below = if max.1 { value < max.0 } else { value <= max.0 };
        (above, below)
    }

    /// The members selected from `zset`, in order (descending when `reverse`), after skipping `offset` and
    /// keeping at most `limit` (negative: all).
    fn select<'z>(
        &self,
        zset: &'z ZSet,
        reverse: bool,
        offset: i64,
        limit: i64,
    ) -> Vec<(&'z [u8], f64)> {
        if offset < 0 {
            return Vec::new();
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let chosen: Box<dyn Iterator<Item = (&'z [u8], f64)> + 'z> = match self {
            Range::Rank(start, end) => match index_range(*start, *end, zset.len()) {
                None => return Vec::new(),
                Some((from, to)) => Box::new(zset.from_rank(from, reverse).take(to - from + 1)),
            },
            &Range::Score { min, max } if reverse => Box::new(
                zset.to_score_rev(max.0)
                    .skip_while(move |&(_, s)| !Range::score_in(s, min, max).1)
                    .take_while(move |&(_, s)| Range::score_in(s, min, max).0),
            ),
            &Range::Score { min, max } => Box::new(
                zset.from_score(min.0)
                    .skip_while(move |&(_, s)| !Range::score_in(s, min, max).0)
                    .take_while(move |&(_, s)| Range::score_in(s, min, max).1),
            ),
            Range::Lex { min, max } if reverse => {
                let (min, max) = (min.clone(), max.clone());
                Box::new(
                    zset.iter()
                        .rev()
                        .skip_while(move |&(m, _)| !lex_below(m, &max))
                        .take_while(move |&(m, _)| lex_above(m, &min)),
                )
            }
            Range::Lex { min, max } => {
                let (min, max) = (min.clone(), max.clone());
                Box::new(
                    zset.iter()
                        .skip_while(move |&(m, _)| !lex_above(m, &min))
                        .take_while(move |&(m, _)| lex_below(m, &max)),
                )
            }
        };
        chosen.skip(offset).take(limit).collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Auto,
    Rank,
    Score,
    Lex,
}

/// The range `low high` reads as for `by` (a rank for `Auto` and `Rank`), or Redis's error for it.
fn bounds(by: By, low: &[u8], high: &[u8]) -> Result<Range, &'static [u8]> {
    match by {
        By::Score => match (score_bound(low), score_bound(high)) {
            (Some(min), Some(max)) => Ok(Range::Score { min, max }),
            _ => Err(b"ERR min or max is not a float"),
        },
        By::Lex => match (lex_bound(low), lex_bound(high)) {
            (Some(min), Some(max)) => Ok(Range::Lex { min, max }),
            _ => Err(b"ERR min or max not valid string range item"),
        },
        By::Auto | By::Rank => match (parse_i64(low), parse_i64(high)) {
            (Some(start), Some(end)) => Ok(Range::Rank(start, end)),
            _ => Err(NOT_AN_INTEGER),
        },
    }
}

/// ZRANGE and its older forms (`by` and `reverse` fixed by the command; `By::Auto` lets BYSCORE, BYLEX and
/// REV choose), and ZRANGESTORE (`store`: the destination is argument 1), as Redis 7.0's
/// `zrangeGenericCommand`: options first, then the range, then the key.
fn range(c: &mut Call<'_>, store: bool, mut by: By, reverse: Option<bool>) -> Flow {
    let source = if store { 2 } else { 1 };
    let mut rev = reverse.unwrap_or(false);
    let (mut with_scores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = source + 3;
    while j < c.args.len() {
        let option = c.args[j].to_ascii_uppercase();
        let left = c.args.len() - j - 1;
        match option.as_slice() {
            b"WITHSCORES" if !store => with_scores = true,
            b"LIMIT" if left >= 2 => {
                match (parse_i64(c.args[j + 1]), parse_i64(c.args[j + 2])) {
                    (Some(o), Some(l)) => (offset, limit) = (o, l),
                    _ => {
                        reply::error(c.out, NOT_AN_INTEGER);
                        return Flow::Reply;
                    }
                }
                j += 2;
            }
            b"REV" if reverse.is_none() => rev = true,
            b"BYLEX" if by == By::Auto => by = By::Lex,
            b"BYSCORE" if by == By::Auto => by = By::Score,
            _ => {
                reply::error(c.out, SYNTAX);
                return Flow::Reply;
            }
        }
        j += 1;
    }
    if by == By::Auto {
        by = By::Rank;
    }
    if limit != -1 && by == By::Rank {
        reply::error(
            c.out,
            b"ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
        return Flow::Reply;
    }
    if with_scores && by == By::Lex {
        reply::error(
            c.out,
            b"ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        );
        return Flow::Reply;
    }
    let (mut low, mut high) = (c.args[source + 1], c.args[source + 2]);
    if rev && by != By::Rank {
        std::mem::swap(&mut low, &mut high);
    }
    let range = match bounds(by, low, high) {
        Ok(range) => range,
        Err(message) => {
            reply::error(c.out, message);
            return Flow::Reply;
        }
    };
    let key = c.args[source];
    if !store {
        let mut part = part!(c);
        let Some(zset) = read_or_reply::<ZSet>(&mut part, key, c.now, c.out) else {
            return Flow::Reply;
        };
        let chosen = zset
            .map(|z| range.select(z, rev, offset, limit))
            .unwrap_or_default();
        reply_members(
            c.resp,
            c.session.protocol,
            c.out,
            chosen.into_iter(),
            with_scores,
        );
        return Flow::Reply;
    }
    let destination = c.args[1];
    let mut locked = c.parts.lock_keys([destination, key]);
    let result = match locked.store(key).read::<ZSet>(key, c.now) {
        Err(WrongType) => {
            reply::error(c.out, WrongType::MESSAGE);
            return Flow::Reply;
        }
        Ok(zset) => {
            let mut result = ZSet::default();
            for (member, value) in zset
                .map(|z| range.select(z, rev, offset, limit))
                .unwrap_or_default()
            {
                result.insert(member, value);
            }
            result
        }
    };
    store_result(&mut locked, destination, result.into(), c.now, c.out);
    Flow::Reply
}

pub fn zrange(c: &mut Call<'_>) -> Flow {
    range(c, false, By::Auto, None)
}

pub fn zrangestore(c: &mut Call<'_>) -> Flow {
    range(c, true, By::Auto, None)
}

pub fn zrangebyscore(c: &mut Call<'_>) -> Flow {
    range(c, false, By::Score, Some(false))
}

pub fn zrevrangebyscore(c: &mut Call<'_>) -> Flow {
    range(c, false, By::Score, Some(true))
}

pub fn zrevrange(c: &mut Call<'_>) -> Flow {
    range(c, false, By::Rank, Some(true))
}

pub fn zrangebylex(c: &mut Call<'_>) -> Flow {
    range(c, false, By::Lex, Some(false))
}

pub fn zrevrangebylex(c: &mut Call<'_>) -> Flow {
    range(c, false, By::Lex, Some(true))
}

/// ZCOUNT key min max
pub fn zcount(c: &mut Call<'_>) -> Flow {
    match bounds(By::Score, c.args[2], c.args[3]) {
        Ok(range) => count_in(c, range),
        Err(message) => {
            reply::error(c.out, message);
            Flow::Reply
        }
    }
}

/// ZLEXCOUNT key min max
pub fn zlexcount(c: &mut Call<'_>) -> Flow {
    match bounds(By::Lex, c.args[2], c.args[3]) {
        Ok(range) => count_in(c, range),
        Err(message) => {
            reply::error(c.out, message);
            Flow::Reply
        }
    }
}

fn count_in(c: &mut Call<'_>, range: Range) -> Flow {
    let n = part!(c)
        .read::<ZSet>(c.args[1], c.now)
        .map(|z| z.map_or(0, |z| range.select(z, false, 0, -1).len()) as i64);
    integer(c, n);
    Flow::Reply
}

/// ZPOPMIN and ZPOPMAX key [count]: RESP2 a flat array of member and score; RESP3 pairs when a count is given.
fn pop(c: &mut Call<'_>, max: bool) -> Flow {
    let Ok(count) = optional_count(c) else {
        return Flow::Reply;
    };
    let protocol = c.session.protocol;
    let popped = part!(c).change(c.args[1], c.now, false, |z: &mut ZSet| {
        let n = count.unwrap_or(1).min(z.len());
        (0..n).filter_map(|_| z.pop(max)).collect::<Vec<_>>()
    });
    match popped {
        Err(WrongType) => reply::error(c.out, WrongType::MESSAGE),
        Ok(popped) => {
            let popped = popped.unwrap_or_default();
            let pairs = protocol == Protocol::Resp3 && count.is_some();
            reply::array(
                c.out,
                if pairs {
                    popped.len()
                } else {
                    popped.len() * 2
                },
            );
            for (member, value) in popped {
                if pairs {
                    reply::array(c.out, 2);
                }
                reply::bulk(c.out, &member);
                score_reply(c.out, protocol, value);
            }
        }
    }
    Flow::Reply
}

pub fn zpopmin(c: &mut Call<'_>) -> Flow {
    pop(c, false)
}

pub fn zpopmax(c: &mut Call<'_>) -> Flow {
    pop(c, true)
}

/// ZRANDMEMBER key [count [WITHSCORES]]: as HRANDFIELD, over members and their scores.
pub fn zrandmember(c: &mut Call<'_>) -> Flow {
    let (count, with_scores) = match random_count(c, "withscores") {
        Ok(parsed) => parsed,
        Err(()) => return Flow::Reply,
    };
    let protocol = c.session.protocol;
    let mut part = part!(c);
    let Some(zset) = read_or_reply::<ZSet>(&mut part, c.args[1], c.now, c.out) else {
        return Flow::Reply;
    };
    let Some(count) = count else {
        let member = zset.and_then(|z| {
            z.iter()
                .nth(crate::builtin::resp::types::random_below(z.len()))
        });
        match member {
            Some((member, _)) => reply::bulk(c.out, member),
            None => reply::nil(c.out, protocol),
        }
        return Flow::Reply;
    };
    let Some(zset) = zset.filter(|_| count != 0) else {
        reply::array(c.out, 0);
        return Flow::Reply;
    };
    // Positions are taken in ascending order of rank, so each is found in one walk from the last.
    let all: Vec<(&[u8], f64)> = zset.iter().collect();
    let chosen = random_indexes(all.len(), count).map(|i| all[i]);
    let chosen: Vec<(&[u8], f64)> = if count < 0 {
        // Bounded by the reply limit: a huge negative count stops when the reply is full.
        let mut out = Vec::new();
        let limit = c.resp.ctx.config().limits.max_reply_bytes;
        let mut size = 0;
        for pick in chosen {
            size += pick.0.len() + 32;
            out.push(pick);
            if size > limit {
                break;
            }
        }
        out
    } else {
        chosen.collect()
    };
    reply_members(
        c.resp,
        c.session.protocol,
        c.out,
        chosen.into_iter(),
        with_scores,
    );
    Flow::Reply
}

/// An input of ZUNIONSTORE or ZINTERSTORE: a sorted set, or a set whose members score 1.
#[derive(Clone, Copy)]
enum Source<'a> {
    Sorted(&'a ZSet),
    Plain(&'a Set),
    Missing,
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Sorted(z) => z.len(),
            Source::Plain(s) => s.len(),
            Source::Missing => 0,
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Sorted(z) => z.score(member),
            Source::Plain(s) => s.contains(member).then_some(1.0),
            Source::Missing => None,
        }
    }

    fn each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Source::Sorted(z) => z.iter().for_each(|(m, s)| f(m, s)),
            Source::Plain(s) => s.iter().for_each(|m| f(&m, 1.0)),
            Source::Missing => {}
        }
    }
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            // inf + -inf is 0 in Redis, not NaN.
            Aggregate::Sum => Some(a + b).filter(|v| !v.is_nan()).unwrap_or(0.0),
            Aggregate::Min => a.min(b),
            Aggregate::Max => a.max(b),
        }
    }
}

/// `weight × score`, 0 where that is NaN (0 × inf), as Redis computes it.
fn weighted(weight: f64, value: f64) -> f64 {
    Some(weight * value).filter(|v| !v.is_nan()).unwrap_or(0.0)
}

/// How ZUNION, ZINTER and ZDIFF (and their STORE forms, and ZINTERCARD) combine their inputs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Operation {
    Union,
    Inter,
    Diff,
}

/// What becomes of the combination: stored at argument 1, replied, or counted (ZINTERCARD).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    Store,
    Reply,
    Count,
}

/// The number of input keys at `at`, as Redis checks it; `None` once the error is written.
fn numkeys(c: &mut Call<'_>, at: usize) -> Option<usize> {
    let room = c.args.len() as i64 - at as i64 - 1;
    let error = match parse_i64(c.args[at]) {
        Some(n) if n >= 1 && n <= room => return Some(n as usize),
        None => NOT_AN_INTEGER.to_vec(),
        Some(n) if n < 1 => {
            let name = String::from_utf8_lossy(c.args[0]).to_ascii_lowercase();
            format!("ERR at least 1 input key is needed for '{name}' command").into_bytes()
        }
        Some(_) => SYNTAX.to_vec(),
    };
    reply::error(c.out, &error);
    None
}

/// ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE destination numkeys key [key ...], ZUNION, ZINTER, ZDIFF numkeys
/// key [key ...] and ZINTERCARD numkeys key [key ...], with WEIGHTS and AGGREGATE (union and intersection),
/// WITHSCORES (replied forms) or LIMIT (ZINTERCARD). A set counts as a sorted set whose members score 1.
/// As Redis, the inputs' types are checked before the options.
fn combine(c: &mut Call<'_>, operation: Operation, output: Output) -> Flow {
    let at = if output == Output::Store { 2 } else { 1 };
    let Some(count) = numkeys(c, at) else {
        return Flow::Reply;
    };
    let destination = (output == Output::Store).then(|| c.args[1]);
    let keys = &c.args[at + 1..at + 1 + count];
    let mut locked = c.parts.lock_keys(keys.iter().copied().chain(destination));
    for k in keys {
        if locked
            .store(k)
            .kind(k, c.now)
            .is_some_and(|kind| kind != Kind::Set && kind != Kind::ZSet)
        {
            reply::error(c.out, WrongType::MESSAGE);
            return Flow::Reply;
        }
    }
    let mut weights = vec![1.0; count];
    let mut aggregate = Aggregate::Sum;
    let (mut with_scores, mut limit) = (false, usize::MAX);
    let weighs = operation != Operation::Diff && output != Output::Count;
    let mut j = at + 1 + count;
    while j < c.args.len() {
        let left = c.args.len() - j;
        let word = c.args[j];
        if weighs && left > count && word.eq_ignore_ascii_case(b"WEIGHTS") {
            for (i, weight) in weights.iter_mut().enumerate() {
                match parse_float(c.args[j + 1 + i]) {
                    Some(w) => *weight = w,
                    None => {
                        reply::error(c.out, b"ERR weight value is not a float");
                        return Flow::Reply;
                    }
                }
            }
            j += 1 + count;
        } else if weighs && left >= 2 && word.eq_ignore_ascii_case(b"AGGREGATE") {
            aggregate = match c.args[j + 1].to_ascii_uppercase().as_slice() {
                b"SUM" => Aggregate::Sum,
                b"MIN" => Aggregate::Min,
                b"MAX" => Aggregate::Max,
                _ => {
                    reply::error(c.out, SYNTAX);
                    return Flow::Reply;
                }
            };
            j += 2;
        } else if output == Output::Reply && word.eq_ignore_ascii_case(b"WITHSCORES") {
            with_scores = true;
            j += 1;
        } else if output == Output::Count && left >= 2 && word.eq_ignore_ascii_case(b"LIMIT") {
            match parse_i64(c.args[j + 1]).filter(|n| *n >= 0) {
                None => {
                    reply::error(c.out, b"ERR LIMIT can't be negative");
                    return Flow::Reply;
                }
                Some(0) => limit = usize::MAX,
                Some(n) => limit = usize::try_from(n).unwrap_or(usize::MAX),
            }
            j += 2;
        } else {
            reply::error(c.out, SYNTAX);
            return Flow::Reply;
        }
    }
    let result = {
        let locked = &locked;
        let mut sources: Vec<(Source<'_>, f64)> = keys
            .iter()
            .zip(&weights)
            .map(|(k, &w)| {
                let store = locked.peek(k);
                let source = match (store.peek::<ZSet>(k), store.peek::<Set>(k)) {
                    (Some(z), _) => Source::Sorted(z),
                    (None, Some(s)) => Source::Plain(s),
                    _ => Source::Missing,
                };
                (source, w)
            })
            .collect();
        let mut result = ZSet::default();
        match operation {
            Operation::Union => {
                for (source, weight) in &sources {
                    source.each(|member, value| {
                        let value = weighted(*weight, value);
                        let value = match result.score(member) {
                            Some(current) => aggregate.apply(current, value),
                            None => value,
                        };
                        result.insert(member, value);
                    });
                }
            }
            Operation::Inter => {
                sources.sort_by_key(|(s, _)| s.len());
                if let Some(((first, weight), rest)) = sources.split_first() {
                    first.each(|member, value| {
                        if result.len() >= limit {
                            return;
                        }
                        let mut total = weighted(*weight, value);
                        for (other, w) in rest {
                            match other.score(member) {
                                Some(v) => total = aggregate.apply(total, weighted(*w, v)),
                                None => return,
                            }
                        }
                        result.insert(member, total);
                    });
                }
            }
            Operation::Diff => {
                if let Some(((first, _), rest)) = sources.split_first() {
                    first.each(|member, value| {
                        if rest.iter().all(|(other, _)| other.score(member).is_none()) {
                            result.insert(member, value);
                        }
                    });
                }
            }
        }
        result
    };
    match destination {
        Some(destination) => store_result(&mut locked, destination, result.into(), c.now, c.out),
        None if output == Output::Count => reply::integer(c.out, result.len().min(limit) as i64),
        None => reply_members(
            c.resp,
            c.session.protocol,
            c.out,
            result.iter().collect::<Vec<_>>().into_iter(),
            with_scores,
        ),
    }
    Flow::Reply
}

pub fn zunionstore(c: &mut Call<'_>) -> Flow {
    combine(c, Operation::Union, Output::Store)
}

pub fn zinterstore(c: &mut Call<'_>) -> Flow {
    combine(c, Operation::Inter, Output::Store)
}

pub fn zdiffstore(c: &mut Call<'_>) -> Flow {
    combine(c, Operation::Diff, Output::Store)
}

pub fn zunion(c: &mut Call<'_>) -> Flow {
    combine(c, Operation::Union, Output::Reply)
}

pub fn zinter(c: &mut Call<'_>) -> Flow {
    combine(c, Operation::Inter, Output::Reply)
}

pub fn zdiff(c: &mut Call<'_>) -> Flow {
    combine(c, Operation::Diff, Output::Reply)
}

pub fn zintercard(c: &mut Call<'_>) -> Flow {
    combine(c, Operation::Inter, Output::Count)
}

/// ZREMRANGEBYRANK, ZREMRANGEBYSCORE and ZREMRANGEBYLEX key min max: removes the members `range` selects;
/// how many went.
fn remove_range(c: &mut Call<'_>, range: Range) -> Flow {
    let removed = part!(c)
        .change(c.args[1], c.now, false, |z: &mut ZSet| {
            let gone: Vec<Vec<u8>> = range
                .select(z, false, 0, -1)
                .into_iter()
                .map(|(m, _)| m.to_vec())
                .collect();
            for member in &gone {
                z.remove(member);
            }
            gone.len() as i64
        })
        .map(|n| n.unwrap_or(0));
    integer(c, removed);
    Flow::Reply
}

pub fn zremrangebyrank(c: &mut Call<'_>) -> Flow {
    let (Some(start), Some(end)) = (parse_i64(c.args[2]), parse_i64(c.args[3])) else {
        reply::error(c.out, NOT_AN_INTEGER);
        return Flow::Reply;
    };
    remove_range(c, Range::Rank(start, end))
}

pub fn zremrangebyscore(c: &mut Call<'_>) -> Flow {
    match bounds(By::Score, c.args[2], c.args[3]) {
        Ok(range) => remove_range(c, range),
        Err(message) => {
            reply::error(c.out, message);
            Flow::Reply
        }
    }
}

pub fn zremrangebylex(c: &mut Call<'_>) -> Flow {
    match bounds(By::Lex, c.args[2], c.args[3]) {
        Ok(range) => remove_range(c, range),
        Err(message) => {
            reply::error(c.out, message);
            Flow::Reply
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::builtin::resp::types::zset::format_score;

    #[test]
    fn scores_are_written_as_c_writes_percent_17g() {
        for (value, text) in [
            (1.1, "1.1000000000000001"),
            (3.0, "3"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e-7, "9.9999999999999995e-08"),
            (-1e-5, "-1.0000000000000001e-05"),
            (1.5e16, "15000000000000000"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e20, "1e+20"),
            (0.5, "0.5"),
            (-0.0, "0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (0.0001, "0.0001"),
            (1e300, "1.0000000000000001e+300"),
        ] {
            assert_eq!(format_score(value), text, "{value:e}");
        }
    }
}
