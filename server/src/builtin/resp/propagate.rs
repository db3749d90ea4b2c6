//! What a command that changed the keyspace propagates to the feed ([`super::feed`]), as Redis 7.0's
//! `rewriteClientCommandVector` and `alsoPropagate` calls make it: relative TTLs become absolute, pops that
//! block or pick their key become plain pops, results that depend on chance or arithmetic become the values
//! they produced. [`rewrite`] is pure: the command's arguments, its reply and what its keys look like
//! afterwards are all it needs; [`of`] reads those under the parts the command held.

use std::time::Instant;

use pincore_resp::{parse_reply, Limits, Reply};

use super::expiry::Clock;
use super::feed::Command;
use super::keyspace::{self, Keyspace, Locked};

/// Changes made to the held parts so far (see [`super::store::Store::changes`]).
pub fn changes(held: &mut Locked<'_>) -> u64 {
    let mut sum = 0u64;
    held.for_each_store(|s| sum = sum.wrapping_add(s.changes));
    sum
}

/// What a command that ran on `held` (which had made `before` [`changes`]) propagates: nothing if it changed
/// nothing (FLUSHALL and FLUSHDB always, as Redis), else its [`rewrite`] by what its key looks like now.
pub fn of(
    held: &mut Locked<'_>,
    before: u64,
    name: &str,
    args: &[&[u8]],
    reply: &[u8],
    now: Instant,
) -> Vec<Command> {
    let changed = changes(held) != before && !answered_no_change(name, reply);
    if !changed && !effective_all_the_same(name, args, reply) {
        return Vec::new();
    }
    let clock = Clock::now();
    let mut afterwards = |key: &[u8]| {
        let deadline = held.try_store(key)?.deadline_of(key, now)?;
        Some(deadline.map(|at| clock.unix_ms_of(at)))
    };
    rewrite(name, args, reply, &mut afterwards)
}

/// Writes Redis propagates even when they leave the keyspace as it was: FLUSHALL and FLUSHDB always, and a
/// TTL set to the deadline the key already had (EXPIRE 100 then PEXPIRE 100000 in the same millisecond).
fn effective_all_the_same(name: &str, args: &[&[u8]], reply: &[u8]) -> bool {
    match name {
        "flushall" | "flushdb" => true,
        "expire" | "pexpire" | "expireat" | "pexpireat" => reply == b":1\r\n",
        "getex" => {
            let sets_ttl = args
                .iter()
                .skip(2)
                .any(|a| is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"));
            sets_ttl && reply.starts_with(b"$") && !reply.starts_with(b"$-1")
        }
        _ => false,
    }
}

/// Writes whose `:0` says they changed nothing, though the store was touched (a collection is opened for
/// change before it is known whether the member is there): Redis propagates none of them.
fn answered_no_change(name: &str, reply: &[u8]) -> bool {
    reply == b":0\r\n"
        && matches!(
            name,
            "sadd"
                | "srem"
                | "smove"
                | "hsetnx"
                | "hdel"
                | "zrem"
                | "lrem"
                | "setnx"
                | "msetnx"
                | "persist"
        )
}

/// Propagates what the held parts expired or evicted on their own, before the commands that found them so.
pub fn dropped(keyspace: &Keyspace, held: &mut Locked<'_>) {
    held.for_each_store(|store| {
        if !store.dropped.is_empty() {
            keyspace::propagate_dropped(&keyspace.feed, store);
        }
    });
}

/// What a key looks like after the command: `None` when it is missing, else its deadline in Unix ms.
pub type Afterwards<'a> = &'a mut dyn FnMut(&[u8]) -> Option<Option<i64>>;

fn command(parts: &[&[u8]]) -> Command {
    parts.iter().map(|p| p.to_vec()).collect()
}

fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// The reply, parsed; replies the server made itself are well formed, and anything else propagates as is.
fn parsed(reply: &[u8]) -> Option<Reply<'_>> {
    let limits = Limits {
        max_bulk_len: usize::MAX,
        max_array_len: usize::MAX,
        max_inline_len: usize::MAX,
    };
    parse_reply(reply, &limits).ok().flatten().map(|(r, _)| r)
}

fn bulks<'r>(reply: &'r Reply<'_>) -> Vec<&'r [u8]> {
    match reply {
        Reply::Array(Some(items)) | Reply::Set(items) | Reply::Push(items) => {
            items.iter().filter_map(bulk).collect()
        }
        _ => Vec::new(),
    }
}

fn bulk<'r>(reply: &'r Reply<'_>) -> Option<&'r [u8]> {
    match reply {
        Reply::Bulk(Some(b)) | Reply::Simple(b) | Reply::Double(b) => Some(b),
        _ => None,
    }
}

/// A key's absolute deadline as PXAT/PEXPIREAT take it, or DEL when the command left it missing.
fn absolute(key: &[u8], afterwards: Afterwards<'_>) -> Result<Vec<u8>, Command> {
    match afterwards(key) {
        Some(Some(ms)) => Ok(ms.to_string().into_bytes()),
        _ => Err(command(&[b"DEL", key])),
    }
}

/// The element count a pop replied with: `[key, [elements...]]` (LMPOP, ZMPOP and their blocking forms).
fn popped(reply: &[u8]) -> Option<(Vec<u8>, usize)> {
    match parsed(reply)? {
        Reply::Array(Some(items)) if items.len() == 2 => {
            let key = bulk(&items[0])?.to_vec();
            match &items[1] {
                Reply::Array(Some(popped)) => Some((key, popped.len())),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The commands that `args` (the name first, as sent), which changed the keyspace and answered `reply`,
/// propagates; `afterwards` reads a key as the command left it.
pub fn rewrite(
    name: &str,
    args: &[&[u8]],
    reply: &[u8],
    afterwards: Afterwards<'_>,
) -> Vec<Command> {
    let key = args.get(1).copied().unwrap_or_default();
    match name {
        "set" => {
            // An absolute deadline goes as given (even one already past, as Redis), a relative one as the
            // deadline it set.
            let option = args
                .iter()
                .enumerate()
                .skip(3)
                .find(|(_, a)| is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"));
            if let Some((at, option)) = option {
                let given = args
                    .get(at + 1)
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok());
                let ms = match given {
                    Some(ms) if is(option, "pxat") => Ok(ms.to_string().into_bytes()),
                    Some(s) if is(option, "exat") => {
                        Ok(s.saturating_mul(1000).to_string().into_bytes())
                    }
                    _ => absolute(key, afterwards),
                };
                return match ms {
                    Ok(ms) => vec![command(&[b"SET", key, args[2], b"PXAT", &ms])],
                    Err(del) => vec![del],
                };
            }
            // Without the GET option (which may be repeated), as Redis propagates it.
            let kept: Vec<&[u8]> = args
                .iter()
                .enumerate()
                .filter(|(i, a)| *i < 3 || !is(a, "get"))
                .map(|(_, a)| *a)
                .collect();
            vec![command(&kept)]
        }
        "setex" | "psetex" => match absolute(key, afterwards) {
            Ok(ms) => vec![command(&[b"SET", key, args[3], b"PXAT", &ms])],
            Err(del) => vec![del],
        },
        "expire" | "pexpire" | "expireat" | "pexpireat" => match absolute(key, afterwards) {
            Ok(ms) => {
                let mut rewritten = command(&[b"PEXPIREAT", key, &ms]);
                rewritten.extend(args.iter().skip(3).map(|a| a.to_vec()));
                vec![rewritten]
            }
            Err(del) => vec![del],
        },
        "getex" => {
            let persist = args.iter().skip(2).any(|a| is(a, "persist"));
            match afterwards(key) {
                None => vec![command(&[b"DEL", key])],
                Some(None) if persist => vec![command(&[b"PERSIST", key])],
                Some(Some(ms)) => {
                    vec![command(&[b"PEXPIREAT", key, ms.to_string().as_bytes()])]
                }
                Some(None) => Vec::new(),
            }
        }
        "getdel" => vec![command(&[b"DEL", key])],
        "getset" => vec![command(&[b"SET", key, args[2]])],
        "incrbyfloat" => match parsed(reply).as_ref().and_then(bulk) {
            Some(value) => vec![command(&[b"SET", key, value, b"KEEPTTL"])],
            None => vec![command(args)],
        },
        "hincrbyfloat" => match parsed(reply).as_ref().and_then(bulk) {
            Some(value) => vec![command(&[b"HSET", key, args[2], value])],
            None => vec![command(args)],
        },
        "spop" => {
            if afterwards(key).is_none() && args.len() > 2 {
                return vec![command(&[b"DEL", key])];
            }
            let Some(reply) = parsed(reply) else {
                return vec![command(args)];
            };
            let members = match &reply {
                Reply::Bulk(Some(member)) => vec![*member],
                other => bulks(other),
            };
            members
                .into_iter()
                .map(|m| command(&[b"SREM", key, m]))
                .collect()
        }
        "blpop" | "brpop" => match parsed(reply).map(|r| bulks(&r).first().map(|k| k.to_vec())) {
            Some(Some(popped_from)) => {
                let pop: &[u8] = if name == "blpop" { b"LPOP" } else { b"RPOP" };
                vec![command(&[pop, &popped_from])]
            }
            _ => Vec::new(),
        },
        "bzpopmin" | "bzpopmax" => {
            match parsed(reply).map(|r| bulks(&r).first().map(|k| k.to_vec())) {
                Some(Some(popped_from)) => {
                    let pop: &[u8] = if name == "bzpopmin" {
                        b"ZPOPMIN"
                    } else {
                        b"ZPOPMAX"
                    };
                    vec![command(&[pop, &popped_from])]
                }
                _ => Vec::new(),
            }
        }
        "lmpop" | "blmpop" | "zmpop" | "bzmpop" => {
            let Some((popped_from, count)) = popped(reply) else {
                return Vec::new();
            };
            // The direction follows the keys: `[timeout] numkeys key... LEFT|RIGHT|MIN|MAX`.
            let numkeys_at = if name.starts_with('b') { 2 } else { 1 };
            let direction = args
                .get(numkeys_at)
                .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
                .and_then(|n| args.get(numkeys_at + 1 + n));
            let from_left = direction.is_some_and(|d| is(d, "left") || is(d, "min"));
            let pop: &[u8] = match (name.starts_with('z') || name.starts_with("bz"), from_left) {
                (false, true) => b"LPOP",
                (false, false) => b"RPOP",
                (true, true) => b"ZPOPMIN",
                (true, false) => b"ZPOPMAX",
            };
            vec![command(&[pop, &popped_from, count.to_string().as_bytes()])]
        }
        "blmove" => vec![command(&[b"LMOVE", args[1], args[2], args[3], args[4]])],
        // The TTL as an absolute time, as Redis's RESTORE propagates it.
        "restore" => {
            let relative = !args.iter().skip(4).any(|a| is(a, "absttl"));
            let ttl = std::str::from_utf8(args[2])
                .ok()
                .and_then(|t| t.parse::<i64>().ok());
            match (relative, ttl, afterwards(key)) {
                (true, Some(ttl), Some(Some(ms))) if ttl > 0 => {
                    let mut rewritten = command(&[b"RESTORE", key, ms.to_string().as_bytes()]);
                    rewritten.extend(args.iter().skip(3).map(|a| a.to_vec()));
                    rewritten.push(b"ABSTTL".to_vec());
                    vec![rewritten]
                }
                _ => vec![command(args)],
            }
        }
        "brpoplpush" => vec![command(&[b"RPOPLPUSH", args[1], args[2]])],
        _ => vec![command(args)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(commands: &[Command]) -> Vec<String> {
        commands
            .iter()
            .map(|c| {
                c.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    fn run(args: &[&str], reply: &[u8], after: Option<Option<i64>>) -> Vec<String> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let name = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
        words(&rewrite(&name, &args, reply, &mut |_| after))
    }

    #[test]
    fn relative_ttls_become_absolute() {
        let at = Some(Some(1_700_000_000_123));
        assert_eq!(
            run(&["SET", "k", "v", "EX", "10"], b"+OK\r\n", at),
            ["SET k v PXAT 1700000000123"]
        );
        assert_eq!(
            run(&["set", "k", "v", "nx", "px", "5"], b"+OK\r\n", at),
            ["SET k v PXAT 1700000000123"]
        );
        assert_eq!(
            run(&["SETEX", "k", "10", "v"], b"+OK\r\n", at),
            ["SET k v PXAT 1700000000123"]
        );
        assert_eq!(
            run(&["PSETEX", "k", "10", "v"], b"+OK\r\n", at),
            ["SET k v PXAT 1700000000123"]
        );
        assert_eq!(
            run(&["EXPIRE", "k", "10", "NX"], b":1\r\n", at),
            ["PEXPIREAT k 1700000000123 NX"]
        );
        assert_eq!(
            run(&["EXPIREAT", "k", "10"], b":1\r\n", at),
            ["PEXPIREAT k 1700000000123"]
        );
        assert_eq!(
            run(&["PEXPIRE", "k", "10"], b":1\r\n", at),
            ["PEXPIREAT k 1700000000123"]
        );
        assert_eq!(
            run(&["GETEX", "k", "EX", "10"], b"$1\r\nv\r\n", at),
            ["PEXPIREAT k 1700000000123"]
        );
    }

    #[test]
    fn a_deadline_in_the_past_is_a_del() {
        assert_eq!(run(&["EXPIRE", "k", "-1"], b":1\r\n", None), ["DEL k"]);
        assert_eq!(
            run(&["GETEX", "k", "PXAT", "1"], b"$1\r\nv\r\n", None),
            ["DEL k"]
        );
        assert_eq!(
            run(&["SET", "k", "v", "PXAT", "1"], b"+OK\r\n", None),
            ["SET k v PXAT 1"]
        );
        assert_eq!(
            run(&["SET", "k", "v", "EXAT", "2"], b"+OK\r\n", None),
            ["SET k v PXAT 2000"]
        );
    }

    #[test]
    fn getex_persist_getdel_getset_and_set_get() {
        assert_eq!(
            run(&["GETEX", "k", "PERSIST"], b"$1\r\nv\r\n", Some(None)),
            ["PERSIST k"]
        );
        assert!(run(&["GETEX", "k"], b"$1\r\nv\r\n", Some(None)).is_empty());
        assert_eq!(run(&["GETDEL", "k"], b"$1\r\nv\r\n", None), ["DEL k"]);
        assert_eq!(
            run(&["GETSET", "k", "w"], b"$1\r\nv\r\n", Some(None)),
            ["SET k w"]
        );
        assert_eq!(
            run(&["SET", "k", "w", "GET"], b"$1\r\nv\r\n", Some(None)),
            ["SET k w"]
        );
    }

    #[test]
    fn float_increments_become_their_results() {
        assert_eq!(
            run(&["INCRBYFLOAT", "k", "1.5"], b"$3\r\n2.5\r\n", Some(None)),
            ["SET k 2.5 KEEPTTL"]
        );
        assert_eq!(
            run(
                &["HINCRBYFLOAT", "h", "f", "1.5"],
                b"$3\r\n2.5\r\n",
                Some(None)
            ),
            ["HSET h f 2.5"]
        );
    }

    #[test]
    fn pops_become_plain_pops_with_counts() {
        let two = b"*2\r\n$1\r\nl\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n";
        assert_eq!(
            run(
                &["LMPOP", "2", "x", "l", "LEFT", "COUNT", "5"],
                two,
                Some(None)
            ),
            ["LPOP l 2"]
        );
        assert_eq!(
            run(&["BLMPOP", "0", "1", "l", "RIGHT"], two, Some(None)),
            ["RPOP l 2"]
        );
        assert_eq!(
            run(&["ZMPOP", "1", "l", "MIN", "COUNT", "9"], two, Some(None)),
            ["ZPOPMIN l 2"]
        );
        assert_eq!(
            run(&["BZMPOP", "0", "1", "l", "MAX"], two, Some(None)),
            ["ZPOPMAX l 2"]
        );
        let kv = b"*2\r\n$1\r\nl\r\n$1\r\na\r\n";
        assert_eq!(run(&["BLPOP", "x", "l", "0"], kv, Some(None)), ["LPOP l"]);
        assert_eq!(run(&["BRPOP", "l", "0"], kv, Some(None)), ["RPOP l"]);
        let kms = b"*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n";
        assert_eq!(run(&["BZPOPMIN", "z", "0"], kms, Some(None)), ["ZPOPMIN z"]);
        assert_eq!(
            run(
                &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"],
                b"$1\r\nx\r\n",
                Some(None)
            ),
            ["LMOVE a b LEFT RIGHT"]
        );
        assert_eq!(
            run(&["BRPOPLPUSH", "a", "b", "0"], b"$1\r\nx\r\n", Some(None)),
            ["RPOPLPUSH a b"]
        );
    }

    #[test]
    fn spop_becomes_srem_or_del() {
        assert_eq!(
            run(&["SPOP", "s"], b"$1\r\nx\r\n", Some(None)),
            ["SREM s x"]
        );
        assert_eq!(
            run(
                &["SPOP", "s", "2"],
                b"*2\r\n$1\r\nx\r\n$1\r\ny\r\n",
                Some(None)
            ),
            ["SREM s x", "SREM s y"]
        );
        assert_eq!(
            run(&["SPOP", "s", "9"], b"*1\r\n$1\r\nx\r\n", None),
            ["DEL s"]
        );
    }

    #[test]
    fn restore_ttls_become_absolute() {
        let at = Some(Some(1_700_000_000_123));
        assert_eq!(
            run(&["RESTORE", "k", "100", "P", "REPLACE"], b"+OK\r\n", at),
            ["RESTORE k 1700000000123 P REPLACE ABSTTL"]
        );
        assert_eq!(
            run(&["RESTORE", "k", "0", "P"], b"+OK\r\n", Some(None)),
            ["RESTORE k 0 P"]
        );
        assert_eq!(
            run(&["RESTORE", "k", "5", "P", "ABSTTL"], b"+OK\r\n", at),
            ["RESTORE k 5 P ABSTTL"]
        );
    }

    #[test]
    fn a_ttl_set_again_to_the_same_deadline_still_counts() {
        assert!(effective_all_the_same(
            "pexpire",
            &[b"PEXPIRE", b"k", b"100"],
            b":1\r\n"
        ));
        assert!(!effective_all_the_same(
            "pexpire",
            &[b"PEXPIRE", b"k", b"100"],
            b":0\r\n"
        ));
        assert!(effective_all_the_same(
            "getex",
            &[b"GETEX", b"k", b"PX", b"9"],
            b"$1\r\nv\r\n"
        ));
        assert!(!effective_all_the_same(
            "getex",
            &[b"GETEX", b"k"],
            b"$1\r\nv\r\n"
        ));
        assert!(!effective_all_the_same(
            "getex",
            &[b"GETEX", b"k", b"EX", b"9"],
            b"$-1\r\n"
        ));
        assert!(effective_all_the_same(
            "flushall",
            &[b"FLUSHALL"],
            b"+OK\r\n"
        ));
    }

    #[test]
    fn a_zero_answer_is_no_change_only_where_it_means_so() {
        assert!(answered_no_change("sadd", b":0\r\n"));
        assert!(answered_no_change("hsetnx", b":0\r\n"));
        assert!(!answered_no_change("sadd", b":1\r\n"));
        // HSET and ZADD answer the fields or members added; updating existing ones is a change.
        assert!(!answered_no_change("hset", b":0\r\n"));
        assert!(!answered_no_change("zadd", b":0\r\n"));
    }

    #[test]
    fn other_writes_propagate_as_sent() {
        assert_eq!(
            run(&["HSET", "h", "f", "v"], b":1\r\n", Some(None)),
            ["HSET h f v"]
        );
    }
}
