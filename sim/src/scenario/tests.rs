use super::*;

const GOOD: &str = r#"
name = "leader-crash"
[cluster]
managers = 3
workers = 2
[[step]]
do = "load writes 50/s"
[[step]]
at = "10s"
fault = "crash leader"
[[step]]
expect = "leader elected"
within = "30s"
name = "failover"
[[step]]
after = "5s"
fault = "restart last-crashed"
[[step]]
expect = "managers agree"
within = "30s"
"#;

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse("t.toml", text)
}

#[test]
fn example_from_the_issue_parses() {
    let s = parse(GOOD).unwrap();
    assert_eq!(s.name, "leader-crash");
    let names: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["manager-1", "manager-2", "manager-3", "worker-1", "worker-2"]);
    assert_eq!(s.steps.len(), 5);
    assert_eq!(s.steps[1].when, When::At(Duration::from_secs(10)));
    assert_eq!(s.steps[1].action, Action::Fault(Fault::Crash(Selector::Leader)));
    assert_eq!(s.steps[2].name.as_deref(), Some("failover"));
    assert_eq!(s.steps[2].line, 11, "a step is located at its [[step]] header");
}

#[test]
fn load_options_parse() {
    let text = GOOD.replace("load writes 50/s", "load writes 100/s to leader no-reads");
    let s = parse(&text).unwrap();
    assert_eq!(
        s.steps[0].action,
        Action::Do(DoCmd::LoadWrites { per_sec: 100.0, to: Some(Selector::Leader), read_back: false })
    );
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let text = GOOD.replace("within = \"30s\"\nname", "witin = \"30s\"\nname");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.line, 13, "{e}");
    assert!(e.to_string().starts_with("t.toml:13:"), "{e}");
    assert!(e.message.contains("witin"), "{e}");
}

#[test]
fn unknown_node_is_refused_with_its_line() {
    let text = GOOD.replace("restart last-crashed", "restart manager-9");
    let e = parse(&text).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (17, "fault"), "{e}");
    assert!(e.message.contains("unknown node \"manager-9\""), "{e}");
}

#[test]
fn impossible_steps_are_refused() {
    for (bad, want) in [
        ("fault = \"partition manager-1 |\"", "side is empty"),
        ("fault = \"partition manager-1 | manager-1\"", "both sides"),
        ("fault = \"explode leader\"", "unknown fault"),
        ("do = \"load writes fast\"", "N/s"),
        ("do = \"load writes 5/s to manager-9\"", "unknown node"),
        ("do = \"load writes 5/s quickly\"", "unknown load option"),
        ("do = \"node promote worker-7\"", "unknown node"),
        ("expect = \"pigs fly\"", "unknown predicate"),
        ("at = \"soon\"\nfault = \"heal\"", "not a duration"),
        ("fault = \"heal\"\nwithin = \"3s\"", "only goes with"),
        ("fault = \"heal\"\nexpect = \"managers agree\"", "exactly one"),
    ] {
        let text = format!("name = \"x\"\n[cluster]\nmanagers = 3\nworkers = 1\n[[step]]\n{bad}\n");
        let e = parse(&text).unwrap_err();
        assert!(e.to_string().contains(want), "{bad}: {e}");
        assert!(e.line >= 5, "{bad}: {e}");
    }
}

#[test]
fn malformed_toml_reports_a_line() {
    let e = parse("name = \"x\"\n[cluster\nmanagers = 3\n").unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    let e = parse("name = \"x\"\n[cluster]\nmanagers = 0\n[[step]]\nfault = \"heal\"\n").unwrap_err();
    assert!(e.to_string().contains("cluster.managers"), "{e}");
}

const ORCH: &str = r#"
name = "orch"
[cluster]
managers = 1
workers = 2
[images."app:bad"]
behaviour = "exit"
code = 3
after = "2s"
[[step]]
do = "service create --name web --replicas 3 --constraint node.role==worker app:bad"
[[step]]
do = "node add worker-9 --label zone=b"
[[step]]
do = "node update --availability drain worker-9"
[[step]]
expect = "service web tasks-on worker-9 0"
[[step]]
expect = "task of web pending with \"no suitable node\""
"#;

#[test]
fn orchestration_steps_images_and_node_add_parse() {
    let s = parse(ORCH).unwrap();
    assert_eq!(s.images["app:bad"], ImageSpec { behaviour: Behaviour::Exit, code: 3, after: Duration::from_secs(2), cpu_per_request: Duration::ZERO });
    let added = s.nodes.iter().find(|n| n.name == "worker-9").expect("node add declares the machine");
    assert!(added.joins_later && !added.manager && added.labels["zone"] == "b");
    assert_eq!(
        s.steps[3].action,
        Action::Expect {
            predicate: Predicate::ServiceTasksOn { service: "web".into(), node: "worker-9".into(), n: 0 },
            within: grammar::DEFAULT_WITHIN
        }
    );
    assert!(matches!(&s.steps[4].action, Action::Expect { predicate: Predicate::TaskPendingWith { text, .. }, .. } if text == "no suitable node"));
}

#[test]
fn bad_orchestration_steps_are_refused_before_running() {
    for (from, to, want) in [
        ("--replicas 3 --constraint", "--replicas 3 --restart-delay soon --constraint", "is not a duration"),
        ("node update --availability drain worker-9", "node update --availability away worker-9", "active, pause or drain"),
        ("tasks-on worker-9 0", "tasks-on worker-77 0", "unknown node \"worker-77\""),
        ("behaviour = \"exit\"", "behaviour = \"explode\"", "unknown behaviour"),
        ("node add worker-9", "node add worker-1", "already exists"),
        ("tasks-on worker-9 0", "tasks-on worker-9 many", "not a count"),
    ] {
        let e = parse(&ORCH.replace(from, to)).unwrap_err();
        assert!(e.to_string().contains(want), "{from} -> {to}: {e}");
        assert!(e.line > 0, "{e}");
    }
}

#[test]
fn mesh_load_and_request_predicates_parse() {
    let text = GOOD
        .replace("load writes 50/s", "load service web port 8080 rate 200/s")
        .replace("expect = \"leader elected\"", "expect = \"requests failed <= 3\"")
        .replace("expect = \"managers agree\"", "expect = \"requests succeeded >= 100\"");
    let s = parse(&text).unwrap();
    assert_eq!(s.steps[0].action, Action::Do(DoCmd::LoadService { service: "web".into(), port: 8080, per_sec: 200.0 }));
    assert!(matches!(&s.steps[2].action, Action::Expect { predicate: Predicate::RequestsFailed { n: 3, cmp: Cmp::AtMost }, .. }));
    assert!(matches!(&s.steps[4].action, Action::Expect { predicate: Predicate::RequestsSucceeded(100), .. }));
    for (from, to, want) in [
        ("load writes 50/s", "load service web port 99999 rate 200/s", "1..65535"),
        ("load writes 50/s", "load service web port 80 rate fast", "N/s"),
        ("load writes 50/s", "load service web 80", "load service NAME port P rate R/s"),
        ("expect = \"leader elected\"", "expect = \"requests failed lots\"", "not a count of requests"),
        ("expect = \"leader elected\"", "expect = \"requests dropped 0\"", "requests failed N"),
    ] {
        let e = parse(&GOOD.replace(from, to)).unwrap_err();
        assert!(e.to_string().contains(want), "{to}: {e}");
    }
}

// A `do` step splits like a shell: `--args "ping 8.8.8.8"` is one value; an unclosed quote is
// refused with its line.
#[test]
fn do_steps_take_shell_quoting() {
    let text = ORCH.replace("node update --availability drain worker-9", "service update --args \\\"ping 8.8.8.8\\\" web");
    let s = parse(&text).unwrap();
    let Action::Do(DoCmd::Control(shoal_core::cli::ControlCommand::Service(shoal_core::cli::ServiceCommand::Update(u)))) =
        &s.steps[2].action
    else {
        panic!("{:?}", s.steps[2].action)
    };
    let spec = u.apply(&Default::default()).unwrap();
    assert_eq!(spec.task.container.args, ["ping", "8.8.8.8"]);
    let e = parse(&ORCH.replace("node update --availability drain worker-9", "service update --args \\\"ping web")).unwrap_err();
    assert!(e.to_string().contains("unbalanced quotes") && e.line > 0, "{e}");
}

// Invalid update configs are refused when the file is read, with the flag and what to write.
#[test]
fn invalid_update_configs_are_refused_with_the_flag() {
    for (flags, want) in [
        ("--update-parallelism -1", "--update-parallelism"),
        ("--update-max-failure-ratio 1.5", "use a number in [0, 1]"),
        ("--rollback-failure-action rollback", "rollback-failure-action"),
        ("--update-order sideways", "update-order"),
        ("--update-delay soon", "is not a duration"),
    ] {
        let text = ORCH.replace("node update --availability drain worker-9", &format!("service update {flags} web"));
        let e = parse(&text).unwrap_err();
        assert!(e.to_string().contains(want), "{flags}: {e}");
        assert!(e.line > 0, "{e}");
    }
}

/// Scenario files from outside never panic the parser (issue "trust", item 6): every file
/// under scenarios/ and the explorer's plans of a few seeds, mutated 2,000 times
/// (a range deleted, duplicated, or a syntax fragment or extreme value inserted), parse or
/// are refused with an error. Seeded, so a failure replays.
#[test]
fn mutated_scenario_files_never_panic_the_parser() {
    use rand::{Rng, SeedableRng};
    const FRAGMENTS: &[&str] = &[
        "[", "]", "[[step]]\n", "=", "\"", "\n", "{", "}", ",", "-1", "18446744073709551616", "1e400", "nan", "0s", "99999999h",
        "5x", "workers = ", "managers = 0\n", "do = \"", "expect = \"", "fault = \"crash ", "within = \"", "after = \"", "at = \"",
        "every = \"", "rate = ", "kind = \"", "service ", "node ", "--replicas ", "\u{0}", "é", "true", "[[injector]]\n",
        "[[cluster.node]]\nname = \"", "labels = { ", "[images.\"a:1\"]\nbehaviour = \"", "seed = ", "\\u{0}",
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut texts = Vec::new();
    for sub in std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.path().is_dir()) {
        for f in std::fs::read_dir(sub.path()).unwrap().flatten() {
            if f.path().extension().is_some_and(|x| x == "toml") {
                texts.push(std::fs::read_to_string(f.path()).unwrap());
            }
        }
    }
    texts.extend((1..6).map(|s| crate::explore::plan(s).text));
    texts.extend((1..6).map(|s| crate::what_if::plan(s).text));
    assert!(texts.len() > 40, "found {} scenario files", texts.len());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(23);
    let mut refused = 0;
    // SHOAL_FUZZ_CASES raises the count, as for the core's properties (scripts/fuzz-long).
    let cases: usize = std::env::var("SHOAL_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    for k in 0..cases {
        let mut t = texts[k % texts.len()].clone();
        for _ in 0..rng.gen_range(1..4) {
            let mut at = rng.gen_range(0..=t.len());
            while !t.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + rng.gen_range(1..60)).min(t.len());
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            match rng.gen_range(0..3) {
                0 => t.replace_range(at..end, ""),
                1 => {
                    let piece = t[at..end].to_string();
                    t.insert_str(at, &piece);
                }
                _ => t.insert_str(at, FRAGMENTS[rng.gen_range(0..FRAGMENTS.len())]),
            }
        }
        // Either answer is fine; a panic fails the test with the case number.
        refused += usize::from(Scenario::parse(&format!("<mutation {k}>"), &t).is_err());
    }
    eprintln!("mutated scenario files: {refused} of {cases} refused, the rest parsed");
    // The mutations must reach both answers, or the test only exercised one path.
    assert!(refused > cases / 20 && refused < cases, "{refused} of {cases} refused");
}

/// A twin's machines come from its snapshot (relative to the scenario file), named by
/// hostname so steps can name them; a file that also describes a [cluster], names a missing
/// snapshot, or describes no machines at all is refused with its line and key.
#[test]
fn from_snapshot_gives_the_machines_or_a_clear_error() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/twin");
    let file = format!("{dir}/t.toml");
    let steps = "[[step]]\nfault = \"crash w2\"\n";
    let s = Scenario::parse(&file, &format!("name = \"t\"\nfrom_snapshot = \"cluster.snap\"\n{steps}")).unwrap();
    let names: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, vec!["w2", "m3", "m1", "w1", "m2"]);
    assert_eq!(s.managers().count(), 3);
    assert!(s.nodes.iter().all(|n| n.twin.is_some()) && s.twin.is_some());
    let both = Scenario::parse(&file, &format!("name = \"t\"\nfrom_snapshot = \"cluster.snap\"\n[cluster]\nmanagers = 1\n{steps}")).unwrap_err();
    assert_eq!((both.line, both.key.as_str()), (3, "cluster"), "{both}");
    let missing = Scenario::parse(&file, &format!("name = \"t\"\nfrom_snapshot = \"nope.snap\"\n{steps}")).unwrap_err();
    assert_eq!((missing.line, missing.key.as_str()), (2, "from_snapshot"), "{missing}");
    assert!(missing.message.contains("cannot read") && missing.message.contains("relative to the scenario file"), "{missing}");
    let none = parse("name = \"t\"\n[[step]]\nfault = \"heal\"\n").unwrap_err();
    assert!(none.key == "cluster" && none.message.contains("from_snapshot"), "{none}");
    // Given on the command line, the snapshot replaces the file's [cluster].
    let s = Scenario::parse_with("t.toml", GOOD, Some(SnapshotArg::File(&format!("{dir}/cluster.snap")))).unwrap();
    assert_eq!((s.nodes.len(), s.managers().count()), (5, 3));
    assert!(s.nodes.iter().all(|n| n.twin.is_some()));
}
