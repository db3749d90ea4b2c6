//! SSCAN, HSCAN and ZSCAN key cursor [MATCH pattern] [COUNT count]: a collection's members (a hash's fields
//! with their values, a sorted set's members with their scores), filtered by MATCH.
//!
//! Redis walks a large collection's hash table a few buckets per call; here every call answers the whole
//! collection with cursor 0, as Redis itself does for its compact encodings, and COUNT is only checked. That
//! keeps SCAN's promise (whatever is present throughout a full iteration is returned) with no cursor state;
//! a reply past `limits.max_reply_bytes` is cut off like any other.

use std::borrow::Cow;

use pincore_resp::reply;

use super::collections::{part, read_or_reply};
use super::{Call, Flow};
use crate::builtin::resp::glob;
use crate::builtin::resp::scan::{parse_cursor, Options};
use crate::builtin::resp::types::zset::format_score;
use crate::builtin::resp::types::{Hash, Set, Typed, ZSet};

/// A member, field or value as a scan replies with it.
type Item<'a> = Cow<'a, [u8]>;

/// The items of one collection as a scan replies with them: one element each, or (name, value) pairs.
trait Scanned: Typed {
    /// Appends (name, value) pairs; the value is `None` for a set's members.
    fn items<'a>(&'a self, into: &mut Vec<(Item<'a>, Option<Item<'a>>)>);
}

impl Scanned for Set {
    fn items<'a>(&'a self, into: &mut Vec<(Item<'a>, Option<Item<'a>>)>) {
        into.extend(self.iter().map(|m| (m, None)));
    }
}

impl Scanned for Hash {
    fn items<'a>(&'a self, into: &mut Vec<(Item<'a>, Option<Item<'a>>)>) {
        into.extend(
            self.iter()
                .map(|(f, v)| (Cow::Borrowed(f), Some(Cow::Borrowed(v)))),
        );
    }
}

impl Scanned for ZSet {
    fn items<'a>(&'a self, into: &mut Vec<(Item<'a>, Option<Item<'a>>)>) {
        into.extend(self.iter().map(|(m, s)| {
            (
                Cow::Borrowed(m),
                Some(Cow::Owned(format_score(s).into_bytes())),
            )
        }));
    }
}

fn scan<T: Scanned>(c: &mut Call<'_>) -> Flow {
    if parse_cursor(c.args[2]).is_none() {
        reply::error(c.out, b"ERR invalid cursor");
        return Flow::Reply;
    }
    let mut part = part!(c);
    let Some(found) = read_or_reply::<T>(&mut part, c.args[1], c.now, c.out) else {
        return Flow::Reply;
    };
    let mut items = Vec::new();
    if let Some(collection) = found {
        // Options are read once the key is found, as Redis reads them.
        let options = match Options::parse(&c.args[3..], false) {
            Ok(options) => options,
            Err(message) => {
                reply::error(c.out, message);
                return Flow::Reply;
            }
        };
        collection.items(&mut items);
        if let Some(pattern) = options.pattern {
            items.retain(|(name, _)| glob::matches(pattern, name, false));
        }
    }
    let elements: usize = items
        .iter()
        .map(|(_, v)| 1 + usize::from(v.is_some()))
        .sum();
    reply::array(c.out, 2);
    reply::bulk(c.out, b"0");
    reply::array(c.out, elements);
    for (name, value) in &items {
        reply::bulk(c.out, name);
        if let Some(value) = value {
            reply::bulk(c.out, value);
        }
    }
    Flow::Reply
}

pub fn sscan(c: &mut Call<'_>) -> Flow {
    scan::<Set>(c)
}

pub fn hscan(c: &mut Call<'_>) -> Flow {
    scan::<Hash>(c)
}

pub fn zscan(c: &mut Call<'_>) -> Flow {
    scan::<ZSet>(c)
}
