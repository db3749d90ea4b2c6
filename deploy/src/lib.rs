//! pincore-deploy rolls pincore-server and its kernel tuning out to bare-metal hosts over ssh, and renders the same
//! manifest for Ansible, Kubernetes and systemd.
//!
//! The flow is plan-then-apply: [`manifest::Manifest`] is read and checked locally, facts are read from every
//! host, and the pure decision logic in [`plan`] turns *(desired, observed)* into per-host actions that
//! [`rollout`] carries out in batches. Hosts are reached only through [`transport::Transport`] and the service is
//! driven only through [`service::Service`].

pub mod checks;
pub mod commands;
pub mod error;
pub mod facts;
pub mod manifest;
pub mod plan;
pub mod release;
pub mod render;
pub mod report;
pub mod rollout;
pub mod service;
pub mod steps;
pub mod tls;
pub mod transport;
pub mod unit;

pub use error::{Error, Result};
