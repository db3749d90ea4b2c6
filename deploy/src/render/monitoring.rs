//! The monitoring files shipped in the repository's `monitoring/` (a Grafana dashboard and Prometheus alert
//! rules), embedded so every render carries the ones made for this server's metrics.

/// The Grafana dashboard (JSON model; import it, or let Grafana's sidecar load the ConfigMap).
pub const DASHBOARD: &str = include_str!("../../../monitoring/pincore-dashboard.json");

/// Prometheus alerting rules (`rule_files:`).
pub const ALERT_RULES: &str = include_str!("../../../monitoring/pincore-alerts.yaml");
