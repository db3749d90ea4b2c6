//! Connection commands: PING, ECHO, QUIT, CLIENT, SELECT.

use pincore_resp::reply;

use super::{printable, wrong_arity, Call, Flow};

pub fn ping(c: &mut Call<'_>) -> Flow {
    match c.args {
        [_] => reply::simple(c.out, b"PONG"),
        [_, message] => reply::bulk(c.out, message),
        _ => return wrong_arity(c, "ping"),
    }
    Flow::Reply
}

pub fn echo(c: &mut Call<'_>) -> Flow {
    reply::bulk(c.out, c.args[1]);
    Flow::Reply
}

pub fn quit(c: &mut Call<'_>) -> Flow {
    reply::simple(c.out, b"OK");
    Flow::Close
}

pub fn select(c: &mut Call<'_>) -> Flow {
    if c.args[1] == b"0" {
        reply::simple(c.out, b"OK");
    } else {
        reply::error(c.out, b"ERR DB index is out of range");
    }
    Flow::Reply
}

pub fn client(c: &mut Call<'_>) -> Flow {
    let (args, out) = (c.args, &mut *c.out);
    let sub = args[1];
    if sub.eq_ignore_ascii_case(b"SETNAME") && args.len() == 3 {
        if args[2].iter().any(|&b| b <= b' ' || b > b'~') {
            reply::error(
                out,
                b"ERR Client names cannot contain spaces, newlines or special characters.",
            );
            return Flow::Reply;
        }
        c.session.name = (!args[2].is_empty()).then(|| args[2].to_vec());
        reply::simple(out, b"OK");
    } else if sub.eq_ignore_ascii_case(b"GETNAME") && args.len() == 2 {
        match &c.session.name {
            Some(name) => reply::bulk(out, name),
            None => reply::null(out),
        }
    } else if sub.eq_ignore_ascii_case(b"SETINFO") && args.len() == 4 {
        reply::simple(out, b"OK");
    } else {
        let text = format!(
            "ERR unknown subcommand or wrong number of arguments for 'CLIENT|{}'",
            printable(sub)
        );
        reply::error(out, text.as_bytes());
    }
    Flow::Reply
}
