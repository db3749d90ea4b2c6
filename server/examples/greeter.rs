//! A service with its own configuration section that changes live on SIGHUP.
//!
//! The idea on this page: typed settings. `services.greeter.settings` is parsed into `Greeting` (unknown
//! keys and bad values are errors with their line, from `check-config` and at start-up), read per request
//! with `Context::settings`, and replaced on every shard by a SIGHUP with a valid file; `on_reload` sees the
//! new value. A file with invalid settings is refused and the running ones are kept.
//!
//! ```yaml
//! services:
//!   greeter:
//!     listen: 127.0.0.1:7200
//!     settings: {greeting: Hello, shout: false}
//! ```
//! Each line a client sends is a name; the reply is `<greeting>, <name>!`.

use pincore_server::framework::{Connection, InputBuffer, Server, Service, Settings};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Greeting {
    greeting: String,
    shout: bool,
}

impl Default for Greeting {
    fn default() -> Self {
        Greeting {
            greeting: "Hello".into(),
            shout: false,
        }
    }
}

impl Settings for Greeting {
    fn validate(&self) -> Result<(), String> {
        if self.greeting.is_empty() || self.greeting.len() > 64 {
            return Err(format!(
                "greeting {:?} must be 1 to 64 bytes",
                self.greeting
            ));
        }
        Ok(())
    }
}

struct Greeter;

impl Service for Greeter {
    const NAME: &'static str = "greeter";
    type Settings = Greeting;

    async fn serve(&self, mut conn: Connection<Self>) {
        let mut input = InputBuffer::new(256);
        loop {
            let idle = conn.context().config().timeouts.idle();
            let Ok(Some(name)) = input.read_line(&mut conn, idle).await else {
                return;
            };
            let settings = conn.context().settings();
            let mut reply = format!(
                "{}, {}!\n",
                settings.greeting,
                String::from_utf8_lossy(&name)
            );
            if settings.shout {
                reply = reply.to_uppercase();
            }
            if conn.write(reply.as_bytes(), idle).await.is_err() {
                return;
            }
        }
    }

    fn on_reload(&self, settings: &Greeting) {
        tracing::info!(greeting = %settings.greeting, shout = settings.shout, "greeter settings reloaded");
    }
}

fn main() {
    std::process::exit(Server::new().service(|_| Greeter).main());
}
