//! A sorted set: members ordered by (score, member bytes). Up to `zset-max-listpack-entries` members of at
//! most `zset-max-listpack-value` bytes (see [`super::encodings`]) it is one sorted vector (Redis's listpack: a binary search finds a score's place,
//! ranks are indexes); past either bound it becomes an order-statistic B-tree ordered by (score, member) and a
//! hash table of members, sharing each member's one block of score and bytes ([`large`]), for good. The tree's
//! nodes count the members beneath them, as Redis's skiplist keeps spans, so a rank (ZRANK) and the member at
//! a rank (ZRANGE by index) are found in O(log n).

mod large;

use large::Large;

use super::{element, encodings};
use pincore_resp::reply::{self, Protocol};

type Bytes = Box<[u8]>;

/// A score with a total order (scores are never NaN, and zero is kept as +0).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Score(f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[derive(Debug, Clone)]
enum Entries {
    Small(Vec<(f64, Bytes)>),
    // Boxed so that the set stays small (see the size test in `types`); the large form is for big sets,
    // where one more pointer hop is nothing.
    Large(Box<Large>),
}

#[derive(Debug, Clone)]
pub struct ZSet {
    entries: Entries,
    /// The blocks of every member of the small form.
    heap: usize,
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet {
            entries: Entries::Small(Vec::new()),
            heap: 0,
        }
    }
}

/// The next larger f64 (`f64::next_up`, which the supported Rust lacks); for finite, non-NaN `x`.
fn next_up(x: f64) -> f64 {
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

/// Zero is kept as +0, so -0 and 0 are one score, as in Redis's comparisons.
fn normal(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

impl ZSet {
    /// Still in its compact form (see the module's documentation).
    pub fn is_compact(&self) -> bool {
        matches!(self.entries, Entries::Small(_))
    }

    pub fn len(&self) -> usize {
        match &self.entries {
            Entries::Small(v) => v.len(),
            Entries::Large(large) => large.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_large(&self) -> bool {
        matches!(self.entries, Entries::Large(_))
    }

    pub fn bytes(&self) -> usize {
        match &self.entries {
            Entries::Small(v) => self.heap + v.capacity() * std::mem::size_of::<(f64, Bytes)>(),
            Entries::Large(large) => large.bytes(),
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.entries {
            Entries::Small(v) => v.iter().find(|(_, m)| &**m == member).map(|(s, _)| *s),
            Entries::Large(large) => large.score(member),
        }
    }

    /// Sets `member`'s score; true if the member is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        let score = normal(score);
        if let Entries::Small(v) = &self.entries {
            let (max_entries, max_len) = encodings::zset();
            if member.len() > max_len || (v.len() >= max_entries && self.score(member).is_none()) {
                self.grow();
            }
        }
        let new = self.remove(member).is_none();
        match &mut self.entries {
            Entries::Small(v) => {
                let at = v.partition_point(|(s, m)| {
                    Score(*s) < Score(score) || (*s == score && &**m < member)
                });
                v.insert(at, (score, member.into()));
                self.heap += element(member.len());
            }
            Entries::Large(large) => large.insert(member, score),
        }
        new
    }

    fn grow(&mut self) {
        if let Entries::Small(v) = &mut self.entries {
            let mut large = Large::with_capacity(v.len() + 1);
            for (score, member) in v.drain(..) {
                large.insert(&member, score);
            }
            self.entries = Entries::Large(Box::new(large));
            self.heap = 0;
        }
    }

    /// Removes `member`; its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.entries {
            Entries::Small(v) => {
                let at = v.iter().position(|(_, m)| &**m == member)?;
                let (score, _) = v.remove(at);
                self.heap -= element(member.len());
                Some(score)
            }
            Entries::Large(large) => large.remove(member),
        }
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.entries {
            Entries::Small(v) => v.iter().position(|(_, m)| &**m == member),
            Entries::Large(large) => large.rank(member),
        }
    }

    /// The members from rank `rank` on, ascending, or with `reverse` from rank `rank` counted from the highest,
    /// descending: found in O(log n), not by walking past the ranks before it.
    pub fn from_rank(
        &self,
        rank: usize,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        let len = self.len();
        if rank >= len {
            return Box::new(std::iter::empty());
        }
        match &self.entries {
            Entries::Small(v) if reverse => {
                Box::new(v[..len - rank].iter().rev().map(|(s, m)| (&**m, *s)))
            }
            Entries::Small(v) => Box::new(v[rank..].iter().map(|(s, m)| (&**m, *s))),
            Entries::Large(large) => {
                large.at_rank(if reverse { len - 1 - rank } else { rank }, reverse)
            }
        }
    }

    /// Every member with its score, in ascending order (reversible).
    pub fn iter(&self) -> Box<dyn DoubleEndedIterator<Item = (&[u8], f64)> + '_> {
        match &self.entries {
            Entries::Small(v) => Box::new(v.iter().map(|(s, m)| (&**m, *s))),
            Entries::Large(large) => Box::new(large.iter()),
        }
    }

    /// The members with a score of at least `min`, ascending.
    pub fn from_score(&self, min: f64) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match &self.entries {
            Entries::Small(v) => {
                let at = v.partition_point(|(s, _)| *s < min);
                Box::new(v[at..].iter().map(|(s, m)| (&**m, *s)))
            }
            Entries::Large(large) if min == f64::NEG_INFINITY => Box::new(large.iter()),
            Entries::Large(large) => large.at_least(normal(min)),
        }
    }

    /// The members with a score of at most `max`, descending.
    pub fn to_score_rev(&self, max: f64) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match &self.entries {
            Entries::Small(v) => {
                let at = v.partition_point(|(s, _)| *s <= max);
                Box::new(v[..at].iter().rev().map(|(s, m)| (&**m, *s)))
            }
            Entries::Large(large) if max == f64::INFINITY => Box::new(large.iter().rev()),
            Entries::Large(large) => large.below_score_rev(next_up(max)),
        }
    }

    /// Removes and returns the lowest (`max` false) or highest member.
    pub fn pop(&mut self, max: bool) -> Option<(Vec<u8>, f64)> {
        let (member, score) = {
            let mut all = self.iter();
            let (m, s) = if max { all.next_back() } else { all.next() }?;
            (m.to_vec(), s)
        };
        self.remove(&member);
        Some((member, score))
    }
}

/// `value` as C's `%.17g` writes it (what Redis 7.0 replies with), `inf` and `-inf` as Redis spells them.
pub fn format_score(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.into();
    }
    if value == 0.0 {
        return "0".into();
    }
    let scientific = format!("{value:.16e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let trim = |text: &str| -> String {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').into()
        } else {
            text.into()
        }
    };
    if !(-4..17).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exponent.abs())
    } else {
        let decimals = (16 - exponent) as usize;
        trim(&format!("{value:.decimals$}"))
    }
}

/// A score reply: a bulk string in RESP2, a double in RESP3.
pub fn score_reply(out: &mut Vec<u8>, protocol: Protocol, value: f64) {
    let text = format_score(value);
    match protocol {
        Protocol::Resp2 => reply::bulk(out, text.as_bytes()),
        Protocol::Resp3 => {
            out.push(b',');
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default bounds (nothing in the unit tests changes them).
    const MAX_SMALL_ENTRIES: usize = 128;
    const MAX_SMALL_LEN: usize = 64;

    fn members(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    #[test]
    fn both_forms_order_alike_and_the_switch_keeps_every_member() {
        let mut small = ZSet::default();
        let mut large = ZSet::default();
        large.insert(&[b'x'; MAX_SMALL_LEN + 1], 0.5);
        assert!(large.is_large());
        for (i, score) in [3.0, -1.0, 3.0, f64::INFINITY, -0.0, 2.5]
            .into_iter()
            .enumerate()
        {
            let member = format!("m{}", 5 - i);
            small.insert(member.as_bytes(), score);
            large.insert(member.as_bytes(), score);
        }
        large.remove(&[b'x'; MAX_SMALL_LEN + 1]);
        assert!(!small.is_large());
        assert_eq!(members(&small), members(&large));
        assert_eq!(members(&small)[0], (b"m4".to_vec(), -1.0));
        assert_eq!(small.rank(b"m5"), large.rank(b"m5"));
        let from = |z: &ZSet| {
            z.from_score(2.5)
                .map(|(m, _)| m.to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(from(&small), from(&large));
        let to = |z: &ZSet| {
            z.to_score_rev(3.0)
                .map(|(m, _)| m.to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(to(&small), to(&large));
        assert_eq!(
            to(&small),
            [
                b"m5".to_vec(),
                b"m3".to_vec(),
                b"m0".to_vec(),
                b"m1".to_vec(),
                b"m4".to_vec()
            ]
        );

        for i in 0..MAX_SMALL_ENTRIES {
            small.insert(format!("n{i}").as_bytes(), i as f64);
        }
        assert!(small.is_large());
        assert_eq!(small.len(), MAX_SMALL_ENTRIES + 6);
        assert_eq!(small.score(b"m2"), Some(f64::INFINITY));
        assert_eq!(small.pop(false), Some((b"m4".to_vec(), -1.0)));
        assert_eq!(small.pop(true), Some((b"m2".to_vec(), f64::INFINITY)));
    }

    #[test]
    fn ranks_and_members_from_a_rank_agree_with_the_order_in_both_forms() {
        let mut small = ZSet::default();
        let mut large = ZSet::default();
        large.grow();
        // Scores repeat, so ties are ordered by member bytes; removals leave holes in the counts.
        for i in 0..100u32 {
            for z in [&mut small, &mut large] {
                z.insert(format!("m{i}").as_bytes(), f64::from(i % 7));
            }
        }
        for i in (0..100u32).step_by(3) {
            small.remove(format!("m{i}").as_bytes());
            large.remove(format!("m{i}").as_bytes());
        }
        assert!(!small.is_large() && large.is_large());
        let all = members(&small);
        assert_eq!(all, members(&large));
        for z in [&small, &large] {
            for (rank, (member, _)) in all.iter().enumerate() {
                assert_eq!(z.rank(member), Some(rank));
            }
            assert_eq!(z.rank(b"m0"), None);
            for rank in [0, 1, 30, all.len() - 1, all.len(), all.len() + 5] {
                let up: Vec<_> = z
                    .from_rank(rank, false)
                    .map(|(m, s)| (m.to_vec(), s))
                    .collect();
                assert_eq!(up, all[rank.min(all.len())..], "from rank {rank}");
                let down: Vec<_> = z
                    .from_rank(rank, true)
                    .map(|(m, s)| (m.to_vec(), s))
                    .collect();
                let mut want = all[..all.len().saturating_sub(rank)].to_vec();
                want.reverse();
                assert_eq!(down, want, "from rank {rank} down");
            }
        }
    }

    #[test]
    fn heap_bytes_follow_every_change() {
        let mut z = ZSet::default();
        z.insert(b"a", 1.0);
        z.insert(b"a", 2.0);
        z.insert(b"bb", 1.0);
        assert_eq!(z.heap, 2 * element(1));
        assert_eq!(z.remove(b"a"), Some(2.0));
        assert_eq!(z.remove(b"bb"), Some(1.0));
        assert_eq!(z.heap, 0);

        // The large form: one block of score and member each.
        z.grow();
        z.insert(b"a", 1.0);
        z.insert(b"a", 2.0);
        z.insert(b"bb", 1.0);
        let full = z.bytes();
        assert_eq!(z.remove(b"a"), Some(2.0));
        assert_eq!(z.bytes(), full - element(1 + 8 + 1) - large::TREE_ENTRY);
        assert_eq!(z.remove(b"bb"), Some(1.0));
        assert_eq!(
            z.bytes(),
            full - element(1 + 8 + 1) - element(1 + 8 + 2) - 2 * large::TREE_ENTRY
        );
    }
}
