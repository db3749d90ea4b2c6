//! The [`Service`] trait a user implements, and how the engine holds services of different types.

use std::any::Any;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::context::{Connection, Context};
use crate::shard::Shard;

/// A service's own configuration section, `services.<name>.settings` in the YAML file.
///
/// It is parsed and checked by `check-config` and at start-up, and again on SIGHUP, where a valid new value
/// replaces the running one on every shard and [`Service::on_reload`] is called. Missing means
/// `Default::default()`; unknown keys are errors when the type says `#[serde(deny_unknown_fields)]`.
pub trait Settings:
    DeserializeOwned + Serialize + Default + Clone + PartialEq + Debug + Send + Sync + 'static
{
    /// Checks what serde cannot (ranges, relations between keys). The message should name the key.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A service that takes no settings.
impl Settings for () {}

/// How a service's connections are admitted against the shard's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionClass {
    /// Counted against `limits.max_connections_per_shard` and `limits.max_connections_per_ip`.
    Data,
    /// A control port (metrics, probes): its own small caps (64 per shard, `limits.max_admin_connections_per_ip`
    /// per address), apart from the data ports', so a flood there cannot lock out scrapes. At a cap the
    /// connection idle the longest is closed to admit the new one; a service marks its connections idle with
    /// [`Connection::set_idle`].
    Control,
}

/// A TCP service the engine runs on every shard: one instance per shard, one call of [`Service::serve`] per
/// accepted connection.
///
/// Instances are shard-local (`Rc`, `Cell` and `RefCell` are fine and need no locks): the engine builds one
/// on each shard with the factory given to [`super::Server::service`]. What the shards share (a store, say)
/// the factory captures in an `Arc`.
#[allow(async_fn_in_trait)] // services are shard-local: their futures are never sent to another thread
pub trait Service: Sized + 'static {
    /// The name: `services.<NAME>` in the configuration, the `service` label in metrics.
    const NAME: &'static str;
    /// How connections are admitted (data ports by default).
    const ADMISSION: AdmissionClass = AdmissionClass::Data;
    /// This service's own configuration section (`()` for none).
    type Settings: Settings;

    /// Handles one accepted connection until it should close. A panic closes this connection only (it is
    /// counted in `pincore_service_panics_total`); the shard keeps serving.
    async fn serve(&self, conn: Connection<Self>);

    /// Called on every shard after SIGHUP brought a new, valid value of [`Service::Settings`];
    /// [`Context::settings`] already returns it.
    fn on_reload(&self, _settings: &Self::Settings) {}
}

/// Settings of any service, as the engine stores and sends them.
pub(crate) type AnySettings = Arc<dyn Any + Send + Sync>;

/// A future of any service, as the engine spawns it.
pub(crate) type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A service of some type, as a shard holds it.
pub(crate) trait Erased {
    fn serve(self: Rc<Self>, conn: RawConnection) -> LocalFuture<()>;
    fn reload(&self, settings: &AnySettings);
    fn as_any(self: Rc<Self>) -> Rc<dyn Any>;
}

/// What the engine hands a service's [`Erased::serve`]: the stream and its admission slot.
pub(crate) struct RawConnection {
    pub shard: Rc<Shard>,
    pub index: usize,
    pub stream: glommio::net::TcpStream,
    pub peer: std::net::IpAddr,
    pub admission: crate::shard::Admission,
}

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
}

/// A registered service: its name, admission class, how to read its settings and how to build it on a shard.
pub(crate) struct Spec {
    pub name: &'static str,
    pub admission: AdmissionClass,
    /// Parses and validates `services.<name>.settings` (`Null` when absent).
    pub parse: fn(&serde_yaml::Value) -> Result<AnySettings, String>,
    pub make: Box<dyn Fn(Rc<Shard>, usize) -> Rc<dyn Erased> + Send + Sync>,
}

pub(crate) fn parse_settings<T: Settings>(
    value: &serde_yaml::Value,
) -> Result<AnySettings, String> {
    let settings: T = if value.is_null() {
        T::default()
    } else {
        serde_yaml::from_value(value.clone()).map_err(|e| e.to_string())?
    };
    settings.validate()?;
    Ok(Arc::new(settings))
}

impl Spec {
    pub fn of<S: Service>(make: impl Fn(&Context<S>) -> S + Send + Sync + 'static) -> Spec {
        Spec {
            name: S::NAME,
            admission: S::ADMISSION,
            parse: parse_settings::<S::Settings>,
            make: Box::new(move |shard, index| {
                let ctx = Context::<S>::new(shard, index);
                Rc::new(make(&ctx))
            }),
        }
    }
}
