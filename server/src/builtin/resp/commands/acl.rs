//! ACL SETUSER, DELUSER, GETUSER, LIST, USERS, CAT, WHOAMI, GENPASS, DRYRUN and HELP, as Redis 7.0
//! answers them, over the shared users of [`crate::builtin::resp::acl`]. SAVE and LOAD are refused: users
//! made at run time live in memory only (the configuration file holds the lasting ones).

use pincore_resp::reply;

use super::{help, lookup, printable, subcommand, Call, Flow, COMMANDS};
use crate::builtin::resp::acl::{in_category, CATEGORIES};

const ACL_HELP: [&str; 18] = [
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes (kept in memory: a restart forgets it).",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

/// ACL and its subcommands.
pub fn acl(c: &mut Call<'_>) -> Flow {
    let table = [
        ("help", 2),
        ("setuser", -3),
        ("deluser", -3),
        ("getuser", 3),
        ("list", 2),
        ("users", 2),
        ("cat", -2),
        ("whoami", 2),
        ("genpass", -2),
        ("dryrun", -4),
        ("save", 2),
        ("load", 2),
        ("log", -2),
    ];
    let Some(sub) = subcommand(c, "acl", &table) else {
        return Flow::Reply;
    };
    let users = &c.resp.acl;
    let (args, out, protocol) = (c.args, &mut *c.out, c.session.protocol);
    match sub {
        "help" => help(out, "ACL", &ACL_HELP),
        "whoami" => reply::bulk(out, &c.session.client.user_name()),
        "setuser" => match users.set_user(args[2], &args[3..]) {
            Ok(()) => reply::simple(out, b"OK"),
            Err(text) => reply::error(out, text.as_bytes()),
        },
        "deluser" => match users.delete(&args[2..]) {
            Ok(n) => reply::integer(out, n as i64),
            Err(text) => reply::error(out, text.as_bytes()),
        },
        "getuser" => match users.user(args[2]) {
            None => reply::nil(out, protocol),
            Some(user) => {
                reply::map(out, protocol, 6);
                reply::bulk(out, b"flags");
                let mut flags: Vec<&[u8]> = vec![if user.enabled { b"on" } else { b"off" }];
                if user.nopass {
                    flags.push(b"nopass");
                }
                reply::array(out, flags.len());
                flags.iter().for_each(|f| reply::bulk(out, f));
                reply::bulk(out, b"passwords");
                let hashes = user.password_hashes();
                reply::array(out, hashes.len());
                hashes.iter().for_each(|h| reply::bulk(out, h.as_bytes()));
                for (field, text) in [
                    (&b"commands"[..], user.commands_text()),
                    (b"keys", user.keys_text()),
                    (b"channels", user.channels_text()),
                ] {
                    reply::bulk(out, field);
                    reply::bulk(out, text.as_bytes());
                }
                reply::bulk(out, b"selectors");
                reply::array(out, 0);
            }
        },
        "list" => {
            let all = users.users();
            reply::array(out, all.len());
            all.iter()
                .for_each(|u| reply::bulk(out, u.describe().as_bytes()));
        }
        "users" => {
            let all = users.users();
            reply::array(out, all.len());
            all.iter().for_each(|u| reply::bulk(out, &u.name));
        }
        "cat" => cat(args, out),
        "genpass" => genpass(args, out),
        "dryrun" => dryrun(c),
        "save" | "load" => reply::error(
            out,
            b"ERR pincore-server keeps no ACL file: users made with ACL SETUSER live in memory; lasting ones belong in services.resp.settings.users",
        ),
        _ => reply::error(
            out,
            b"ERR pincore-server keeps no ACL LOG: refused commands are counted in pincore_errors_total{reason=\"noperm\"}",
        ),
    }
    Flow::Reply
}

/// ACL CAT [category]: the categories, or the commands in one.
fn cat(args: &[&[u8]], out: &mut Vec<u8>) {
    let Some(category) = args.get(2) else {
        reply::array(out, CATEGORIES.len());
        CATEGORIES
            .iter()
            .for_each(|c| reply::bulk(out, c.as_bytes()));
        return;
    };
    let category = String::from_utf8_lossy(category).to_ascii_lowercase();
    if !CATEGORIES.contains(&category.as_str()) {
        let text = format!("ERR Unknown category '{}'", printable(args[2]));
        reply::error(out, text.as_bytes());
        return;
    }
    let names: Vec<&str> = COMMANDS
        .iter()
        .filter(|spec| in_category(spec, &category))
        .map(|spec| spec.name)
        .collect();
    reply::array(out, names.len());
    names.iter().for_each(|n| reply::bulk(out, n.as_bytes()));
}

/// ACL GENPASS [bits]: random hex from the kernel (`/dev/urandom`), 256 bits unless told (at most 4096, as in Redis).
fn genpass(args: &[&[u8]], out: &mut Vec<u8>) {
    let bits = match args.get(2) {
        None => 256,
        Some(text) => match std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<usize>().ok())
        {
            Some(bits) if (1..=4096).contains(&bits) => bits,
            _ => {
                reply::error(
                    out,
                    b"ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096",
                );
                return;
            }
        },
    };
    let mut bytes = vec![0u8; bits.div_ceil(8)];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if random.is_err() {
        reply::error(out, b"ERR the operating system gave no random bytes");
        return;
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    reply::bulk(out, &hex.as_bytes()[..bits.div_ceil(4)]);
}

/// ACL DRYRUN user command [arg ...]: whether the user may run it, as the check before every command says.
fn dryrun(c: &mut Call<'_>) {
    let args = c.args;
    let Some(user) = c.resp.acl.user(args[2]) else {
        let text = format!("ERR User '{}' not found", printable(args[2]));
        reply::error(c.out, text.as_bytes());
        return;
    };
    let index = lookup(args[3]);
    let Some(spec) = COMMANDS.get(index) else {
        let text = format!("ERR Command '{}' not found", printable(args[3]));
        reply::error(c.out, text.as_bytes());
        return;
    };
    let command = &args[3..];
    if !spec.arity_ok(command.len()) {
        let text = format!("ERR wrong number of arguments for '{}' command", spec.name);
        reply::error(c.out, text.as_bytes());
        return;
    }
    let name = spec.name;
    match user.check(index, spec, name, command) {
        Ok(()) => reply::simple(c.out, b"OK"),
        Err(denied) => {
            let text = match denied {
                crate::builtin::resp::acl::Denied::Command(name) => {
                    format!("This user has no permissions to run the '{name}' command")
                }
                crate::builtin::resp::acl::Denied::Key => {
                    "This user has no permissions to access one of the keys used as arguments"
                        .into()
                }
                crate::builtin::resp::acl::Denied::Channel => {
                    "This user has no permissions to access one of the channels used as arguments"
                        .into()
                }
            };
            reply::bulk(c.out, text.as_bytes());
        }
    }
}
