//! A length-prefixed RPC service whose handler calls another shard.
//!
//! The idea on this page: data owned by one shard, reached from every shard. Each shard keeps the keys it
//! owns in a plain `RefCell<HashMap>` (no lock: only its own thread touches it); a request for a key is run
//! on the key's owner with `Context::on_owner`, whichever shard received it.
//!
//! Frames are a 4-byte big-endian length and that many bytes (at most 64 KiB). A request is
//! `PUT key value`, `GET key` or `COUNT` (keys on every shard, asked of all of them with
//! `Context::on_every_shard`); the reply is `<receiving shard> <owner shard> <result>`, where the result
//! is `OK`, the value, `NIL`, the count or `ERR ...` (the owner is `-` for COUNT).

use std::cell::RefCell;
use std::collections::HashMap;

use pincore_server::framework::{Connection, InputBuffer, Server, Service};

const MAX_FRAME: usize = 64 * 1024;

#[derive(Default)]
struct Store {
    owned: RefCell<HashMap<Vec<u8>, Vec<u8>>>,
}

impl Store {
    /// Runs on the key's owner.
    fn apply(&self, put: bool, key: Vec<u8>, value: Vec<u8>) -> Vec<u8> {
        let mut owned = self.owned.borrow_mut();
        if put {
            owned.insert(key, value);
            b"OK".to_vec()
        } else {
            owned.get(&key).cloned().unwrap_or_else(|| b"NIL".to_vec())
        }
    }
}

impl Service for Store {
    const NAME: &'static str = "rpc";
    type Settings = ();

    async fn serve(&self, mut conn: Connection<Self>) {
        let ctx = conn.context().clone();
        let mut input = InputBuffer::new(4 + MAX_FRAME);
        loop {
            let idle = ctx.config().timeouts.idle();
            let data = input.data();
            let len = (data.len() >= 4)
                .then(|| u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize);
            match len {
                Some(len) if len > MAX_FRAME => return, // a frame this server would never accept
                Some(len) if data.len() >= 4 + len => {
                    let request = data[4..4 + len].to_vec();
                    input.consume(4 + len);
                    let mut words = request.splitn(3, |&b| b == b' ');
                    let result = match (words.next(), words.next(), words.next()) {
                        (Some(b"COUNT"), None, None) => {
                            let counts = ctx.on_every_shard(|| |store: std::rc::Rc<Store>| async move { store.owned.borrow().len() }).await;
                            let total: Result<usize, _> = counts.into_iter().sum();
                            match total {
                                Ok(n) => format!("{} - {n}", ctx.shard_id()).into_bytes(),
                                Err(e) => format!("{} - ERR {e}", ctx.shard_id()).into_bytes(),
                            }
                        }
                        (Some(op @ (b"PUT" | b"GET")), Some(key), value) => {
                            let (put, key) = (op == b"PUT", key.to_vec());
                            let value = value.unwrap_or_default().to_vec();
                            let owner = ctx.owner_of(&key);
                            match ctx
                                .on_shard(owner, move |store| async move {
                                    store.apply(put, key, value)
                                })
                                .await
                            {
                                Ok(result) => format!("{} {owner} ", ctx.shard_id())
                                    .into_bytes()
                                    .into_iter()
                                    .chain(result)
                                    .collect(),
                                Err(e) => {
                                    format!("{} {owner} ERR {e}", ctx.shard_id()).into_bytes()
                                }
                            }
                        }
                        _ => format!(
                            "{} - ERR requests are PUT key value, GET key and COUNT",
                            ctx.shard_id()
                        )
                        .into_bytes(),
                    };
                    let mut frame = (result.len() as u32).to_be_bytes().to_vec();
                    frame.extend_from_slice(&result);
                    if conn.write(&frame, idle).await.is_err() {
                        return;
                    }
                }
                _ => match input.fill(&mut conn, idle).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
            }
        }
    }
}

fn main() {
    std::process::exit(Server::new().service(|_| Store::default()).main());
}
