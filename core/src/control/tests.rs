use super::*;
use crate::model::{EndpointSpec, PortConfig, PublishMode, SecretSpec};
use crate::model::Cluster;
use crate::store::Transaction;
use rand_chacha::ChaCha8Rng;

fn spec(name: &str, image: &str) -> ServiceSpec {
    let mut s = ServiceSpec::default();
    s.annotations.name = name.into();
    s.task.container.image = image.into();
    s.mode = ServiceMode::Replicated { replicas: 3 };
    s
}

fn apply(store: &mut Store, actions: Vec<Action>) {
    let i = store.last_index() + 1;
    store.apply(i, &Transaction { timestamp_ms: 0, actions }).unwrap();
}

#[test]
fn bad_specs_are_refused_with_what_to_fix() {
    let store = Store::new();
    let cases: Vec<(ServiceSpec, &str)> = vec![
        (spec("web", ""), "image reference must be provided"),
        (spec("-web", "nginx"), "is not valid"),
        ({ let mut s = spec("web", "nginx"); s.task.placement.constraints = vec!["node.colour==red".into()]; s }, "unknown key"),
        ({ let mut s = spec("web", "nginx"); s.task.placement.constraints = vec!["node.role~=manager".into()]; s }, "no operator"),
        ({ let mut s = spec("web", "nginx"); s.task.placement.preferences = vec!["spread=zone".into()]; s }, "placement preference"),
    ];
    for (s, want) in cases {
        let e = create_service(&store, s, "id1".into()).unwrap_err();
        assert!(e.to_string().contains(want), "{e} does not contain {want}");
    }
}

#[test]
fn duplicate_names_and_port_clashes_are_refused() {
    let mut store = Store::new();
    let mut a = spec("web", "nginx");
    a.endpoint = Some(EndpointSpec {
        ports: vec![PortConfig { protocol: "tcp".into(), target_port: 80, published_port: 8080, publish_mode: PublishMode::Ingress }],
        ..Default::default()
    });
    let act = create_service(&store, a.clone(), "s1".into()).unwrap();
    apply(&mut store, act);
    let e = create_service(&store, spec("web", "nginx"), "s2".into()).unwrap_err();
    assert!(matches!(e, ControlError::AlreadyExists(_)), "{e}");
    let mut b = a.clone();
    b.annotations.name = "api".into();
    let e = create_service(&store, b, "s2".into()).unwrap_err();
    assert!(e.to_string().contains("port '8080' is already in use by service 'web'"), "{e}");
    // Updating the holder itself with the same port is fine.
    assert!(update_service(&store, "web", a, None).is_ok());
}

#[test]
fn update_bumps_the_version_only_for_template_changes() {
    let mut store = Store::new();
    let act = create_service(&store, spec("web", "nginx:1"), "s1".into()).unwrap();
    apply(&mut store, act);
    let act = scale_service(&store, "web", 5).unwrap();
    apply(&mut store, act);
    let s = find_service(&store, "web").unwrap().clone();
    assert_eq!((s.spec_version, s.spec.mode.clone(), s.previous_spec.is_none()), (1, ServiceMode::Replicated { replicas: 5 }, true));
    let mut new = s.spec.clone();
    new.task.container.image = "nginx:2".into();
    let act = update_service(&store, "s1", new, Some(s.meta.version)).unwrap();
    apply(&mut store, act);
    let s2 = find_service(&store, "s").unwrap();
    assert_eq!(s2.spec_version, 2);
    assert_eq!(s2.previous_spec.as_ref().unwrap().task.container.image, "nginx:1");
    let e = update_service(&store, "web", s.spec.clone(), Some(s.meta.version)).unwrap_err();
    assert!(e.to_string().contains("out of sequence"), "{e}");
    assert!(matches!(find_service(&store, "nope"), Err(ControlError::NotFound(_))));
}

#[test]
fn node_rm_refuses_live_nodes_and_managers() {
    let mut store = Store::new();
    let mut n = Node { id: "n1".into(), ..Default::default() };
    n.status.state = NodeState::Ready;
    n.description = Some(crate::model::NodeDescription { hostname: "worker-1".into(), ..Default::default() });
    let mut m = n.clone();
    m.id = "m1".into();
    m.role = NodeRole::Manager;
    m.description.as_mut().unwrap().hostname = "manager-1".into();
    apply(&mut store, vec![Action::Create(Object::Node(n)), Action::Create(Object::Node(m))]);
    let e = remove_node(&store, "worker-1", false).unwrap_err();
    assert!(e.to_string().contains("is not down"), "{e}");
    assert!(remove_node(&store, "worker-1", true).is_ok());
    let e = remove_node(&store, "manager-1", true).unwrap_err();
    assert!(e.to_string().contains("demote it"), "{e}");
    let u = NodeUpdate { availability: Some(NodeAvailability::Drain), ..Default::default() };
    assert_eq!(update_node(&store, "worker-1", &u).unwrap().len(), 1);
    let e = update_node(&store, "worker-9", &u).unwrap_err();
    assert!(e.to_string().contains("node worker-9 not found"), "{e}");
}

/// Revocation (issue 22): a removed node's certificate opens nothing, a demoted node's
/// manager certificate opens no manager service; a node the store does not know is not refused.
#[test]
fn removed_and_demoted_nodes_certificates_are_refused() {
    use super::revocation::{check, Revoked};
    let mut store = Store::new();
    let mut w = Node { id: "w1".into(), ..Default::default() };
    w.status.state = NodeState::Down;
    let mut d = Node { id: "m2".into(), ..Default::default() };
    d.spec.desired_role = NodeRole::Worker;
    let mut m = Node { id: "m1".into(), role: NodeRole::Manager, ..Default::default() };
    m.spec.desired_role = NodeRole::Manager;
    let cluster = Cluster { id: crate::leader::CLUSTER_ID.into(), ..Default::default() };
    apply(&mut store, vec![Action::Create(Object::Cluster(cluster)), Action::Create(Object::Node(w)), Action::Create(Object::Node(d)), Action::Create(Object::Node(m))]);
    assert_eq!(check(&store, "w1", false), Ok(()));
    let rm = remove_node(&store, "w1", false).unwrap();
    assert_eq!(rm.len(), 2, "the node goes and the cluster remembers it");
    apply(&mut store, rm);
    assert_eq!(check(&store, "w1", false), Err(Revoked::Removed("w1".into())));
    assert_eq!(check(&store, "m2", true), Err(Revoked::Demoted("m2".into())));
    assert_eq!(check(&store, "m2", false), Ok(()), "a demoted node is still a worker");
    assert_eq!(check(&store, "m1", true), Ok(()));
    assert_eq!(check(&store, "new-manager", true), Ok(()));
}

#[test]
fn joins_follow_the_current_tokens_and_rotation_leaves_members_alone() {
    use rand::SeedableRng;
    let mut store = Store::new();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    assert!(join_node(&store, "x", "n0".into(), 0, "a:1").unwrap_err().to_string().contains("still initialising"));
    let root = ca::new_root(&mut rng);
    apply(&mut store, vec![Action::Create(Object::Cluster(Cluster { id: crate::leader::CLUSTER_ID.into(), root_ca: root.clone(), ..Default::default() }))]);

    let (a, role) = join_node(&store, &root.join_token_manager, "n1".into(), 7, "10.0.0.7:4242").unwrap();
    assert_eq!(role, NodeRole::Manager);
    apply(&mut store, a);
    let n1 = find_node(&store, "n1").unwrap();
    assert_eq!((n1.spec.desired_role, n1.status.state, n1.raft_id), (NodeRole::Manager, NodeState::Unknown, 7));
    assert!(matches!(join_node(&store, &root.join_token_worker, "n1".into(), 8, "b:1"), Err(AlreadyExists(_))));

    let before = store.clone();
    let a = rotate_join_token(&store, NodeRole::Worker, &mut rng).unwrap();
    apply(&mut store, a);
    let e = join_node(&store, &root.join_token_worker, "n2".into(), 0, "b:1").unwrap_err();
    assert!(e.to_string().contains("not the current"), "{e}");
    let e = join_node(&store, "hunter2", "n2".into(), 0, "b:1").unwrap_err();
    assert!(e.to_string().contains("invalid join token"), "{e}");
    // The manager token and the members stay as they were.
    let (_, role) = join_node(&store, &root.join_token_manager, "n2".into(), 0, "b:1").unwrap();
    assert_eq!(role, NodeRole::Manager);
    assert_eq!(find_node(&store, "n1").unwrap(), find_node(&before, "n1").unwrap());

    // The runtime's randomness, when given, decides the new token (the core's seed does not).
    let op = |token_seed: Vec<u8>| crate::proto::control_request::Op::RotateJoinToken(crate::proto::RotateJoinToken { role: "worker".into(), token_seed });
    let token = |op, seed| {
        let a = write_actions(&store, &op, &mut crate::orchestrator::IdGen::new(1), seed).unwrap().unwrap().0;
        match &a[..] {
            [Action::Update { object: Object::Cluster(c), .. }] => c.root_ca.join_token_worker.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(token(op(vec![9; 32]), 1), token(op(vec![9; 32]), 2));
    assert_ne!(token(op(vec![9; 32]), 1), token(op(vec![8; 32]), 1));
    assert_ne!(token(op(Vec::new()), 1), token(op(Vec::new()), 2), "the simulator's: from the seed");
}

#[test]
fn bad_update_configs_and_rollbacks_are_refused_without_a_change() {
    use crate::model::{FailureAction, UpdateConfig};
    let mut store = Store::new();
    let mut s = spec("web", "nginx");
    s.update = Some(UpdateConfig { max_failure_ratio: 1.5, ..Default::default() });
    assert!(create_service(&store, s.clone(), "a".into()).unwrap_err().to_string().contains("outside [0, 1]"));
    s.update = None;
    s.rollback = Some(UpdateConfig { failure_action: FailureAction::Rollback, ..Default::default() });
    assert!(create_service(&store, s.clone(), "a".into()).unwrap_err().to_string().contains("never rolled back"));
    s.rollback = None;
    let a = create_service(&store, s.clone(), "a".into()).unwrap();
    apply(&mut store, a);
    let before = store.clone();
    assert!(rollback_service(&store, "web").unwrap_err().to_string().contains("no previous spec"));
    assert!(matches!(rollback_service(&store, "nope"), Err(NotFound(_))));
    assert!(matches!(update_service(&store, "nope", s, None), Err(NotFound(_))));
    assert_eq!(store, before);
}

fn secret_spec(name: &str, data: &[u8]) -> crate::model::SecretSpec {
    crate::model::SecretSpec { annotations: crate::model::Annotations { name: name.into(), ..Default::default() }, data: data.to_vec() }
}

// docker secret create / service create --secret / secret rm: names resolve to ids when the
// service is written, unknown secrets are refused, and a secret in use cannot be removed.
#[test]
fn secrets_resolve_by_name_and_cannot_go_while_in_use() {
    let mut store = Store::new();
    let a = create_payload(&store, PayloadKind::Secret, secret_spec("db-pass", b"hunter2"), "sec1".into()).unwrap();
    apply(&mut store, a);
    let e = create_payload(&store, PayloadKind::Secret, secret_spec("db-pass", b"x"), "sec2".into()).unwrap_err();
    assert!(matches!(e, AlreadyExists(_)), "{e}");
    let e = create_payload(&store, PayloadKind::Secret, secret_spec("empty", b""), "sec3".into()).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    let e = create_payload(&store, PayloadKind::Secret, secret_spec("big", &vec![0u8; MAX_SECRET_BYTES + 1]), "sec4".into()).unwrap_err();
    assert!(e.to_string().contains("at most"), "{e}");

    let mut s = spec("web", "nginx");
    s.task.container.secrets = vec![crate::model::SecretReference { secret_name: "nope".into(), ..Default::default() }];
    let e = create_service(&store, s.clone(), "svc1".into()).unwrap_err();
    assert_eq!(e.to_string(), "secret not found: nope");
    s.task.container.secrets[0].secret_name = "db-pass".into();
    let actions = create_service(&store, s.clone(), "svc1".into()).unwrap();
    let Action::Create(Object::Service(created)) = &actions[0] else { panic!("{actions:?}") };
    let r = &created.spec.task.container.secrets[0];
    assert_eq!((r.secret_id.as_str(), r.target.as_str()), ("sec1", "db-pass"), "resolved to the id, target defaults to the name");
    s.task.container.secrets.push(crate::model::SecretReference { secret_name: "db-pass".into(), ..Default::default() });
    let e = create_service(&store, s, "svc2".into()).unwrap_err();
    assert!(e.to_string().contains("duplicate secret target"), "{e}");
    apply(&mut store, actions);

    let e = remove_payload(&store, PayloadKind::Secret, "db-pass").unwrap_err();
    assert_eq!(e.to_string(), "invalid argument: secret 'db-pass' is in use by the following service: web");
    let rm = remove_service(&store, "web").unwrap();
    apply(&mut store, rm);
    let rm = remove_payload(&store, PayloadKind::Secret, "db-pass").unwrap();
    assert!(matches!(&rm[0], Action::Delete { kind: Kind::Secret, id, .. } if id == "sec1"));
}

// Swarm's secret update changes labels only (swarmkit controlapi UpdateSecret).
#[test]
fn secret_updates_change_labels_only() {
    let mut store = Store::new();
    let spec = SecretSpec { annotations: crate::model::Annotations { name: "pw".into(), ..Default::default() }, data: b"x".to_vec() };
    let created = create_payload(&store, PayloadKind::Secret, spec, "sec1".into()).unwrap();
    apply(&mut store, created);
    let labels: BTreeMap<String, String> = [("a".to_string(), "b".to_string())].into();
    let v = find_secret(&store, "pw").unwrap().meta.version;
    let updated = update_payload(&store, PayloadKind::Secret, "pw", "pw", Some(b"x"), labels.clone(), Some(v)).unwrap();
    apply(&mut store, updated);
    let s = find_secret(&store, "pw").unwrap();
    assert_eq!((s.spec.annotations.labels.clone(), s.spec.data.clone()), (labels.clone(), b"x".to_vec()));
    assert!(update_payload(&store, PayloadKind::Secret, "pw", "pw", None, labels.clone(), Some(s.meta.version)).unwrap().is_empty(), "no change, no write");
    assert!(matches!(update_payload(&store, PayloadKind::Secret, "pw", "pw2", None, labels.clone(), None), Err(InvalidArgument(_))), "a rename is refused");
    assert!(matches!(update_payload(&store, PayloadKind::Secret, "pw", "pw", Some(b"y"), labels.clone(), None), Err(InvalidArgument(_))), "data never changes");
    assert!(matches!(update_payload(&store, PayloadKind::Secret, "pw", "pw", None, labels, Some(v)), Err(OutOfSequence(_))), "a stale version");
}

// Swarm refuses a rename through update (swarmkit controlapi UpdateService).
#[test]
fn a_rename_is_refused() {
    let mut store = Store::new();
    let created = create_service(&store, spec("web", "nginx"), "s1".into()).unwrap();
    apply(&mut store, created);
    assert!(matches!(update_service(&store, "web", spec("www", "nginx"), None), Err(InvalidArgument(_))));
    assert_eq!(find_service(&store, "web").unwrap().spec.annotations.name, "web", "nothing changed");
}

// docker config create / service create --config / config rm: as secrets, with paths in the
// container, owners and modes checked, and two files on one path refused.
#[test]
fn configs_resolve_to_paths_and_cannot_go_while_in_use() {
    let mut store = Store::new();
    let e = create_payload(&store, PayloadKind::Config, secret_spec("big", &vec![b'x'; MAX_CONFIG_BYTES + 1]), "c0".into()).unwrap_err();
    assert!(e.to_string().contains("1000 KiB"), "{e}");
    let a = create_payload(&store, PayloadKind::Config, secret_spec("app-conf", &vec![b'x'; MAX_SECRET_BYTES + 1]), "cfg1".into()).unwrap();
    apply(&mut store, a);
    let mut s = spec("web", "nginx");
    s.task.container.configs = vec![crate::model::ConfigReference { config_name: "app-conf".into(), ..Default::default() }];
    let actions = create_service(&store, s.clone(), "svc1".into()).unwrap();
    let Action::Create(Object::Service(created)) = &actions[0] else { panic!("{actions:?}") };
    let r = &created.spec.task.container.configs[0];
    assert_eq!((r.config_id.as_str(), r.path().as_str()), ("cfg1", "/app-conf"), "resolved, at /NAME by default");
    assert_eq!(as_requested(created.spec.clone()), s, "what the client sent, undone");
    for (target, uid, mode, wrong) in [("/etc/../x", "", None, "'..'"), ("/etc/app", "root", None, "uid"), ("/etc/app", "", Some(0o1777), "mode")] {
        let mut bad = s.clone();
        bad.task.container.configs[0].target = target.into();
        bad.task.container.configs[0].file.uid = uid.into();
        bad.task.container.configs[0].file.mode = mode;
        let e = create_service(&store, bad, "svc2".into()).unwrap_err();
        assert!(matches!(e, InvalidArgument(_)) && e.to_string().contains(wrong), "{e}");
    }
    let mut twice = s.clone();
    twice.task.container.configs.push(crate::model::ConfigReference { config_name: "app-conf".into(), target: "/app-conf".into(), ..Default::default() });
    assert!(create_service(&store, twice, "svc2".into()).unwrap_err().to_string().contains("duplicate config target"));
    apply(&mut store, actions);
    let e = remove_payload(&store, PayloadKind::Config, "app-conf").unwrap_err();
    assert_eq!(e.to_string(), "invalid argument: config 'app-conf' is in use by the following service: web");
    let rm = remove_service(&store, "web").unwrap();
    apply(&mut store, rm);
    assert!(matches!(&remove_payload(&store, PayloadKind::Config, "app-conf").unwrap()[0], Action::Delete { kind: Kind::Config, .. }));
}

fn net_spec(name: &str, subnet: Option<&str>) -> crate::model::NetworkSpec {
    let mut n = crate::model::NetworkSpec { driver: "overlay".into(), ..Default::default() };
    n.annotations.name = name.into();
    n.ipam = subnet.map(|s| vec![crate::model::IpamConfig { subnet: s.into(), gateway: String::new() }]).unwrap_or_default();
    n
}

// docker network create -d overlay [--subnet]: subnets from the pool 10.0.0.0/8 in /24s after
// the ingress network's, never overlapping; VXLAN ids from 4097; names unique; other drivers
// and encrypted overlays refused with what to do; rm refused while a service uses it.
#[test]
fn networks_get_free_subnets_and_cannot_go_while_in_use() {
    let mut store = Store::new();
    apply(&mut store, vec![Action::Create(Object::Network(ingress_network("ing".into(), &Default::default())))]);
    let a = create_network(&store, net_spec("back", None), "n1".into()).unwrap();
    apply(&mut store, a);
    let a = create_network(&store, net_spec("front", Some("10.0.9.0/24")), "n2".into()).unwrap();
    apply(&mut store, a);
    let a = create_network(&store, net_spec("third", None), "n3".into()).unwrap();
    apply(&mut store, a);
    let got: Vec<(String, String, u32)> = ["back", "front", "third"]
        .iter()
        .map(|k| {
            let n = find_network(&store, k).unwrap();
            (n.ipam[0].subnet.clone(), n.ipam[0].gateway.clone(), n.vxlan_id)
        })
        .collect();
    assert_eq!(
        got,
        [("10.0.1.0/24", "10.0.1.1", 4097), ("10.0.9.0/24", "10.0.9.1", 4098), ("10.0.2.0/24", "10.0.2.1", 4099)]
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c))
    );
    let before = store.clone();
    for (spec, wrong) in [
        (net_spec("back", None), "already exists"),
        (net_spec("x", Some("10.0.9.128/25")), "overlaps network front"),
        (net_spec("x", Some("10.0.0.0/16")), "overlaps network ingress"),
        (net_spec("x", Some("10.0.50.7/24")), "host bits"),
        (crate::model::NetworkSpec { driver: "bridge".into(), ..net_spec("x", None) }, "overlay driver"),
    ] {
        let e = create_network(&store, spec, "nx".into()).unwrap_err();
        assert!(e.to_string().contains(wrong), "{wrong}: {e}");
    }
    let mut enc = net_spec("x", None);
    enc.driver_opts.insert("encrypted".into(), String::new());
    assert!(create_network(&store, enc, "nx".into()).unwrap_err().to_string().contains("encrypted"));
    assert_eq!(store, before, "nothing written by a refused create");

    let mut s = spec("api", "nginx");
    s.task.networks = vec![crate::model::NetworkAttachmentConfig { target: "back".into(), aliases: vec!["db".into()] }];
    let actions = create_service(&store, s.clone(), "svc1".into()).unwrap();
    let Action::Create(Object::Service(created)) = &actions[0] else { panic!("{actions:?}") };
    assert_eq!(created.spec.task.networks[0].target, "n1", "the name resolved to the id");
    for (target, wrong) in [("nope", "network nope not found"), ("ingress", "ingress network")] {
        let mut bad = s.clone();
        bad.task.networks[0].target = target.into();
        let e = create_service(&store, bad, "svc2".into()).unwrap_err();
        assert!(e.to_string().contains(wrong), "{e}");
    }
    let mut rr = s.clone();
    rr.endpoint = Some(EndpointSpec {
        mode: crate::model::EndpointMode::Dnsrr,
        ports: vec![PortConfig { protocol: "tcp".into(), target_port: 80, published_port: 8080, publish_mode: PublishMode::Ingress }],
    });
    assert!(create_service(&store, rr, "svc2".into()).unwrap_err().to_string().contains("dnsrr"));
    apply(&mut store, actions);
    let e = remove_network(&store, "back").unwrap_err();
    assert!(matches!(e, FailedPrecondition(_)) && e.to_string().contains("in use by service api"), "{e}");
    assert!(matches!(&remove_network(&store, "front").unwrap()[0], Action::Delete { kind: Kind::Network, .. }));
}

// swarm init --default-addr-pool P --default-addr-pool-mask-length N: networks (and the
// ingress network) take their subnets from the cluster's pools, in order.
#[test]
fn networks_take_subnets_from_the_clusters_pools() {
    let flags = crate::cli::InitFlags { default_addr_pool: vec!["192.168.0.0/16".into(), "172.30.0.0/24".into()], default_addr_pool_mask_length: 24, task_history_limit: 5, max_service_replicas: 100_000, autolock: false, dispatcher_heartbeat: None, cert_expiry: None };
    let spec = flags.spec().unwrap();
    let mut store = Store::new();
    let ingress = ingress_network("ing".into(), &spec.network);
    assert_eq!(ingress.ipam[0].subnet, "192.168.0.0/24");
    apply(&mut store, vec![
        Action::Create(Object::Cluster(Cluster { id: crate::leader::CLUSTER_ID.into(), spec, ..Default::default() })),
        Action::Create(Object::Network(ingress)),
    ]);
    let a = create_network(&store, net_spec("back", None), "n1".into()).unwrap();
    apply(&mut store, a);
    assert_eq!(find_network(&store, "back").unwrap().ipam[0].subnet, "192.168.1.0/24");
    for (pools, mask, wrong) in [(vec!["10.0.0.0/8", "10.1.0.0/16"], 24, "overlaps"), (vec!["10.0.0.0/16"], 8, "does not fit"), (vec!["10.0.0.0/x"], 24, "prefix")] {
        let f = crate::cli::InitFlags { default_addr_pool: pools.into_iter().map(String::from).collect(), default_addr_pool_mask_length: mask, task_history_limit: 5, max_service_replicas: 100_000, autolock: false, dispatcher_heartbeat: None, cert_expiry: None };
        let e = f.spec().unwrap_err();
        assert!(e.contains(wrong), "{e}");
    }
}

proptest::proptest! {
    /// The replicas limit refuses exactly the specs above it, with the limit in the message,
    /// for replicated services and replicated jobs alike.
    #[test]
    fn the_replicas_limit_refuses_exactly_what_is_above_it(limit in 1u64..2_000, asked in 0u64..4_000, job in proptest::bool::ANY) {
        let mut store = Store::new();
        let mut c = Cluster { id: crate::leader::CLUSTER_ID.into(), ..Default::default() };
        c.spec.orchestration.max_service_replicas = limit;
        apply(&mut store, vec![Action::Create(Object::Cluster(c))]);
        let mut s = spec("web", "nginx");
        s.mode = if job {
            ServiceMode::ReplicatedJob { max_concurrent: 1, total_completions: asked.max(1) }
        } else {
            ServiceMode::Replicated { replicas: asked }
        };
        let asked = if job { asked.max(1) } else { asked };
        match create_service(&store, s, "s1".into()) {
            Ok(_) => proptest::prop_assert!(asked <= limit),
            Err(e) => {
                proptest::prop_assert!(asked > limit, "{}", e);
                proptest::prop_assert!(e.to_string().contains(&format!("at most {limit} per service")), "{}", e);
            }
        }
    }
}

#[test]
fn a_spec_of_megabytes_is_refused_and_big_tasks_split_their_transactions() {
    let store = Store::new();
    let mut s = spec("web", "nginx");
    s.task.container.env = (0..3_000).map(|i| format!("VAR{i}={}", "x".repeat(60))).collect();
    let e = create_service(&store, s.clone(), "s1".into()).unwrap_err();
    assert!(e.to_string().contains("more than the 131072 (128 KiB)"), "{e}");
    // Just under the limit: 200 such tasks would make a 20 MiB transaction; batches cap it.
    s.task.container.env.truncate(1_500);
    assert!(create_service(&store, s.clone(), "s1".into()).is_ok());
    let task = crate::model::Task { spec: s.task.clone(), ..Default::default() };
    let actions: Vec<Action> = (0..200).map(|i| Action::Create(Object::Task(crate::model::Task { id: format!("t{i}"), ..task.clone() }))).collect();
    let txns = crate::store::batches(0, actions);
    assert!(txns.len() > 1, "one transaction of 200 large tasks");
    for t in &txns {
        let bytes: usize = t.actions.iter().map(crate::store::encoded_len).sum();
        assert!(bytes <= crate::store::MAX_TRANSACTION_BYTES, "{bytes}");
    }
}

// docker's `swarm update --dispatcher-heartbeat` and `--cert-expiry`: written into the
// cluster's spec; a period under 1 s or a certificate life under swarmkit's 1 h floor is
// refused and nothing changes.
#[test]
fn heartbeat_and_cert_expiry_updates_are_checked_then_written() {
    let mut store = Store::new();
    apply(&mut store, vec![Action::Create(Object::Cluster(Cluster { id: crate::leader::CLUSTER_ID.into(), ..Default::default() }))]);
    let up = |hb: Option<u64>, exp: Option<u64>| ClusterUpdate { dispatcher_heartbeat_ms: hb, cert_expiry_secs: exp, ..Default::default() };
    assert!(update_cluster(&store, &up(Some(500), None)).unwrap_err().to_string().contains("--dispatcher-heartbeat 500ms"));
    assert!(update_cluster(&store, &up(None, Some(600))).unwrap_err().to_string().contains("minimum certificate expiry time is 1h0m0s"));
    let a = update_cluster(&store, &up(Some(2_000), Some(48 * 3600))).unwrap();
    apply(&mut store, a);
    let c = cluster(&store).unwrap();
    assert_eq!((c.spec.dispatcher.heartbeat_period_ms, c.spec.ca_config.node_cert_expiry_secs), (2_000, 48 * 3600));
    assert_eq!(update_cluster(&store, &up(Some(2_000), None)).unwrap(), vec![], "no change, no write");
}
