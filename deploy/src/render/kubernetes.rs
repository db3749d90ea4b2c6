//! `render --format kubernetes`: a Namespace, a ConfigMap (server config and profile) and a DaemonSet, built as
//! typed `k8s-openapi` objects, and two ConfigMaps for monitoring: the Grafana dashboard (labelled
//! `grafana_dashboard: "1"`, which Grafana's dashboard sidecar loads) and the Prometheus alert rules (mount it
//! where `rule_files:` points).
//!
//! Node tuning cannot go through `securityContext.sysctls` for a host-network pod, so a privileged init
//! container runs `pincore-tuner apply --persist` on the node. The server container uses the host network,
//! `seccompProfile: Unconfined` (io_uring), and Guaranteed resources (integer CPUs, requests = limits) so the
//! kubelet's static CPU manager gives it exclusive cores; the server reads its own affinity mask. With
//! `server.tls`, a Secret holds the PEM files (one set for every node: a DaemonSet has one pod template), mounted
//! at `server.tls.dir` (mode 0600) where the config's `tls:` sections point; the pod template carries their hash,
//! so new files roll the pods. The rollout
//! block becomes the DaemonSet's rolling update (`maxUnavailable` = `max_parallel`, `minReadySeconds` =
//! `min_healthy_time`); Kubernetes has no canary batch (use `kubectl rollout` to watch and undo). The
//! manifest's host names restrict the DaemonSet to those nodes. The release itself (binaries or Debian packages)
//! is not shipped: `kubernetes.image` is what runs, so for a `deb` release build that image from the same
//! packages (`apt-get install ./pincore-server_*.deb ./pincore-tuner_*.deb` in its Dockerfile).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, HTTPGetAction,
    HostPathVolumeSource, Namespace, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    Secret, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::ByteString;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest::{HostTls, Kubernetes, Manifest, Tuning};
use crate::release::sha256;

const NAME: &str = "pincore-server";

/// The Secret with the TLS files.
const TLS_SECRET: &str = "pincore-server-tls";

/// `namespace.yaml`, `configmap.yaml`, `daemonset.yaml`, `grafana-dashboard.yaml` and `prometheus-rules.yaml`.
pub fn render(manifest: &Manifest) -> Result<Vec<(String, Vec<u8>)>> {
    let k = manifest.kubernetes.as_ref().ok_or_else(|| Error::Render {
        format: "kubernetes".into(),
        detail: format!(
            "{} has no `kubernetes:` section: add one with at least `image:` (an image with pincore-server and pincore-tuner on its PATH)",
            manifest.path.display()
        ),
    })?;
    let tls = shared_tls(manifest)?;
    let mut files = vec![
        ("namespace.yaml".into(), yaml(&namespace(k))?),
        ("configmap.yaml".into(), yaml(&config_map(manifest, k))?),
        (
            "daemonset.yaml".into(),
            yaml(&daemon_set(manifest, k, tls))?,
        ),
        ("grafana-dashboard.yaml".into(), yaml(&dashboard_map(k))?),
        ("prometheus-rules.yaml".into(), yaml(&rules_map(k))?),
    ];
    if let Some(tls) = tls {
        files.push(("tls-secret.yaml".into(), yaml(&tls_secret(tls, k))?));
    }
    Ok(files)
}

/// The one set of TLS files every node gets, or why the hosts' differ.
fn shared_tls(manifest: &Manifest) -> Result<Option<&HostTls>> {
    let mut hosts = manifest
        .hosts
        .iter()
        .filter_map(|h| Some((h, h.tls.as_ref()?)));
    let Some((first_host, first)) = hosts.next() else {
        return Ok(None);
    };
    let same = |a: &HostTls, b: &HostTls| {
        let texts = |t: &HostTls| -> Vec<String> {
            t.files().iter().map(|(_, p)| p.text.clone()).collect()
        };
        texts(a) == texts(b)
    };
    match hosts.find(|(_, t)| !same(first, t)) {
        None => Ok(Some(first)),
        Some((other, _)) => Err(Error::Render {
            format: "kubernetes".into(),
            detail: format!(
                "hosts {} and {} have different TLS files, but a DaemonSet has one pod template and so one Secret: give every host the same tls files (e.g. under defaults), or deploy with pincore-deploy or Ansible",
                first_host.name, other.name
            ),
        }),
    }
}

/// The TLS files as a Secret, keyed by the names the server config uses.
pub fn tls_secret(tls: &HostTls, k: &Kubernetes) -> Secret {
    Secret {
        metadata: meta(TLS_SECRET, k),
        type_: Some("Opaque".into()),
        data: Some(
            tls.files()
                .into_iter()
                .map(|(name, pem)| (name.to_string(), ByteString(pem.text.clone().into_bytes())))
                .collect(),
        ),
        ..Default::default()
    }
}

fn yaml(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_yaml::to_string(value)
        .map(String::into_bytes)
        .map_err(|e| Error::Render {
            format: "kubernetes".into(),
            detail: e.to_string(),
        })
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_string(), NAME.to_string())])
}

fn meta(name: &str, k: &Kubernetes) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(k.namespace.clone()),
        labels: Some(labels()),
        ..Default::default()
    }
}

pub fn namespace(k: &Kubernetes) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(k.namespace.clone()),
            ..Default::default()
        },
        ..Default::default()
    }
}

pub fn config_map(manifest: &Manifest, k: &Kubernetes) -> ConfigMap {
    // The profile: its file when it is one, and always the tuner's drop-in rendering of it (what the node gets).
    let (dropin_name, dropin) = super::sysctl::dropin(manifest);
    let mut data = BTreeMap::from([
        ("server.yaml".to_string(), manifest.server.text.clone()),
        (
            "profile".to_string(),
            manifest.tuning.argument().to_string(),
        ),
        (dropin_name, dropin),
    ]);
    if let Tuning::File { text, .. } = &manifest.tuning {
        data.insert("profile.yaml".into(), text.clone());
    }
    ConfigMap {
        metadata: meta(NAME, k),
        data: Some(data),
        ..Default::default()
    }
}

/// The Grafana dashboard as a ConfigMap Grafana's sidecar picks up by its `grafana_dashboard` label.
pub fn dashboard_map(k: &Kubernetes) -> ConfigMap {
    let mut metadata = meta("pincore-grafana-dashboard", k);
    if let Some(labels) = metadata.labels.as_mut() {
        labels.insert("grafana_dashboard".into(), "1".into());
    }
    ConfigMap {
        metadata,
        data: Some(BTreeMap::from([(
            "pincore-dashboard.json".to_string(),
            super::monitoring::DASHBOARD.to_string(),
        )])),
        ..Default::default()
    }
}

/// The Prometheus alert rules as a ConfigMap to mount into Prometheus (`rule_files:`).
pub fn rules_map(k: &Kubernetes) -> ConfigMap {
    ConfigMap {
        metadata: meta("pincore-prometheus-rules", k),
        data: Some(BTreeMap::from([(
            "pincore-alerts.yaml".to_string(),
            super::monitoring::ALERT_RULES.to_string(),
        )])),
        ..Default::default()
    }
}

fn resources(k: &Kubernetes) -> ResourceRequirements {
    // requests = limits with whole CPUs: the Guaranteed QoS class the static CPU manager pins.
    let amounts = BTreeMap::from([
        ("cpu".to_string(), Quantity(k.cpus.to_string())),
        ("memory".to_string(), Quantity(k.memory.clone())),
    ]);
    ResourceRequirements {
        requests: Some(amounts.clone()),
        limits: Some(amounts),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

fn host_path(name: &str, path: &str) -> Volume {
    Volume {
        name: name.into(),
        host_path: Some(HostPathVolumeSource {
            path: path.into(),
            type_: Some("DirectoryOrCreate".into()),
        }),
        ..Default::default()
    }
}

pub fn daemon_set(manifest: &Manifest, k: &Kubernetes, tls: Option<&HostTls>) -> DaemonSet {
    let admin = manifest.server_config.services.admin.listen;
    let profile = match &manifest.tuning {
        Tuning::Builtin(name) => name.clone(),
        Tuning::File { .. } => "/etc/pincore/profile.yaml".into(),
    };
    let tuner = Container {
        name: "tune-node".into(),
        image: Some(k.image.clone()),
        command: Some(
            [
                "pincore-tuner",
                "--state-dir",
                "/var/lib/pincore-tuner",
                "--sysctl-dir",
                "/host/etc/sysctl.d",
                "apply",
                &profile,
                "--persist",
            ]
            .map(String::from)
            .to_vec(),
        ),
        security_context: Some(SecurityContext {
            privileged: Some(true),
            ..Default::default()
        }),
        resources: Some(resources(k)),
        volume_mounts: Some(vec![
            mount("config", "/etc/pincore"),
            mount("sysctl-d", "/host/etc/sysctl.d"),
            mount("tuner-state", "/var/lib/pincore-tuner"),
        ]),
        ..Default::default()
    };
    let healthz = |initial: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::Int(i32::from(admin.port())),
            host: Some(if admin.ip().is_unspecified() {
                "127.0.0.1".into()
            } else {
                admin.ip().to_string()
            }),
            ..Default::default()
        }),
        initial_delay_seconds: Some(initial),
        period_seconds: Some(5),
        ..Default::default()
    };
    let server = Container {
        name: "server".into(),
        image: Some(k.image.clone()),
        command: Some(
            ["pincore-server", "--config", "/etc/pincore/server.yaml"]
                .map(String::from)
                .to_vec(),
        ),
        ports: Some(vec![ContainerPort {
            name: Some("admin".into()),
            container_port: i32::from(admin.port()),
            host_port: Some(i32::from(admin.port())),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        readiness_probe: Some(healthz(1)),
        liveness_probe: Some(healthz(10)),
        resources: Some(resources(k)),
        security_context: Some(SecurityContext {
            // io_uring is not in the runtime's default seccomp profile.
            seccomp_profile: Some(SeccompProfile {
                type_: "Unconfined".into(),
                ..Default::default()
            }),
            capabilities: Some(Capabilities {
                add: Some(vec!["IPC_LOCK".into(), "NET_BIND_SERVICE".into()]),
                drop: Some(vec!["ALL".into()]),
            }),
            allow_privilege_escalation: Some(false),
            ..Default::default()
        }),
        volume_mounts: Some(
            std::iter::once(VolumeMount {
                read_only: Some(true),
                ..mount("config", "/etc/pincore")
            })
            .chain(tls.map(|t| VolumeMount {
                read_only: Some(true),
                ..mount("tls", &t.dir)
            }))
            .collect(),
        ),
        ..Default::default()
    };
    let mut volumes = vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: NAME.into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        host_path("sysctl-d", "/etc/sysctl.d"),
        host_path("tuner-state", "/var/lib/pincore-tuner"),
    ];
    // A changed certificate changes the template, so the pods roll (a pod's files change under it otherwise,
    // unread until a SIGHUP nobody sends).
    let mut annotations = BTreeMap::new();
    if let Some(t) = tls {
        volumes.push(Volume {
            name: "tls".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(TLS_SECRET.into()),
                default_mode: Some(0o600),
                ..Default::default()
            }),
            ..Default::default()
        });
        let all: String = t.files().iter().map(|(_, p)| p.text.as_str()).collect();
        annotations.insert("pincore.dev/tls-sha256".to_string(), sha256(all.as_bytes()));
    }
    let nodes: Vec<String> = manifest.hosts.iter().map(|h| h.name.clone()).collect();
    let r = &manifest.rollout;
    DaemonSet {
        metadata: meta(NAME, k),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..Default::default()
            },
            min_ready_seconds: Some(
                i32::try_from(r.min_healthy_time.as_secs().max(1)).unwrap_or(i32::MAX),
            ),
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::Int(
                        i32::try_from(r.max_parallel).unwrap_or(i32::MAX),
                    )),
                    ..Default::default()
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    annotations: (!annotations.is_empty()).then_some(annotations),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    host_network: Some(true),
                    dns_policy: Some("ClusterFirstWithHostNet".into()),
                    affinity: Some(k8s_openapi::api::core::v1::Affinity {
                        node_affinity: Some(NodeAffinity {
                            required_during_scheduling_ignored_during_execution: Some(
                                NodeSelector {
                                    node_selector_terms: vec![NodeSelectorTerm {
                                        match_expressions: Some(vec![NodeSelectorRequirement {
                                            key: "kubernetes.io/hostname".into(),
                                            operator: "In".into(),
                                            values: Some(nodes),
                                        }]),
                                        ..Default::default()
                                    }],
                                },
                            ),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    init_containers: Some(vec![tuner]),
                    containers: vec![server],
                    termination_grace_period_seconds: Some(30),
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}
