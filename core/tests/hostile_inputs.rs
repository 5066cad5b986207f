//! Inputs from outside never panic (issue "trust", item 6): compose files, the CLI's words,
//! the Engine API's service specs, control requests from a peer (every write operation, with
//! mutated specs), join tokens, store snapshots, variable interpolation,
//! constraints, preferences and `--format` templates. Each property takes valid inputs and
//! mutates them (bytes deleted, duplicated, replaced with syntax characters or extreme
//! numbers) or generates text from the grammar's alphabet, and requires an answer — Ok or a
//! clear error — never a panic. Bounded work is checked by the test's own time: a hang fails
//! CI's timeout.
//!
//! Cases per property: 2,000 (SHOAL_FUZZ_CASES overrides; `scripts/fuzz-long` runs millions on
//! the release build).

use proptest::prelude::*;
use shoal_core::stack::load::Source;
use shoal_core::stack::Variables;

fn cases() -> u32 {
    std::env::var("SHOAL_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}

fn corpus(name: &str) -> String {
    let path = format!("{}/../scenarios/stacks/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One edit of a text: what the generator does to valid inputs.
#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: &'static str },
    Duplicate { at: usize, len: usize },
}

/// Fragments that stress parsers: syntax characters, extreme numbers, odd units and nesting.
const FRAGMENTS: &[&str] = &[
    "{", "}", "[", "]", ":", "- ", "\n", "\t", "  ", "\"", "'", "${", "$$", "${X:?boom}", "&a", "*a", "<<: *a", "!!binary ",
    "-1", "0", "18446744073709551616", "99999999999999999999999", "1e400", "NaN", "-0.0", "9223372036854775807",
    "1.5g", "10000000000G", "5x", "-5s", "1h1h", "999999999h", "0.000000001", "\u{0}", "é", "\u{202e}", "null", "~", "true",
    "replicas: ", "mode: global", "published: ", "target: ", "=", "==", "!=", ",", "node.labels.", "spread=",
    "{{", "}}", "{{.", "{{json .}}", "table ", "\\t",
];

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), proptest::sample::select(FRAGMENTS)).prop_map(|(at, text)| Edit::Insert { at, text }),
        (any::<usize>(), 1usize..80).prop_map(|(at, len)| Edit::Duplicate { at, len }),
    ]
}

/// `text` with `edits` applied, at char boundaries.
fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut s = text.to_string();
    let boundary = |s: &str, at: usize| {
        if s.is_empty() {
            return 0;
        }
        let mut i = at % (s.len() + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    for e in edits {
        match e {
            Edit::Delete { at, len } => {
                let a = boundary(&s, *at);
                let b = boundary(&s, (a + len).min(s.len()));
                s.replace_range(a..b.max(a), "");
            }
            Edit::Insert { at, text } => {
                let a = boundary(&s, *at);
                s.insert_str(a, text);
            }
            Edit::Duplicate { at, len } => {
                let a = boundary(&s, *at);
                let b = boundary(&s, (a + len).min(s.len()));
                let piece = s[a..b.max(a)].to_string();
                s.insert_str(a, &piece);
            }
        }
        // Bounded inputs: a duplication loop must not grow a case without limit.
        if s.len() > 64 * 1024 {
            s.truncate(boundary(&s, 64 * 1024));
        }
    }
    s
}

fn stack_files() -> Vec<(&'static str, String)> {
    ["demo.yml", "demo-v2.yml", "unplaceable.yml", "corpus/voting-app.yml", "corpus/swarmprom.yml", "corpus/atsea-shop.yml"]
        .into_iter()
        .map(|n| (n, corpus(n)))
        .collect()
}

fn vars() -> Variables {
    let mut v = Variables::default();
    v.0.insert("WEB_REPLICAS".into(), "2".into());
    v.0.insert("WEB_PORT".into(), "8080".into());
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// A mutated compose file is loaded, interpolated and converted, or refused with an error.
    #[test]
    fn compose_files_never_panic(file in 0usize..6, edits in proptest::collection::vec(edit_strategy(), 1..4)) {
        let files = stack_files();
        let (name, text) = &files[file];
        let sources = vec![Source { name: name.to_string(), text: mutate(text, &edits) }];
        let read = |_: &str| -> Result<Vec<u8>, String> { Ok(b"content".to_vec()) };
        let _ = shoal_core::stack::prepare("st", &sources, "/tmp", &vars(), &read);
    }

    /// Any words are parsed into a command or refused; a parsed command's flags convert to a
    /// spec or are refused.
    #[test]
    fn cli_words_never_panic(
        base in proptest::sample::select(CLI_COMMANDS),
        ops in proptest::collection::vec((any::<usize>(), proptest::sample::select(CLI_WORDS), 0u8..3), 0..4),
        extra in ".{0,12}",
    ) {
        // A valid command with words replaced, inserted or deleted, and one made-up word.
        let mut words: Vec<String> = base.split_whitespace().map(str::to_string).collect();
        for (at, w, op) in ops {
            let i = at % (words.len() + 1);
            match op {
                0 if i < words.len() => words[i] = w.to_string(),
                1 if i < words.len() => { words.remove(i); }
                _ => words.insert(i, w.to_string()),
            }
        }
        let at = words.len();
        words.insert(extra.len() % (at + 1), extra);
        if let Ok(cmd) = shoal_core::cli::parse_control(&words) {
            use shoal_core::cli::{ControlCommand, ServiceCommand};
            match &cmd {
                ControlCommand::Service(ServiceCommand::Create(c)) => { let _ = c.to_spec(); }
                ControlCommand::Service(ServiceCommand::Update(u)) => { let _ = u.apply(&Default::default()); }
                _ => {}
            }
            let _ = shoal_core::cli::plan_requests(&cmd);
        }
    }

    /// A mutated Engine API service spec (as `docker service create` sends it) is decoded,
    /// converted and validated, or refused.
    #[test]
    fn engine_api_service_specs_never_panic(edits in proptest::collection::vec(edit_strategy(), 1..4)) {
        let body = mutate(DOCKER_SPEC, &edits);
        if let Ok(spec) = serde_json::from_str::<shoal_core::engine_api::types::ServiceSpec>(&body) {
            if let Ok(m) = shoal_core::engine_api::convert::spec_from_docker(&spec) {
                let _ = shoal_core::control::validate_spec(&m);
            }
        }
    }

    /// A join token, mutated or made up, grants a role or is refused.
    #[test]
    fn join_tokens_never_panic(seed in any::<u64>(), edits in proptest::collection::vec(edit_strategy(), 0..4), made_up in "[A-Za-z0-9-]{0,90}") {
        use rand::SeedableRng;
        let root = shoal_core::ca::new_root(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let token = mutate(&root.join_token_worker, &edits);
        let _ = shoal_core::ca::role_for(&root, &token);
        let _ = shoal_core::ca::role_for(&root, &made_up);
        let _ = shoal_core::ca::digest_of(&token);
    }

    /// A mutated store snapshot restores or is refused as corrupt.
    #[test]
    fn store_snapshots_never_panic(edits in proptest::collection::vec(edit_strategy(), 1..4)) {
        let bytes = mutate(&snapshot_text(), &edits);
        let _ = shoal_core::store::Store::restore(bytes.as_bytes());
    }

    /// Interpolation of any text over `$`, braces and modifiers ends with a text or an error.
    #[test]
    fn interpolation_never_panics(text in "[$${}:?+\\-_A-Za-z0-9 ]{0,40}") {
        let _ = shoal_core::stack::interpolate::substitute(&text, &vars());
    }

    /// A control request from a peer, any operation with mutated specs and made-up names, is
    /// turned into store actions or refused; the actions apply or are refused.
    #[test]
    fn control_writes_from_a_peer_never_panic(
        which in 0u8..17,
        edits in proptest::collection::vec(edit_strategy(), 0..4),
        name in proptest::sample::select(&["web", "", "svc1", "node1", "nosuch", "w*", "a/b", "\u{0}"][..]),
        n in proptest::sample::select(&[0u64, 1, 3, 100_000, 100_001, u64::MAX][..]),
        version in proptest::sample::select(&[0u64, 1, 7, u64::MAX][..]),
    ) {
        use shoal_core::proto::{self, control_request::Op};
        let store = store_with_cluster();
        let key = |k: &str| proto::ObjectKey { key: k.to_string() };
        let spec = mutate(&model_spec(), &edits).into_bytes();
        let op = match which {
            0 => Op::CreateService(proto::CreateService { spec }),
            1 => Op::UpdateService(proto::UpdateService { service: name.into(), spec, version }),
            2 => Op::ScaleService(proto::ScaleService { service: name.into(), replicas: n }),
            3 => Op::RemoveService(key(name)),
            4 => Op::RollbackService(key(name)),
            5 => Op::UpdateNode(proto::UpdateNode { node: name.into(), availability: mutate("drain", &edits), role: mutate("worker", &edits), version, ..Default::default() }),
            6 => Op::RotateJoinToken(proto::RotateJoinToken { role: mutate("manager", &edits), token_seed: mutate("seed", &edits).into_bytes() }),
            7 => Op::RemoveNode(proto::RemoveNode { node: name.into(), force: n % 2 == 0 }),
            8 => Op::UpdateCluster(proto::UpdateCluster {
                task_history_limit: Some(n as u32),
                max_service_replicas: Some(n),
                autolock: Some(n % 2 == 0),
                rotate_unlock_key: version % 2 == 1,
                // A peer's key: well-formed or not.
                new_unlock_key: mutate("SWMKEY-1-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &edits),
                // Out of bounds as often as not: 0, under 1 s or 1 h, huge.
                dispatcher_heartbeat_ms: (n % 3 == 0).then_some(n.wrapping_mul(997)),
                cert_expiry_secs: (n % 5 == 0).then_some(n.wrapping_mul(7919)),
                // A root rotation, with a peer's new root (whatever it holds) or none.
                rotate_ca: n % 7 == 0,
                new_root_ca: (n % 2 == 0).then(|| proto::NewRootCa {
                    ca_cert_pem: mutate("-----BEGIN CERTIFICATE-----", &edits),
                    ca_key_pem: mutate("key", &edits),
                    cross_signed_pem: mutate("cross", &edits),
                    issuer_subject: mutate("c3ViamVjdA==", &edits),
                    issuer_public_key: mutate("a2V5", &edits),
                    digest: mutate(&"0".repeat(50), &edits),
                    signed_by_pem: mutate("-----BEGIN CERTIFICATE-----", &edits),
                    token_seed: mutate(&"s".repeat(32), &edits).into_bytes(),
                }),
            }),
            9 => Op::CreateSecret(proto::CreatePayload { spec: mutate(&payload_spec(), &edits).into_bytes() }),
            10 => Op::CreateConfig(proto::CreatePayload { spec: mutate(&payload_spec(), &edits).into_bytes() }),
            11 => Op::RemoveSecret(key(name)),
            12 => Op::UpdateSecret(proto::UpdatePayload { key: name.into(), version, data_given: n % 2 == 1, data: spec, ..Default::default() }),
            13 => Op::CreateNetwork(proto::CreatePayload { spec: mutate(&network_spec(), &edits).into_bytes() }),
            14 => Op::RemoveNetwork(key(name)),
            15 => Op::PlanWrites(proto::PlanWrites::default()),
            _ => Op::GetService(key(name)),
        };
        let mut ids = shoal_core::orchestrator::IdGen::new(1);
        if let Ok(Some((actions, _))) = shoal_core::control::write_actions(&store, &op, &mut ids, 1) {
            let mut s = store.clone();
            for txn in shoal_core::store::batches(1_000, actions) {
                let i = s.last_index() + 1;
                let _ = s.apply(i, &txn);
            }
        }
    }

    /// Constraints, placement preferences and `--format` templates parse or are refused.
    #[test]
    fn constraints_preferences_and_formats_never_panic(text in "[a-z.=!{}\\[\\] _A-Z|\\\\t]{0,40}") {
        let _ = shoal_core::constraint::Constraint::parse_all(std::slice::from_ref(&text));
        let _ = shoal_core::constraint::parse_preference(&text);
        let _ = shoal_core::cli::format::parse_format(&text);
    }
}

/// Valid commands, the starting points of the CLI property.
const CLI_COMMANDS: &[&str] = &[
    "service create --name web --replicas 3 -p 8080:80 --limit-memory 64M --env A=b shoal-app:1 -x",
    "service create --name j --mode replicated-job --max-concurrent 2 --restart-condition none shoal-app:1",
    "service create --name g --mode global --constraint node.role==worker --placement-pref spread=node.labels.zone shoal-app:1",
    "service update --image shoal-app:2 --update-parallelism 2 --update-delay 5s --update-order start-first web",
    "service update --secret-add source=s,target=t --config-add c --network-add name=n,alias=a --health-cmd true web",
    "service scale web=5 api=2",
    "service rm web --dry-run",
    "service rollback web",
    "node update --availability drain --label-add zone=east worker-1",
    "node promote worker-1",
    "swarm update --max-service-replicas 10",
    "swarm join-token --rotate worker",
    "stack deploy -c demo.yml --prune demo",
    "network create -d overlay --subnet 10.1.0.0/24 --attachable net",
    "secret create s file",
];

/// Words the CLI knows, flags with and without values, and hostile values.
const CLI_WORDS: &[&str] = &[
    "service", "node", "swarm", "secret", "config", "network", "stack", "create", "update", "scale", "rm", "rollback", "ls",
    "ps", "inspect", "logs", "promote", "demote", "deploy", "join-token", "--name", "web", "--replicas", "--mode", "global",
    "replicated-job", "--publish", "-p", "8080:80", "0:80", "70000:80", "mode=host,target=80", "--limit-memory", "--limit-cpu",
    "--reserve-memory", "1e400g", "-1", "99999999999999999999", "--update-delay", "--update-parallelism", "5x", "--constraint",
    "node.labels.x==", "--placement-pref", "spread=", "--secret", "source=,target=", "--config", "--network", "name=,alias=",
    "--env", "=", "--mount", "type=bind", "--dry-run", "--format", "json", "--availability", "drain", "--label-add", "--role",
    "manager", "--rotate", "worker", "-c", "--prune", "--detach=false", "--max-concurrent", "--restart-delay", "--health-cmd",
    "--stop-grace-period", "--rollback", "--force", "shoal-app:1", "Shoal-App:1!!", "a=b", "web=3", "web=-3", "--",
];

/// A service spec as the docker CLI sends one (`docker service create -p 8080:80 --replicas 3
/// --limit-memory 64M --env A=b --constraint node.role==worker --update-delay 5s`).
const DOCKER_SPEC: &str = r#"{"Name":"web","Labels":{"a":"b"},"TaskTemplate":{"ContainerSpec":{"Image":"shoal-app:1","Args":["-x"],"Env":["A=b"],"StopGracePeriod":10000000000,"Healthcheck":{"Test":["CMD","true"],"Interval":1000000000}},"Resources":{"Limits":{"MemoryBytes":67108864,"NanoCPUs":500000000},"Reservations":{}},"RestartPolicy":{"Condition":"any","Delay":5000000000,"MaxAttempts":0},"Placement":{"Constraints":["node.role==worker"],"Preferences":[{"Spread":{"SpreadDescriptor":"node.labels.zone"}}],"MaxReplicas":2},"Networks":[{"Target":"front","Aliases":["w"]}],"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":3}},"UpdateConfig":{"Parallelism":1,"Delay":5000000000,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"RollbackConfig":{"Parallelism":1,"FailureAction":"pause","Order":"stop-first"},"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}}"#;

/// A service spec as the `shoal` CLI sends one (model JSON), made by the CLI itself.
fn model_spec() -> String {
    let words = "service create --name api --replicas 3 -p 8080:80 --limit-memory 64M --constraint node.role==worker -e A=b shoal-app:2 -x";
    let cmd = shoal_core::cli::parse_control(words.split_whitespace()).expect("a valid command");
    let shoal_core::cli::ControlCommand::Service(shoal_core::cli::ServiceCommand::Create(c)) = cmd else { unreachable!("a create") };
    serde_json::to_string(&c.to_spec().expect("a valid spec")).expect("specs serialise")
}

fn payload_spec() -> String {
    let mut s = shoal_core::model::SecretSpec { data: b"hi".to_vec(), ..Default::default() };
    s.annotations.name = "s".into();
    serde_json::to_string(&s).expect("specs serialise")
}

fn network_spec() -> String {
    let mut s = shoal_core::model::NetworkSpec { driver: "overlay".into(), attachable: true, ..Default::default() };
    s.annotations.name = "net".into();
    serde_json::to_string(&s).expect("specs serialise")
}

/// The snapshot's objects and the cluster object (control writes need its settings).
fn store_with_cluster() -> shoal_core::store::Store {
    let s = shoal_core::store::Store::restore(snapshot_text().as_bytes()).expect("a valid snapshot");
    let mut objects: Vec<shoal_core::model::Object> = shoal_core::model::Kind::ALL.into_iter().flat_map(|k| s.list(k).cloned().collect::<Vec<_>>()).collect();
    objects.push(shoal_core::model::Object::Cluster(shoal_core::model::Cluster { id: "default".into(), ..Default::default() }));
    shoal_core::store::Store::from_objects(s.last_index(), objects).expect("a valid store")
}

/// A small store's snapshot: a cluster, a node, a service and its task.
fn snapshot_text() -> String {
    use shoal_core::model::{Object, Service, Task};
    let mut svc = Service { id: "svc1".into(), ..Default::default() };
    svc.spec.annotations.name = "web".into();
    svc.spec.task.container.image = "shoal-app:1".into();
    let t = Task { id: "task1".into(), service_id: "svc1".into(), service_name: "web".into(), slot: 1, ..Default::default() };
    let node = shoal_core::model::Node { id: "node1".into(), ..Default::default() };
    let s = shoal_core::store::Store::from_objects(7, vec![Object::Service(svc), Object::Task(t), Object::Node(node)]).expect("a valid store");
    String::from_utf8(s.snapshot()).expect("snapshots are JSON")
}

/// The CLI property mutates valid commands: each starting point must parse, or the property
/// would only ever test refusals.
#[test]
fn the_cli_starting_points_parse() {
    for c in CLI_COMMANDS {
        let words: Vec<&str> = c.split_whitespace().collect();
        assert!(shoal_core::cli::parse_control(&words).is_ok(), "{c}: {:?}", shoal_core::cli::parse_control(&words));
    }
    let (name, text) = &stack_files()[0];
    let read = |_: &str| -> Result<Vec<u8>, String> { Ok(b"content".to_vec()) };
    let sources = vec![Source { name: name.to_string(), text: text.clone() }];
    assert!(shoal_core::stack::prepare("st", &sources, "/tmp", &vars(), &read).is_ok(), "the compose starting point converts");
    let spec: shoal_core::engine_api::types::ServiceSpec = serde_json::from_str(DOCKER_SPEC).expect("the Engine API starting point decodes");
    assert!(shoal_core::engine_api::convert::spec_from_docker(&spec).is_ok());
    assert!(shoal_core::store::Store::restore(snapshot_text().as_bytes()).is_ok());
    // The control property's specs decode, so its mutations start from valid requests.
    let store = store_with_cluster();
    let op = shoal_core::proto::control_request::Op::CreateService(shoal_core::proto::CreateService { spec: model_spec().into_bytes() });
    let r = shoal_core::control::write_actions(&store, &op, &mut shoal_core::orchestrator::IdGen::new(1), 1);
    assert!(matches!(r, Ok(Some(_))), "{r:?}");
    for (spec, what) in [(payload_spec(), "secret"), (network_spec(), "network")] {
        let op = if what == "secret" {
            shoal_core::proto::control_request::Op::CreateSecret(shoal_core::proto::CreatePayload { spec: spec.as_bytes().to_vec() })
        } else {
            shoal_core::proto::control_request::Op::CreateNetwork(shoal_core::proto::CreatePayload { spec: spec.as_bytes().to_vec() })
        };
        let r = shoal_core::control::write_actions(&store, &op, &mut shoal_core::orchestrator::IdGen::new(1), 1);
        assert!(matches!(r, Ok(Some(_))), "{what}: {r:?}");
    }
}
