//! `render --format ansible`: a YAML inventory (groups, host vars from the merged host settings) and a playbook
//! that reaches the same end state as `pincore-deploy apply`: the same release directory (same content id),
//! `current` symlink, config checked by the release's own binary before install, the profile as one sysctl.d
//! drop-in (so `--check --diff` shows a real diff) plus `pincore-tuner apply`, the service, a health check
//! with retries, and `deployed.json`. Batches follow the rollout block (`serial: [canary, max_parallel]`); a
//! failing host is reverted in `rescue` to its previous release and tuning.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::manifest::{Host, Manifest, ServiceKind, TransportKind, Tuning};
use crate::release::Release;
use crate::service;
use crate::unit;

/// Settings for running from the rendered directory: pipelining (one ssh round trip per task instead of
/// several) and no ssh compression (the binaries are already the bulk, and compressing costs more than it saves
/// on a LAN).
const ANSIBLE_CFG: &str = "\
[defaults]
inventory = inventory.yml

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s
";

/// `ansible.cfg`, `inventory.yml`, `playbook.yml` and the files the playbook copies.
pub fn render(manifest: &Manifest) -> Result<Vec<(String, Vec<u8>)>> {
    let release = Release::read(manifest)?;
    let (dropin_name, dropin) = super::sysctl::dropin(manifest);
    let mut files = vec![
        ("ansible.cfg".to_string(), ANSIBLE_CFG.as_bytes().to_vec()),
        ("inventory.yml".to_string(), yaml(&inventory(manifest))?),
        (
            "playbook.yml".to_string(),
            yaml(&playbook(manifest, &release, &dropin_name))?,
        ),
        (
            "files/server.yaml".to_string(),
            manifest.server.text.clone().into_bytes(),
        ),
        (format!("files/{dropin_name}"), dropin.into_bytes()),
    ];
    if let Tuning::File { text, .. } = &manifest.tuning {
        files.push(("files/profile.yaml".into(), text.clone().into_bytes()));
    }
    for host in &manifest.hosts {
        let s = service::for_host(host);
        let dir = format!("files/hosts/{}", host.name);
        match host.service {
            ServiceKind::Systemd => files.push((
                format!("{dir}/{}", unit::UNIT_NAME),
                unit::render(host).into_bytes(),
            )),
            ServiceKind::Supervisor => {
                files.push((
                    format!("{dir}/restart.sh"),
                    format!("#!/bin/sh\n{}\n", s.restart_script()).into_bytes(),
                ));
                files.push((
                    format!("{dir}/stop.sh"),
                    format!("#!/bin/sh\n{}\n", s.stop_script()).into_bytes(),
                ));
            }
        }
    }
    Ok(files)
}

/// With `server.tls`: the TLS directory (0700) and each host's files (0600), owned by the service user under
/// systemd; a changed file notifies the reload handler (SIGHUP, no restart).
fn tls_tasks(manifest: &Manifest) -> Vec<Value> {
    if manifest.tls.is_none() {
        return Vec::new();
    }
    let owner = format!(
        "{{{{ '{}' if pincore_service == 'systemd' else omit }}}}",
        unit::SERVICE_USER
    );
    vec![
        json!({
            "name": "TLS directory",
            "ansible.builtin.file": { "path": "{{ pincore_tls_dir }}", "state": "directory", "mode": "0700", "owner": owner, "group": owner }
        }),
        json!({
            "name": "TLS files",
            "ansible.builtin.copy": {
                "src": "{{ item.src }}", "dest": "{{ pincore_tls_dir }}/{{ item.name }}",
                "mode": "0600", "owner": owner, "group": owner
            },
            "loop": "{{ pincore_tls_files }}",
            "loop_control": { "label": "{{ item.name }}" },
            "notify": "reload pincore-server"
        }),
    ]
}

fn yaml(value: &Value) -> Result<Vec<u8>> {
    serde_yaml::to_string(value)
        .map(String::into_bytes)
        .map_err(|e| Error::Render {
            format: "ansible".into(),
            detail: e.to_string(),
        })
}

fn host_vars(host: &Host) -> Value {
    let mut vars = Map::new();
    match host.transport {
        TransportKind::Local => {
            vars.insert("ansible_connection".into(), json!("local"));
        }
        TransportKind::Ssh => {
            vars.insert("ansible_host".into(), json!(host.address));
            if let Some(user) = &host.ssh.user {
                vars.insert("ansible_user".into(), json!(user));
            }
            if let Some(port) = host.ssh.port {
                vars.insert("ansible_port".into(), json!(port));
            }
            if let Some(identity) = &host.ssh.identity {
                vars.insert(
                    "ansible_ssh_private_key_file".into(),
                    json!(identity.display().to_string()),
                );
            }
            let mut args: Vec<String> = Vec::new();
            if let Some(proxy) = &host.ssh.proxy_command {
                args.push(format!("-o ProxyCommand=\"{proxy}\""));
            }
            args.extend(host.ssh.options.iter().map(|o| format!("-o {o}")));
            if !args.is_empty() {
                vars.insert("ansible_ssh_common_args".into(), json!(args.join(" ")));
            }
        }
    }
    vars.insert("pincore_install".into(), json!(host.paths.install));
    vars.insert("pincore_state".into(), json!(host.paths.state));
    vars.insert("pincore_tuner_state".into(), json!(host.paths.tuner));
    vars.insert("pincore_sysctl_dir".into(), json!(host.paths.sysctl));
    if let Some(tls) = &host.tls {
        vars.insert("pincore_tls_dir".into(), json!(tls.dir));
        let files: Vec<Value> = tls
            .files()
            .into_iter()
            .map(|(name, pem)| json!({ "name": name, "src": pem.path.display().to_string() }))
            .collect();
        vars.insert("pincore_tls_files".into(), json!(files));
    }
    vars.insert(
        "pincore_service".into(),
        json!(match host.service {
            ServiceKind::Systemd => "systemd",
            ServiceKind::Supervisor => "supervisor",
        }),
    );
    Value::Object(vars)
}

/// `all.children.GROUP.hosts.HOST: {vars}`.
pub fn inventory(manifest: &Manifest) -> Value {
    let mut children = Map::new();
    for group in &manifest.groups {
        let mut hosts = Map::new();
        for name in &group.hosts {
            if let Some(host) = manifest.hosts.iter().find(|h| h.name == *name) {
                hosts.insert(name.clone(), host_vars(host));
            }
        }
        children.insert(group.name.clone(), json!({ "hosts": hosts }));
    }
    json!({ "all": { "vars": { "ansible_python_interpreter": "auto_silent" }, "children": children } })
}

/// The tasks that put the release's two files into its directory: the binaries, or for a release of Debian
/// packages the `.deb` files, installed with `ansible.builtin.apt: deb:` (dpkg underneath, as `apply` does), and
/// links to the binaries they install (so `current`, the tuner, the config check and the unit work as for
/// binaries). Which pincore packages were installed before is read first, for the rescue.
fn release_files(manifest: &Manifest, release: &Release) -> Vec<Value> {
    let [server, tuner] = release.file_names();
    let files = [
        ("Server", &manifest.release.server, server),
        ("Tuner", &manifest.release.tuner, tuner),
    ];
    let Some(packages) = &release.packages else {
        return files
            .into_iter()
            .map(|(what, src, name)| {
                json!({
                    "name": format!("{what} binary"),
                    "ansible.builtin.copy": { "src": src.display().to_string(), "dest": format!("{{{{ release_dir }}}}/{name}"), "mode": "0755" }
                })
            })
            .collect();
    };
    let mut tasks = vec![json!({
        "name": "Read which pincore packages are installed",
        "ansible.builtin.command": "dpkg-query -W -f='${db:Status-Abbrev}' pincore-server",
        "register": "packages_before", "failed_when": false, "changed_when": false
    })];
    tasks.extend(files.into_iter().zip(packages.both()).map(|((what, src, name), deb)| {
        json!({
            "name": format!("{what} package {} {}", deb.package, deb.version),
            "ansible.builtin.copy": { "src": src.display().to_string(), "dest": format!("{{{{ release_dir }}}}/{name}"), "mode": "0644" }
        })
    }));
    tasks.extend([
        json!({
            "name": "Install the packages (the package restarts its unit under systemd)",
            "ansible.builtin.apt": { "deb": "{{ release_dir }}/{{ item }}" },
            "loop": [tuner, server],
            "notify": "restart pincore-server"
        }),
        json!({
            "name": "Links to the installed binaries",
            "ansible.builtin.file": { "src": "/usr/bin/{{ item }}", "dest": "{{ release_dir }}/{{ item }}", "state": "link", "force": true },
            "loop": ["pincore-server", "pincore-tuner"]
        }),
    ]);
    tasks
}

/// The rescue's parts for a release of Debian packages: the previous release's packages reinstalled (dpkg
/// downgrades) right after `current` goes back, and — last, after the tuning is undone with the installed
/// tuner — with no previous release on a host that had no pincore package before, the packages removed.
fn packages_back() -> (Vec<Value>, Value) {
    let previous = "{{ pincore_install }}/releases/{{ previous_release }}";
    let reinstall = vec![
        json!({
            "name": "Does the previous release have packages",
            "ansible.builtin.stat": { "path": format!("{previous}/pincore-server.deb") },
            "register": "previous_deb",
            "when": "previous_release | length > 0"
        }),
        json!({
            "name": "Reinstall the previous release's packages",
            "ansible.builtin.apt": { "deb": format!("{previous}/{{{{ item }}}}") },
            "loop": ["pincore-tuner.deb", "pincore-server.deb"],
            "when": "previous_release | length > 0 and previous_deb.stat.exists"
        }),
    ];
    let remove = json!({
        "name": "No previous release: remove the packages this one installed",
        "ansible.builtin.apt": { "name": ["pincore-server", "pincore-tuner"], "state": "absent" },
        "when": "previous_release | length == 0 and (packages_before.stdout | default('')) != 'ii '"
    });
    (reinstall, remove)
}

/// The playbook: one play over every group, in batches.
pub fn playbook(manifest: &Manifest, release: &Release, dropin_name: &str) -> Value {
    let r = &manifest.rollout;
    let serial = if r.canary > 0 {
        json!([r.canary, r.max_parallel])
    } else {
        json!(r.max_parallel)
    };
    // Ansible stops when a batch's failed share *exceeds* max_fail_percentage; 0 stops at the first failure.
    let max_fail_percentage = r.max_fail * 100 / manifest.hosts.len().max(1);
    let argument = match &manifest.tuning {
        Tuning::Builtin(name) => name.clone(),
        Tuning::File { .. } => "{{ release_dir }}/profile.yaml".into(),
    };
    let tuner = "{{ release_dir }}/pincore-tuner --state-dir {{ pincore_tuner_state }} --sysctl-dir {{ pincore_sysctl_dir }}";
    let prev_tuner =
        "{{ pincore_install }}/releases/{{ previous_release }}/pincore-tuner --state-dir {{ pincore_tuner_state }} --sysctl-dir {{ pincore_sysctl_dir }}";
    let deadline = r.healthy_deadline.as_secs().max(1);
    let health = manifest.health_url();
    let record = json!({
        "release": release.id,
        "hashes": release.hashes,
        "profile": manifest.tuning.argument(),
        "deployed_at": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    });
    let mut copy_profile = Vec::new();
    if matches!(manifest.tuning, Tuning::File { .. }) {
        copy_profile.push(json!({
            "name": "Profile file",
            "ansible.builtin.copy": { "src": "files/profile.yaml", "dest": "{{ release_dir }}/profile.yaml", "mode": "0644" }
        }));
    }
    let mut block = vec![
        json!({
            "name": "Read the release current points at",
            "ansible.builtin.command": "readlink {{ pincore_install }}/current",
            "register": "current_link", "failed_when": false, "changed_when": false
        }),
        json!({
            "name": "Read deployed.json",
            "ansible.builtin.slurp": { "src": "{{ pincore_state }}/deployed.json" },
            "register": "deployed_file", "failed_when": false
        }),
        json!({
            "name": "Remember the previous release",
            "ansible.builtin.set_fact": {
                "previous_release": "{{ (current_link.stdout | basename) if (current_link.stdout | basename) not in ['', release_id] else ((deployed_file.content | default('e30=') | b64decode | from_json).previous | default('', true)) }}"
            }
        }),
        json!({
            "name": "Release directory",
            "ansible.builtin.file": { "path": "{{ release_dir }}", "state": "directory", "mode": "0755" }
        }),
        json!({
            "name": "Service user",
            "ansible.builtin.user": { "name": unit::SERVICE_USER, "system": true, "create_home": false, "shell": "/usr/sbin/nologin" },
            "when": "pincore_service == 'systemd'"
        }),
    ];
    // The TLS files go in before the config, whose check reads them; a changed one reloads the server.
    block.extend(tls_tasks(manifest));
    block.extend(release_files(manifest, release));
    block.extend([json!({
        "name": "Server config, checked by the release's own binary before it is installed",
        "ansible.builtin.copy": {
            "src": "files/server.yaml", "dest": "{{ release_dir }}/server.yaml", "mode": "0644",
            "validate": "{{ release_dir }}/pincore-server check-config %s"
        }
    })]);
    block.extend(copy_profile);
    block.extend([
        json!({
            "name": "Release metadata",
            "ansible.builtin.copy": {
                "dest": "{{ release_dir }}/{{ item.name }}", "content": "{{ item.content }}", "mode": "0644"
            },
            "loop": [
                { "name": "profile.arg", "content": format!("{argument}\n") },
                { "name": "SHA256SUMS", "content": format!("{}  {}\n{}  {}\n", release.hashes.server, release.file_names()[0], release.hashes.tuner, release.file_names()[1]) },
                { "name": ".complete", "content": "" }
            ],
            "loop_control": { "label": "{{ item.name }}" }
        }),
        json!({
            "name": "Switch current to the release",
            "ansible.builtin.file": { "src": "releases/{{ release_id }}", "dest": "{{ pincore_install }}/current", "state": "link", "force": true },
            "register": "switched",
            "notify": "restart pincore-server"
        }),
        json!({
            "name": "Profile as one sysctl.d drop-in",
            "ansible.builtin.copy": { "src": format!("files/{dropin_name}"), "dest": format!("{{{{ pincore_sysctl_dir }}}}/{dropin_name}"), "mode": "0644" }
        }),
        json!({
            "name": "Verify the tuning",
            "ansible.builtin.command": format!("{tuner} verify {argument}"),
            "register": "verify", "changed_when": false, "failed_when": "verify.rc not in [0, 1]"
        }),
        json!({
            "name": "Apply the tuning",
            "ansible.builtin.command": format!("{tuner} apply {argument}"),
            "when": "verify.rc != 0"
        }),
        json!({
            "name": "Unit",
            "ansible.builtin.copy": { "src": format!("files/hosts/{{{{ inventory_hostname }}}}/{}", unit::UNIT_NAME), "dest": format!("/etc/systemd/system/{}", unit::UNIT_NAME), "mode": "0644" },
            "when": "pincore_service == 'systemd'",
            "notify": "restart pincore-server"
        }),
        json!({
            "name": "Enable the unit",
            "ansible.builtin.systemd_service": { "name": unit::UNIT_NAME, "enabled": true, "daemon_reload": true },
            "when": "pincore_service == 'systemd'"
        }),
        json!({
            "name": "Start the server if it is not running",
            "ansible.builtin.script": "files/hosts/{{ inventory_hostname }}/restart.sh",
            "args": { "creates": "{{ pincore_state }}/server.pid" },
            // A switched release is (re)started once, by the handler.
            "when": "pincore_service == 'supervisor' and not switched.changed"
        }),
        json!({ "ansible.builtin.meta": "flush_handlers" }),
        json!({
            "name": "Health check",
            "ansible.builtin.uri": { "url": health, "status_code": 200 },
            "register": "health", "until": "health.status == 200",
            "retries": deadline, "delay": 1
        }),
        json!({
            "name": "Record deployed.json",
            "ansible.builtin.copy": {
                "dest": "{{ pincore_state }}/deployed.json", "mode": "0644",
                "content": "{{ deployed_record | combine({'previous': previous_release if previous_release else none}) | to_nice_json }}"
            }
        }),
    ]);
    let mut rescue = vec![json!({
        "name": "Back to the previous release",
        "ansible.builtin.file": { "src": "releases/{{ previous_release }}", "dest": "{{ pincore_install }}/current", "state": "link", "force": true },
        "when": "previous_release | length > 0"
    })];
    let (reinstall, remove) = packages_back();
    if release.packages.is_some() {
        rescue.extend(reinstall);
    }
    rescue.extend([
        json!({
            "name": "Back to the previous release's tuning",
            "ansible.builtin.shell": format!("{prev_tuner} rollback && {prev_tuner} apply \"$(cat {{{{ pincore_install }}}}/releases/{{{{ previous_release }}}}/profile.arg)\" --persist"),
            "when": "previous_release | length > 0"
        }),
        json!({
            "name": "Restart the previous release (systemd)",
            "ansible.builtin.systemd_service": { "name": unit::UNIT_NAME, "state": "restarted" },
            "when": "previous_release | length > 0 and pincore_service == 'systemd'"
        }),
        json!({
            "name": "Restart the previous release (supervisor)",
            "ansible.builtin.script": "files/hosts/{{ inventory_hostname }}/restart.sh",
            "when": "previous_release | length > 0 and pincore_service == 'supervisor'"
        }),
        json!({
            "name": "No previous release: stop the server (supervisor)",
            "ansible.builtin.script": "files/hosts/{{ inventory_hostname }}/stop.sh",
            "when": "previous_release | length == 0 and pincore_service == 'supervisor'"
        }),
        json!({
            "name": "No previous release: stop the server (systemd)",
            "ansible.builtin.systemd_service": { "name": unit::UNIT_NAME, "state": "stopped" },
            "when": "previous_release | length == 0 and pincore_service == 'systemd'"
        }),
        json!({
            "name": "No previous release: undo the tuning and remove current",
            "ansible.builtin.shell": format!("{tuner} rollback; rm -f {{{{ pincore_install }}}}/current {{{{ pincore_sysctl_dir }}}}/{dropin_name}"),
            "when": "previous_release | length == 0"
        }),
        json!({
            "name": "Report the failure",
            "ansible.builtin.fail": { "msg": "{{ inventory_hostname }} failed and was reverted: {{ ansible_failed_result.msg | default('see the task above') }}" }
        }),
    ]);
    if release.packages.is_some() {
        rescue.insert(rescue.len() - 1, remove);
    }
    let handlers = json!([
        {
            "name": "Restart (systemd)",
            "ansible.builtin.systemd_service": { "name": unit::UNIT_NAME, "state": "restarted" },
            "when": "pincore_service == 'systemd'",
            "listen": "restart pincore-server"
        },
        {
            "name": "Restart (supervisor)",
            "ansible.builtin.script": "files/hosts/{{ inventory_hostname }}/restart.sh",
            "when": "pincore_service == 'supervisor'",
            "listen": "restart pincore-server"
        },
        // After a restart in the same run this is a no-op for the new process (it read the files at start).
        {
            "name": "Reload (systemd)",
            "ansible.builtin.systemd_service": { "name": unit::UNIT_NAME, "state": "reloaded" },
            "when": "pincore_service == 'systemd'",
            "listen": "reload pincore-server"
        },
        {
            "name": "Reload (supervisor)",
            "ansible.builtin.shell": "kill -HUP \"$(cat {{ pincore_state }}/server.pid)\"",
            "when": "pincore_service == 'supervisor'",
            "listen": "reload pincore-server"
        }
    ]);
    let groups: Vec<&str> = manifest.groups.iter().map(|g| g.name.as_str()).collect();
    json!([{
        "name": "Roll out pincore-server and its kernel tuning",
        "hosts": groups.join(":"),
        "become": "{{ (ansible_user | default('root')) != 'root' and ansible_connection | default('ssh') != 'local' }}",
        "gather_facts": false,
        "serial": serial,
        "max_fail_percentage": max_fail_percentage,
        "vars": {
            "release_id": release.id,
            "release_dir": "{{ pincore_install }}/releases/{{ release_id }}",
            "deployed_record": record
        },
        "tasks": [{ "name": "Deploy, health-check and record", "block": block, "rescue": rescue }],
        "handlers": handlers
    }])
}
