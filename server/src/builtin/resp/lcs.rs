//! LCS: the longest common subsequence of two strings, with the matching ranges, as Redis 7.0's
//! `lcsCommand` computes it (the same dynamic-programming table and the same walk back through it, so the
//! ranges reported are Redis's among the equally long answers).
//!
//! The table holds (len1 + 1) × (len2 + 1) 32-bit cells. Redis refuses only tables over
//! `proto-max-bulk-len` (512 MB); pincore refuses tables over [`MAX_TABLE_BYTES`], so one command can make
//! the server allocate at most 32 MiB and hold its shard for tens of milliseconds, not gigabytes and
//! seconds.

use pincore_resp::reply::{self, Protocol};

/// The largest table LCS builds: two 2,900-byte values, or a 100-byte and an 83,000-byte one.
pub const MAX_TABLE_BYTES: u64 = 32 << 20;

/// What LCS replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// LEN: the length only.
    pub len: bool,
    /// IDX: the matching ranges and the length.
    pub idx: bool,
    /// MINMATCHLEN: ranges shorter than this are left out.
    pub min_match_len: u64,
    /// WITHMATCHLEN: each range with its length.
    pub with_match_len: bool,
}

/// Why LCS cannot answer.
pub fn too_large(a: usize, b: usize) -> Option<String> {
    let cells = (a as u64)
        .saturating_add(1)
        .saturating_mul((b as u64).saturating_add(1));
    let bytes = cells.saturating_mul(4);
    (bytes > MAX_TABLE_BYTES).then(|| {
        format!("ERR LCS of values of {a} and {b} bytes needs a {bytes}-byte table, over pincore-server's bound of {MAX_TABLE_BYTES} bytes")
    })
}

/// Computes the LCS of `a` and `b` and writes the reply `options` ask for. The caller checked
/// [`too_large`].
pub fn reply(a: &[u8], b: &[u8], options: Options, protocol: Protocol, out: &mut Vec<u8>) {
    let (alen, blen) = (a.len(), b.len());
    let width = blen + 1;
    let mut table = vec![0u32; (alen + 1) * width];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let lcs = |i: usize, j: usize| table[i * width + j];
    let total = lcs(alen, blen);
    if options.len && !options.idx {
        return reply::integer(out, i64::from(total));
    }
    let mut result = vec![0u8; total as usize];
    let mut ranges: Vec<[usize; 4]> = Vec::new();
    let mut idx = total as usize;
    // (a start, a end, b start, b end) of the range being walked; `a_start == alen` means none.
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0, 0, 0);
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == alen {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if lcs(i - 1, j) > lcs(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        if emit {
            let len = a_end - a_start + 1;
            if options.min_match_len == 0 || len as u64 >= options.min_match_len {
                ranges.push([a_start, a_end, b_start, b_end]);
            }
            a_start = alen;
        }
    }
    if !options.idx {
        return reply::bulk(out, &result);
    }
    reply::map(out, protocol, 2);
    reply::bulk(out, b"matches");
    reply::array(out, ranges.len());
    for [a_start, a_end, b_start, b_end] in ranges {
        reply::array(out, if options.with_match_len { 3 } else { 2 });
        reply::array(out, 2);
        reply::integer(out, a_start as i64);
        reply::integer(out, a_end as i64);
        reply::array(out, 2);
        reply::integer(out, b_start as i64);
        reply::integer(out, b_end as i64);
        if options.with_match_len {
            reply::integer(out, (a_end - a_start + 1) as i64);
        }
    }
    reply::bulk(out, b"len");
    reply::integer(out, i64::from(total));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &str, b: &str, options: Options) -> String {
        let mut out = Vec::new();
        reply(
            a.as_bytes(),
            b.as_bytes(),
            options,
            Protocol::Resp2,
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn answers_as_redis_documents() {
        let (a, b) = ("ohmytext", "mynewtext");
        assert_eq!(run(a, b, Options::default()), "$6\r\nmytext\r\n");
        let len = Options {
            len: true,
            ..Options::default()
        };
        assert_eq!(run(a, b, len), ":6\r\n");
        let idx = Options {
            idx: true,
            min_match_len: 4,
            with_match_len: true,
            ..Options::default()
        };
        assert_eq!(
            run(a, b, idx),
            "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
        );
        assert_eq!(run("", "abc", Options::default()), "$0\r\n\r\n");
    }

    #[test]
    fn large_tables_are_refused_before_allocating() {
        assert!(too_large(100, 100).is_none());
        assert!(too_large(3000, 3000).is_some());
        assert!(too_large(usize::MAX, usize::MAX).is_some());
    }
}
