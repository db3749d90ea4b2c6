//! The services of `pincore-server`, built on the public framework API only ([`crate::framework`]), as a
//! user's own service would be.

pub mod admin;
pub mod echo;
pub mod resp;

use std::sync::Arc;

use crate::error::ServerError;
use crate::framework::{Options, Server};
use crate::logging::LogLevelHandle;

/// A server with the built-in services: `resp` (on one keyspace shared by every shard), `echo`, `admin`.
pub fn server() -> Server {
    let keyspace = Arc::new(resp::keyspace::Keyspace::default());
    Server::new()
        .service(move |ctx| resp::Resp::new(ctx, keyspace.clone()))
        .service(|_| echo::Echo)
        .service(|_| admin::Admin)
}

/// Runs `pincore-server` until SIGTERM or SIGINT has drained it. The entry point of the binary.
pub fn serve(options: Options, log: LogLevelHandle) -> Result<(), ServerError> {
    server().run(options, log)
}
