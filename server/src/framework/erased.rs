//! How the engine holds services of different types: every [`Service`] is an [`Erased`] to its shard, and
//! registering one yields its catalog entry and the factory that builds it on each shard.

use std::any::Any;
use std::path::PathBuf;
use std::rc::Rc;

use super::catalog::Spec;
use super::service::{Connection, Context, Service};
use super::settings::{check_listen, parse_settings, AnySettings};
use crate::mesh::LocalFuture;
use crate::shard::{Erased, RawConnection, Shard};

/// Builds a service's instance on a shard (given the shard and the service's index).
pub(crate) type Make = Box<dyn Fn(Rc<Shard>, usize) -> Rc<dyn Erased> + Send + Sync>;

impl<S: Service> Erased for S {
    fn serve(self: Rc<Self>, raw: RawConnection) -> LocalFuture<()> {
        Box::pin(async move {
            let conn = Connection::new(raw);
            Service::serve(&*self, conn).await;
        })
    }

    fn reload(&self, settings: &AnySettings) {
        if let Some(settings) = settings.downcast_ref::<S::Settings>() {
            self.on_reload(settings);
        }
    }

    fn as_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }

    fn state(self: Rc<Self>, save: bool, dir: PathBuf) -> LocalFuture<Result<(), String>> {
        Box::pin(async move {
            if save {
                self.hand_over(&dir).await
            } else {
                self.take_over(&dir).await
            }
        })
    }
}

/// A service registered with `make`: its catalog entry and its factory.
pub(crate) fn register<S: Service>(
    make: impl Fn(&Context<S>) -> S + Send + Sync + 'static,
) -> (Spec, Make) {
    let spec = Spec {
        name: S::NAME,
        admission: S::ADMISSION,
        parse: parse_settings::<S::Settings>,
        check_listen: check_listen::<S::Settings>,
    };
    let make: Make = Box::new(move |shard, index| {
        let ctx = Context::<S>::new(shard, index);
        Rc::new(make(&ctx))
    });
    (spec, make)
}
