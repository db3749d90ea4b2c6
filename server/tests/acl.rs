//! ACL users at run time on the wire: ACL SETUSER's rules checked on every command (command, keys,
//! channels) with Redis's `-NOPERM` words, a runtime user never turning authentication on for the open
//! `default` user, configured users kept across a SIGHUP that leaves them alone, DELUSER closing its user's
//! connections, RESET back to `default`, and the ACL subcommands' replies.

mod support;

use std::time::Duration;

use support::{Client, Server};

/// SHA-256 of `s3cret`, as `printf %s s3cret | sha256sum` prints it.
const S3CRET: &str = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";

const NOPERM_KEY: &str =
    "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";

#[test]
fn runtime_users_are_checked_on_every_command() {
    let server = Server::start();
    let mut admin = Client::connect(server.resp);
    assert_eq!(
        admin.line(
            "ACL SETUSER app on >pw ~app:* &news +@read +set +publish +subscribe +multi +exec"
        ),
        "+OK\r\n"
    );
    // The default user is still nopass: a new connection needs no AUTH.
    let mut other = Client::connect(server.resp);
    assert_eq!(other.line("SET app:1 v"), "+OK\r\n");
    let mut app = Client::connect(server.resp);
    assert!(app.line("AUTH app wrong").starts_with("-WRONGPASS"));
    assert_eq!(app.line("AUTH app pw"), "+OK\r\n");
    assert_eq!(app.line("ACL WHOAMI"), "$3\r\napp\r\n");
    assert_eq!(app.line("GET app:1"), "$1\r\nv\r\n");
    assert_eq!(app.line("SET app:2 w"), "+OK\r\n");
    assert_eq!(app.line("GET other"), NOPERM_KEY);
    assert_eq!(app.line("MGET app:1 other"), NOPERM_KEY);
    assert_eq!(
        app.line("DEL app:1"),
        "-NOPERM this user has no permissions to run the 'del' command\r\n"
    );
    assert_eq!(
        app.line("CONFIG GET maxmemory"),
        "-NOPERM this user has no permissions to run the 'config|get' command\r\n"
    );
    assert_eq!(app.line("PUBLISH news hi"), ":0\r\n");
    assert_eq!(
        app.line("PUBLISH other hi"),
        "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"
    );
    // A refused command inside MULTI aborts the transaction, as in Redis.
    assert_eq!(app.line("MULTI"), "+OK\r\n");
    assert_eq!(app.line("GET other"), NOPERM_KEY);
    assert!(app.line("EXEC").starts_with("-EXECABORT"));
    // A change applies to connections already authenticated as the user.
    assert_eq!(admin.line("ACL SETUSER app -get"), "+OK\r\n");
    assert_eq!(
        app.line("GET app:1"),
        "-NOPERM this user has no permissions to run the 'get' command\r\n"
    );
    // RESET: back to default, which may do anything.
    assert_eq!(app.line("RESET"), "+RESET\r\n");
    assert_eq!(app.line("ACL WHOAMI"), "$7\r\ndefault\r\n");
    assert_eq!(app.line("DEL app:2"), ":1\r\n");
    // DELUSER closes the connections of the user deleted.
    assert_eq!(app.line("AUTH app pw"), "+OK\r\n");
    assert_eq!(admin.line("ACL DELUSER app nobody"), ":1\r\n");
    assert!(support::closed_by_peer(
        &mut app_stream(&mut app),
        Duration::from_secs(5)
    ));
    server.assert_healthy();
}

/// The raw stream of a client after sending one more command, to see it closed.
fn app_stream(app: &mut Client) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = app.stream().try_clone().unwrap();
    stream.write_all(b"PING\r\n").unwrap();
    stream
}

#[test]
fn acl_subcommands_answer_as_redis_does() {
    let server = Server::start();
    let mut c = Client::connect(server.resp);
    for (command, reply) in [
        ("ACL USERS", "*1\r\n$7\r\ndefault\r\n"),
        ("ACL LIST", "*1\r\n$34\r\nuser default on nopass ~* &* +@all\r\n"),
        ("ACL SETUSER u on nopass ~k* +@string -append", "+OK\r\n"),
        ("ACL LIST", "*2\r\n$34\r\nuser default on nopass ~* &* +@all\r\n$43\r\nuser u on nopass ~k* -@all +@string -append\r\n"),
        ("ACL SETUSER u +nosuch", "-ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL\r\n"),
        ("ACL SETUSER u on #abc", "-ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters\r\n"),
        ("ACL DELUSER default", "-ERR The 'default' user cannot be removed\r\n"),
        ("ACL GETUSER nobody", "$-1\r\n"),
        ("ACL DRYRUN u get k1", "+OK\r\n"),
        ("ACL DRYRUN u get x", "$72\r\nThis user has no permissions to access one of the keys used as arguments\r\n"),
        ("ACL DRYRUN u append k1 v", "$56\r\nThis user has no permissions to run the 'append' command\r\n"),
        ("ACL CAT nosuch", "-ERR Unknown category 'nosuch'\r\n"),
        ("ACL SAVE", "-ERR pincore-server keeps no ACL file: users made with ACL SETUSER live in memory; lasting ones belong in services.resp.settings.users\r\n"),
    ] {
        assert_eq!(c.line(command), reply, "{command}");
    }
    let user = c.line("ACL GETUSER u");
    assert!(
        user.starts_with("*12\r\n$5\r\nflags\r\n*2\r\n$2\r\non\r\n$6\r\nnopass\r\n$9\r\npasswords\r\n*0\r\n$8\r\ncommands\r\n$22\r\n-@all +@string -append\r\n$4\r\nkeys\r\n$3\r\n~k*\r\n"),
        "{user}"
    );
    let read = c.line("ACL CAT read");
    assert!(
        read.contains("$3\r\nget\r\n") && !read.contains("$3\r\nset\r\n"),
        "{read}"
    );
    assert!(c.line("ACL CAT").contains("$9\r\nsortedset\r\n"));
    let pass = c.line("ACL GENPASS");
    assert!(pass.starts_with("$64\r\n"), "{pass}");
    server.assert_healthy();
}

#[test]
fn configured_users_and_runtime_users_across_a_reload() {
    let config = format!(
        "services:\n  resp:\n    listen: 127.0.0.1:0\n    settings:\n      users:\n        - {{name: default, password_sha256: {S3CRET}}}\n  echo: {{listen: 127.0.0.1:0}}\n  admin: {{listen: 127.0.0.1:0}}\n"
    );
    let server = Server::start_from(&config, &[]);
    let mut c = Client::connect(server.resp);
    assert_eq!(c.line("PING"), "+PONG\r\n");
    assert_eq!(c.line("GET k"), "-NOAUTH Authentication required.\r\n");
    assert_eq!(c.line("AUTH s3cret"), "+OK\r\n");
    assert_eq!(c.line("ACL SETUSER extra on >x ~* &* +@all"), "+OK\r\n");
    // SIGHUP with the same users: the runtime user stays.
    server.process.signal(libc::SIGHUP);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !server.log().contains("configuration reloaded") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        server.log().contains("configuration reloaded"),
        "{}",
        server.log()
    );
    let mut d = Client::connect(server.resp);
    assert_eq!(d.line("AUTH extra x"), "+OK\r\n");
    assert_eq!(d.line("ACL WHOAMI"), "$5\r\nextra\r\n");
    assert_eq!(
        d.line("ACL USERS"),
        "*2\r\n$7\r\ndefault\r\n$5\r\nextra\r\n"
    );
    server.assert_healthy();
}
