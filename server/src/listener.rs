//! Listening sockets: one SO_REUSEPORT socket per shard per service, built with socket2.
//!
//! glommio's `TcpListener::bind` hard-codes `listen(1024)`; building the socket here makes the backlog
//! configurable. All sockets are created on the main thread before any shard starts, so a port in use fails
//! start-up cleanly instead of leaving some shards running. Each shard turns its own descriptors into glommio
//! listeners with `from_raw_fd`.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Config;
use crate::error::ServerError;

/// The listening sockets of one shard, by service.
#[derive(Debug, Default)]
pub struct ShardSockets {
    /// (service index, name, socket, address)
    pub sockets: Vec<(usize, &'static str, OwnedFd, SocketAddr)>,
}

/// Binds every enabled service of `services` (names, by service index) once per shard. Port 0 picks a free
/// port once and reuses it for every shard.
pub fn bind_all(
    config: &Config,
    shards: usize,
    services: &[&'static str],
) -> Result<Vec<ShardSockets>, ServerError> {
    let mut out: Vec<ShardSockets> = (0..shards).map(|_| ShardSockets::default()).collect();
    for (index, &service) in services.iter().enumerate() {
        let Some(service_config) = config.services.get(service) else {
            continue;
        };
        if !service_config.enabled {
            continue;
        }
        let mut addr = service_config.listen;
        if addr.port() != 0 {
            // SO_REUSEPORT lets any process of the same user bind the same port and silently take a share of
            // its connections (a second server started by mistake). A plain bind first proves the port is free.
            probe(addr).map_err(|source| ServerError::Listen {
                service: service.to_string(),
                addr,
                source,
            })?;
        }
        for shard in out.iter_mut() {
            let socket =
                listen(addr, service_config.backlog).map_err(|source| ServerError::Listen {
                    service: service.to_string(),
                    addr,
                    source,
                })?;
            if addr.port() == 0 {
                if let Some(bound) = socket.local_addr().ok().and_then(|a| a.as_socket()) {
                    addr = bound;
                }
            }
            shard
                .sockets
                .push((index, service, OwnedFd::from(socket), addr));
        }
    }
    Ok(out)
}

fn probe(addr: SocketAddr) -> std::io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())
}

fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILTIN: [&str; 3] = ["resp", "echo", "admin"];

    #[test]
    fn every_shard_gets_a_socket_on_the_same_port() {
        let mut config = Config::default();
        config.services.resp.listen = "127.0.0.1:0".parse().unwrap();
        config.services.echo.enabled = false;
        config.services.admin.enabled = false;
        let sockets = bind_all(&config, 3, &BUILTIN).unwrap();
        assert_eq!(sockets.len(), 3);
        let ports: Vec<u16> = sockets.iter().map(|s| s.sockets[0].3.port()).collect();
        assert!(
            ports[0] != 0 && ports.iter().all(|&p| p == ports[0]),
            "{ports:?}"
        );
    }

    #[test]
    fn a_second_server_on_the_same_port_is_refused() {
        let mut config = Config::default();
        config.services.resp.listen = "127.0.0.1:0".parse().unwrap();
        config.services.echo.enabled = false;
        config.services.admin.enabled = false;
        let first = bind_all(&config, 2, &BUILTIN).unwrap();
        config.services.resp.listen = first[0].sockets[0].3;
        let err = bind_all(&config, 2, &BUILTIN).unwrap_err().to_string();
        assert!(err.contains("resp") && err.contains("in use"), "{err}");
    }

    #[test]
    fn a_port_in_use_names_the_service_and_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut config = Config::default();
        config.services.echo.listen = taken.local_addr().unwrap();
        config.services.resp.enabled = false;
        config.services.admin.enabled = false;
        let err = bind_all(&config, 1, &BUILTIN).unwrap_err().to_string();
        assert!(
            err.contains("echo") && err.contains(&taken.local_addr().unwrap().to_string()),
            "{err}"
        );
    }
}
