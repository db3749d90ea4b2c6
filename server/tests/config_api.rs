//! `GET /config` and `PATCH /config` over the admin port with curl: a patched limit reaches clients, the
//! bearer token guards it, bad patches change nothing and say why, restart-only keys are refused by name, and
//! `?persist=true` writes a file the next start loads.

mod support;

use pincore_testkit::{command, require};
use support::{config_text, Server, DEFAULT_LIMITS, DEFAULT_TIMEOUTS};

const TOKEN: &str = "t0ken-for-tests";

/// A server whose admin service reads its token from a file in a temporary directory (kept alive here).
fn server_with_token() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let config = config_text(DEFAULT_LIMITS, DEFAULT_TIMEOUTS).replace(
        "  admin: {listen: 127.0.0.1:0}\n",
        &format!(
            "  admin: {{listen: 127.0.0.1:0, settings: {{token_file: {}}}}}\n",
            token_file.display()
        ),
    );
    (Server::start_from(&config, &[]), dir)
}

/// `curl -X PATCH` with this body and token: (status, JSON answer).
fn patch(s: &Server, query: &str, body: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut curl = std::process::Command::new("curl");
    curl.args(["-s", "-m", "10", "-w", "\n%{http_code}", "-X", "PATCH"])
        .args(["-H", "Content-Type: application/merge-patch+json"])
        .args(["--data-binary", body]);
    if let Some(token) = token {
        curl.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = curl
        .arg(format!("http://{}/config{query}", s.admin))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (code.trim().parse().unwrap_or(0), json)
}

fn get_config(s: &Server) -> serde_json::Value {
    let (status, body) = s.curl("/config");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("/config is JSON")
}

/// `GET /config` with this bearer token: the status.
fn get_status(s: &Server, token: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("http://{}/config", s.admin))
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn patches(s: &Server, result: &str) -> f64 {
    s.metric(&format!(
        "pincore_config_patches_total{{result=\"{result}\",shard=\"total\"}}"
    ))
}

#[test]
fn a_patched_limit_reaches_new_clients_and_is_counted() {
    require!(command("curl"), command("redis-cli"));
    let (s, _dir) = server_with_token();
    assert_eq!(s.cli(&["MSET", "a", "1", "b", "2"]), "OK");
    let (status, answer) = patch(
        &s,
        "",
        r#"{"limits": {"max_array_len": 3}, "log": {"level": "warn"}}"#,
        Some(TOKEN),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["applied"], true);
    assert_eq!(answer["persisted"], false);
    let keys: Vec<&str> = answer["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["limits.max_array_len", "log.level"], "{answer}");
    assert_eq!(answer["changes"][0]["from"], 65536);
    assert_eq!(answer["changes"][0]["to"], 3);
    // A five-argument command is now over the limit for a new connection; three arguments still pass.
    let out = s.cli_output(&["MSET", "a", "1", "b", "2"], None);
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!said.contains("OK"), "MSET of 5 arguments passed: {said}");
    assert_eq!(s.cli(&["SET", "a", "1"]), "OK");
    assert_eq!(get_config(&s)["limits"]["max_array_len"], 3);
    assert_eq!(get_config(&s)["log"]["level"], "warn");
    assert_eq!(patches(&s, "applied"), 1.0);
}

#[test]
fn the_token_guards_patch_and_the_unredacted_view() {
    require!(command("curl"));
    let (s, _dir) = server_with_token();
    let body = r#"{"limits": {"max_array_len": 3}}"#;
    let (status, answer) = patch(&s, "", body, Some("wrong"));
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("Bearer"));
    assert_eq!(patch(&s, "", body, None).0, 401);
    assert_eq!(get_config(&s)["limits"]["max_array_len"], 65536);
    assert_eq!(patches(&s, "unauthorized"), 2.0);
    // GET with a wrong token is refused too; with the right one it is the full view.
    assert_eq!(get_status(&s, "nope"), "401");
    assert_eq!(get_status(&s, TOKEN), "200");
}

#[test]
fn without_a_token_file_patch_is_off() {
    require!(command("curl"));
    let s = Server::start();
    let (status, answer) = patch(&s, "", r#"{"limits": {"max_array_len": 3}}"#, Some(TOKEN));
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("token_file"),
        "{answer}"
    );
    assert_eq!(get_config(&s)["limits"]["max_array_len"], 65536);
    assert_eq!(patches(&s, "off"), 1.0);
}

#[test]
fn bad_patches_change_nothing_and_say_why() {
    require!(command("curl"));
    let (s, _dir) = server_with_token();
    let (status, answer) = patch(&s, "", "{not json", Some(TOKEN));
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed patch: not JSON"),
        "{answer}"
    );
    let (status, answer) = patch(&s, "", r#"{"limits": {"max_aray_len": 3}}"#, Some(TOKEN));
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("max_aray_len"),
        "{answer}"
    );
    let (status, answer) = patch(
        &s,
        "",
        r#"{"limits": {"max_connections_per_shard": 0}}"#,
        Some(TOKEN),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("max_connections_per_shard"),
        "{answer}"
    );
    assert_eq!(get_config(&s)["limits"]["max_connections_per_shard"], 200);
    assert_eq!(patches(&s, "malformed"), 1.0);
    assert_eq!(patches(&s, "invalid"), 2.0);
}

#[test]
fn a_restart_only_key_is_named_and_nothing_is_applied() {
    require!(command("curl"));
    let (s, _dir) = server_with_token();
    let (status, answer) = patch(
        &s,
        "",
        r#"{"services": {"resp": {"listen": "127.0.0.1:1"}}, "limits": {"max_array_len": 3}}"#,
        Some(TOKEN),
    );
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["applied"], false);
    assert_eq!(
        answer["needs_restart"],
        serde_json::json!(["services.resp"]),
        "{answer}"
    );
    assert_eq!(
        get_config(&s)["limits"]["max_array_len"],
        65536,
        "half applied"
    );
    assert_eq!(patches(&s, "needs_restart"), 1.0);
}

#[test]
fn a_persisted_patch_is_what_the_next_start_loads() {
    require!(command("curl"));
    let (s, _dir) = server_with_token();
    let (status, answer) = patch(
        &s,
        "?persist=true",
        r#"{"timeouts": {"idle_ms": 4321}}"#,
        Some(TOKEN),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["persisted"], true);
    let written = std::fs::read_to_string(&s.config_path).unwrap();
    assert!(written.contains("idle_ms: 4321"), "{written}");
    let leftovers: Vec<_> = std::fs::read_dir(s.config_path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary file left: {leftovers:?}");
    drop(s);
    let again = Server::start_from(&written, &[]);
    assert_eq!(get_config(&again)["timeouts"]["idle_ms"], 4321);
}
