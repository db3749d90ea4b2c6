//! Commands pincore-server deliberately does not have: scripting, modules and becoming a replica (it is a
//! master: replicas attach to it with SYNC or PSYNC, see `replication.rs`). Each answers one
//! error in one form, `ERR pincore-server does not support <what> (<COMMAND>)`,
//! so a client or an operator learns at once that the feature is absent rather than misspelt. The one
//! exception is FUNCTION FLUSH, which answers `+OK`: there is never a function to flush, and Redis's own
//! test suite calls it between tests.

use pincore_resp::reply;

use super::{Call, Flow};

/// The feature a declined command belongs to.
fn feature(name: &str) -> &'static str {
    match name {
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "script" | "function" | "fcall"
        | "fcall_ro" => "scripting",
        "module" => "modules",
        _ => "becoming a replica: it is a master only (replicas attach to it with SYNC or PSYNC)",
    }
}

pub fn declined(c: &mut Call<'_>) -> Flow {
    let name = String::from_utf8_lossy(c.args[0]).to_ascii_lowercase();
    if name == "function"
        && c.args[1].eq_ignore_ascii_case(b"FLUSH")
        && c.args.len() <= 3
        && c.args.get(2).is_none_or(|mode| {
            mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC")
        })
    {
        reply::simple(c.out, b"OK");
        return Flow::Reply;
    }
    let text = format!(
        "ERR pincore-server does not support {} ({})",
        feature(&name),
        name.to_ascii_uppercase()
    );
    reply::error(c.out, text.as_bytes());
    Flow::Reply
}
