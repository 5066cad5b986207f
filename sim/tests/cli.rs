//! The `shoal-sim` binary's contract: exit codes, failure lines, JSON output, bad input.
#![cfg(madsim)]

use std::process::Command;

fn sim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shoal-sim")).args(args).output().expect("run shoal-sim");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn scenario(name: &str) -> String {
    format!("{}/../scenarios/raft/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn temp_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("shoal-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn run_prints_banner_first_and_json_last() {
    let (code, out, _) = sim(&["run", &scenario("promote-demote.toml"), "--seed", "3", "--json"]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("shoal-sim scenario=promote-demote seed=3 "), "{}", lines[0]);
    let json: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(json["verdict"], "pass");
    assert_eq!(json["seed"], 3);
    assert!(json["expectations"]["four-managers"].as_f64().unwrap() > 0.0);
    for key in ["scenario", "trace_hash", "virtual_secs", "wall_secs", "events", "violations"] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    // The leader's figures as the run ends, as `/metrics` would show them: it leads, three
    // voters after the demotions, elections seen, every node counted.
    let f = &json["figures"];
    assert_eq!(f["raft"]["leader"], true, "{f}");
    assert_eq!(f["raft"]["voters"], 3, "{f}");
    assert!(f["raft"]["term"].as_u64().unwrap() >= 1 && f["raft"]["last_log_index"].as_u64().unwrap() > 0, "{f}");
    assert_eq!(f["store"]["nodes"]["ready"], 5, "{f}");
    assert_eq!(f["store"]["pending"], 0, "{f}");
}

#[test]
fn failing_run_prints_failed_line_and_reproduce_command() {
    // Writes cannot commit while every manager is isolated: this expectation must fail.
    let f = temp_file(
        "impossible.toml",
        "name = \"impossible\"\n[cluster]\nmanagers = 3\n[[step]]\nfault = \"partition manager-1 | rest\"\n\
         [[step]]\nfault = \"partition manager-2 | rest\"\n[[step]]\ndo = \"load writes 20/s\"\n\
         [[step]]\nexpect = \"writes committed 10\"\nwithin = \"3s\"\n",
    );
    let (code, out, _) = sim(&["run", &f, "--seed", "9"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED scenario=impossible seed=9 at t="), "{out}");
    assert!(out.contains(&format!("reproduce: scripts/sim run {f} --seed 9")), "{out}");
}

#[test]
fn bad_scenario_exits_2_naming_file_line_and_key_and_runs_nothing() {
    let f = temp_file("bad.toml", "name = \"bad\"\n[cluster]\nmanagers = 3\n[[step]]\nfault = \"crash manager-7\"\n");
    let (code, out, err) = sim(&["run", &f, "--seed", "1"]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "nothing may run: {out}");
    assert!(err.contains(&format!("{f}:5: key `fault`: unknown node \"manager-7\"")), "{err}");
    let (code, _, err) = sim(&["run", &f, "--seeds", "5..2"]);
    assert_eq!(code, 2);
    assert!(err.contains("A..B"), "{err}");
}

#[test]
fn check_determinism_passes_on_a_scenario() {
    let (code, out, _) = sim(&["check-determinism", &scenario("minority-partition.toml"), "--seed", "4"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("deterministic: scenario=minority-partition seed=4"), "{out}");
}
