use super::*;
use proptest::prelude::*;

/// A service create body as docker CLI 28 sends it for
/// `docker service create --name web --replicas 2 --env A=1 --limit-memory 64MiB
/// --restart-condition on-failure --publish 8080:80 --update-order start-first
/// --health-cmd 'true' --secret s1 shoal-app:1 sleep 100`.
const CLI_CREATE_BODY: &str = r#"{
  "Name":"web","Labels":{},
  "TaskTemplate":{
    "ContainerSpec":{"Image":"shoal-app:1","Args":["sleep","100"],"Env":["A=1"],"Init":false,
      "Healthcheck":{"Test":["CMD-SHELL","true"]},"DNSConfig":{},
      "Secrets":[{"File":{"Name":"s1","UID":"0","GID":"0","Mode":292},"SecretID":"abc","SecretName":"s1"}],
      "Isolation":"default"},
    "Resources":{"Limits":{"MemoryBytes":67108864},"Reservations":{}},
    "RestartPolicy":{"Condition":"on-failure"},
    "Placement":{},"ForceUpdate":0,"Runtime":"container"},
  "Mode":{"Replicated":{"Replicas":2}},
  "UpdateConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"start-first"},
  "RollbackConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},
  "EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}
}"#;

// What the docker CLI sends becomes the model spec the `shoal` CLI makes for the same flags.
#[test]
fn a_docker_cli_create_body_becomes_the_model_spec() {
    let d: d::ServiceSpec = serde_json::from_str(CLI_CREATE_BODY).unwrap();
    let s = spec_from_docker(&d).unwrap();
    assert_eq!(s.annotations.name, "web");
    assert_eq!(s.mode, ServiceMode::Replicated { replicas: 2 });
    let c = &s.task.container;
    assert_eq!((c.image.as_str(), c.args.clone(), c.env.clone()), ("shoal-app:1", vec!["sleep".into(), "100".into()], vec!["A=1".into()]));
    assert_eq!(c.healthcheck.as_ref().unwrap().test, vec!["CMD-SHELL".to_string(), "true".to_string()]);
    assert_eq!(c.healthcheck.as_ref().unwrap().interval_ms, 30_000, "docker's default interval");
    assert_eq!(c.secrets, vec![m::SecretReference { secret_id: "abc".into(), secret_name: "s1".into(), target: "s1".into(), ..Default::default() }]);
    assert_eq!(s.task.resources.limits.as_ref().unwrap().memory_bytes, 64 << 20);
    assert_eq!(s.task.resources.reservations, None);
    assert_eq!(s.task.restart, m::RestartPolicy { condition: m::RestartCondition::OnFailure, ..Default::default() });
    assert_eq!(s.update.as_ref().unwrap().order, m::UpdateOrder::StartFirst);
    assert_eq!(s.rollback.as_ref().unwrap().monitor_ms, 5_000);
    let p = &s.endpoint.as_ref().unwrap().ports[0];
    assert_eq!((p.target_port, p.published_port, p.publish_mode), (80, 8080, m::PublishMode::Ingress));
}

// A request Shoal cannot honour is refused by field name, never half applied.
#[test]
fn fields_shoal_lacks_are_refused_by_name() {
    for (patch, field) in [
        (r#"{"OpenStdin":true}"#, "ContainerSpec.OpenStdin"),
        (r#"{"Mounts":[{"Type":"tmpfs","Target":"/x","TmpfsOptions":{"SizeBytes":1048576}}]}"#, "ContainerSpec.Mounts"),
        (r#"{"Mounts":[{"Type":"volume","Target":"/x","VolumeOptions":{"Subpath":"a"}}]}"#, "VolumeOptions.Subpath"),
        (r#"{"Privileges":{"NoNewPrivileges":true}}"#, "ContainerSpec.Privileges"),
        (r#"{"OomScoreAdj":500}"#, "ContainerSpec.OomScoreAdj"),
    ] {
        let mut d: d::ServiceSpec = serde_json::from_str(CLI_CREATE_BODY).unwrap();
        let mut c = serde_json::to_value(d.task_template.container_spec.take().unwrap()).unwrap();
        for (k, v) in serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(patch).unwrap() {
            c[k] = v;
        }
        d.task_template.container_spec = Some(serde_json::from_value(c).unwrap());
        match spec_from_docker(&d) {
            Err(ApiError::BadRequest(m)) => assert!(m.contains(field) && m.contains("not supported"), "{m}"),
            other => panic!("{patch}: {other:?}"),
        }
    }
    let mut bad_mount: d::ServiceSpec = serde_json::from_str(CLI_CREATE_BODY).unwrap();
    bad_mount.task_template.container_spec.as_mut().unwrap().mounts = vec![d::Mount { kind: "npipe".into(), target: "/x".into(), ..Default::default() }];
    assert!(matches!(spec_from_docker(&bad_mount), Err(ApiError::BadRequest(m)) if m.contains("bind, volume or tmpfs")));
    let mut d: d::ServiceSpec = serde_json::from_str(CLI_CREATE_BODY).unwrap();
    d.endpoint_spec.as_mut().unwrap().mode = "roundrobin".into();
    assert!(matches!(spec_from_docker(&d), Err(ApiError::BadRequest(m)) if m.contains("vip or dnsrr")));
    d.endpoint_spec = None;
    d.update_config.as_mut().unwrap().failure_action = "explode".into();
    assert!(matches!(spec_from_docker(&d), Err(ApiError::BadRequest(m)) if m.contains("FailureAction")));
}

#[test]
fn absent_mode_is_one_replica_and_negative_durations_are_refused() {
    let d: d::ServiceSpec = serde_json::from_str(r#"{"Name":"a","TaskTemplate":{"ContainerSpec":{"Image":"x"}}}"#).unwrap();
    assert_eq!(spec_from_docker(&d).unwrap().mode, ServiceMode::Replicated { replicas: 1 });
    let d: d::ServiceSpec =
        serde_json::from_str(r#"{"Name":"a","TaskTemplate":{"ContainerSpec":{"Image":"x","StopGracePeriod":-1}}}"#).unwrap();
    assert!(matches!(spec_from_docker(&d), Err(ApiError::BadRequest(m)) if m.contains("negative")));
    let d: d::ServiceSpec = serde_json::from_str(r#"{"Name":"a","TaskTemplate":{}}"#).unwrap();
    assert!(matches!(spec_from_docker(&d), Err(ApiError::BadRequest(m)) if m.contains("ContainerSpec")));
}

#[test]
fn times_are_rfc3339_with_nanoseconds() {
    assert_eq!(time_of_ms(0), "1970-01-01T00:00:00.000000000Z");
    assert_eq!(time_of_ms(1_765_000_000_123), "2025-12-06T05:46:40.123000000Z");
    assert_eq!(ms_of_time("2025-12-06T05:46:40.123456789Z"), Some(1_765_000_000_123), "as the engine stamps log lines");
    assert_eq!(ms_of_time(&time_of_ms(42)), Some(42));
    assert_eq!(ms_of_time("yesterday"), None);
}

#[test]
fn states_are_spelled_as_dockerd_spells_them() {
    for (s, name) in [(TaskState::Running, "running"), (TaskState::Shutdown, "shutdown"), (TaskState::Rejected, "rejected")] {
        assert_eq!(task_state_name(s), name);
        assert_eq!(parse_task_state(name), Some(s));
    }
    // The model's own serde names agree with dockerd's for every state.
    for s in (0..14).filter_map(|i| parse_task_state(task_state_name(all_states()[i]))) {
        assert_eq!(serde_json::to_value(s).unwrap(), serde_json::Value::String(task_state_name(s).into()));
    }
}

fn all_states() -> [TaskState; 14] {
    use TaskState::*;
    [New, Pending, Assigned, Accepted, Preparing, Ready, Starting, Running, Complete, Shutdown, Failed, Rejected, Remove, Orphaned]
}

/// A file owner as the model keeps it (defaults unset), from optional (uid, mode).
fn owner(o: Option<(u32, u32)>) -> m::FileOwner {
    o.map_or_else(m::FileOwner::default, |(uid, mode)| m::FileOwner {
        uid: uid.to_string(),
        gid: String::new(),
        mode: Some(mode).filter(|m| *m != m::FileOwner::DEFAULT_MODE),
    })
}

fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,6}"
}

fn update_config() -> impl Strategy<Value = m::UpdateConfig> {
    (0u64..5, 0u64..10_000, 0u8..3, 1u64..60_000, 0u8..3, any::<bool>()).prop_map(|(parallelism, delay_ms, fa, monitor_ms, ratio, start_first)| {
        m::UpdateConfig {
            parallelism,
            delay_ms,
            failure_action: [m::FailureAction::Pause, m::FailureAction::Continue, m::FailureAction::Rollback][fa as usize],
            monitor_ms,
            max_failure_ratio: f32::from(ratio) / 4.0,
            order: if start_first { m::UpdateOrder::StartFirst } else { m::UpdateOrder::StopFirst },
        }
    })
}

fn resources() -> impl Strategy<Value = Option<m::Resources>> {
    proptest::option::of((1i64..8_000_000_000, 0i64..1 << 34).prop_map(|(nano_cpus, memory_bytes)| m::Resources { nano_cpus, memory_bytes, generic: BTreeMap::new() }))
}

/// Every spec the model can hold and the docker API can carry.
fn model_spec() -> impl Strategy<Value = m::ServiceSpec> {
    let container = (
        word(),
        proptest::collection::vec(word(), 0..3),
        proptest::collection::vec(word().prop_map(|w| format!("{w}=1")), 0..3),
        proptest::collection::btree_map(word(), word(), 0..2),
        proptest::collection::vec((word(), word(), proptest::option::of((1u32..2000, 0o400u32..0o445))), 0..3),
        proptest::option::of(0u64..60_000),
        0u8..3,
        (1u64..60_000, 1u64..60_000, 1u32..5, 0u64..60_000),
    )
        .prop_map(|(image, args, env, labels, secrets, grace, health, (i, t, r, sp))| m::ContainerSpec {
            image,
            args,
            env,
            labels,
            // Even entries are secrets, odd ones configs, some with an owner and mode.
            secrets: secrets
                .iter()
                .enumerate()
                .filter(|(k, _)| k % 2 == 0)
                .map(|(k, (name, target, own))| m::SecretReference {
                    secret_id: format!("id{k}"),
                    secret_name: name.clone(),
                    target: target.clone(),
                    file: owner(*own),
                })
                .collect(),
            configs: secrets
                .iter()
                .enumerate()
                .filter(|(k, _)| k % 2 == 1)
                .map(|(k, (name, target, own))| m::ConfigReference {
                    config_id: format!("id{k}"),
                    config_name: name.clone(),
                    target: format!("/etc/{target}"),
                    file: owner(*own),
                })
                .collect(),
            stop_grace_period_ms: grace,
            healthcheck: (health == 1).then(|| m::HealthConfig {
                test: vec!["CMD-SHELL".into(), "true".into()],
                interval_ms: i,
                timeout_ms: t,
                retries: r,
                start_period_ms: sp,
            }),
            no_healthcheck: health == 2,
            ..Default::default()
        });
    // docker's ContainerSpec beyond the essentials.
    let extras = (
        (proptest::collection::vec(word(), 0..2), proptest::option::of(word()), proptest::option::of(word()), proptest::option::of(word())),
        (proptest::collection::vec(word(), 0..2), any::<bool>(), any::<bool>(), proptest::option::of(word())),
        (proptest::collection::vec(word().prop_map(|h| format!("10.0.0.1 {h}")), 0..2), proptest::collection::vec(word(), 0..2), proptest::collection::btree_map(word(), word(), 0..2)),
        (proptest::collection::vec(word(), 0..2), proptest::collection::vec((word(), 0i64..100, 100i64..200), 0..2)),
        proptest::collection::vec((0u8..3, word(), word(), any::<bool>()), 0..3),
    );
    let container = (container, extras).prop_map(|(mut c, ((command, hostname, dir, user), (groups, tty, read_only, stop_signal), (hosts, dns, sysctls), (caps, ulimits), mounts))| {
        c.command = command;
        c.hostname = hostname.unwrap_or_default();
        c.dir = dir.map(|d| format!("/{d}")).unwrap_or_default();
        c.user = user.unwrap_or_default();
        c.groups = groups;
        c.tty = tty;
        c.read_only = read_only;
        c.stop_signal = stop_signal.map(|s| format!("SIG{}", s.to_uppercase())).unwrap_or_default();
        c.hosts = hosts;
        c.dns = m::DnsConfig { nameservers: dns.iter().map(|_| "10.0.0.53".to_string()).collect(), search: dns, options: vec![] };
        c.sysctls = sysctls;
        c.cap_add = caps.clone();
        c.cap_drop = caps.into_iter().map(|x| format!("{x}2")).collect();
        c.ulimits = ulimits.into_iter().map(|(name, soft, hard)| m::Ulimit { name, soft, hard }).collect();
        c.mounts = mounts
            .into_iter()
            .map(|(k, src, dst, read_only)| {
                let kind = [m::MountKind::Bind, m::MountKind::Volume, m::MountKind::Tmpfs][k as usize];
                let source = match kind {
                    m::MountKind::Bind => format!("/{src}"),
                    m::MountKind::Volume => src,
                    m::MountKind::Tmpfs => String::new(),
                };
                // Volume mounts sometimes carry creation options (a stack's labels).
                let volume = (kind == m::MountKind::Volume && read_only).then(|| m::VolumeOptions {
                    no_copy: true,
                    labels: [("com.docker.stack.namespace".to_string(), dst.clone())].into(),
                    driver: Some(m::Driver { name: "local".into(), options: [("o".to_string(), "bind".to_string())].into() }),
                });
                m::Mount { kind, source, target: format!("/{dst}"), read_only, volume }
            })
            .collect();
        c
    });
    let mode = prop_oneof![
        (0u64..100).prop_map(|replicas| ServiceMode::Replicated { replicas }),
        Just(ServiceMode::Global),
        (1u64..5, 1u64..10).prop_map(|(max_concurrent, total_completions)| ServiceMode::ReplicatedJob { max_concurrent, total_completions }),
        Just(ServiceMode::GlobalJob),
    ];
    let ports = proptest::collection::vec(
        (1u32..65536, 0u32..65536, any::<bool>(), any::<bool>()).prop_map(|(t, p, udp, host)| m::PortConfig {
            protocol: if udp { "udp" } else { "tcp" }.into(),
            target_port: t,
            published_port: p,
            publish_mode: if host { m::PublishMode::Host } else { m::PublishMode::Ingress },
        }),
        1..3,
    );
    (
        word(),
        proptest::collection::btree_map(word(), word(), 0..3),
        container,
        (resources(), resources()),
        (0u8..3, 0u64..60_000, 0u64..5, 0u64..60_000),
        (proptest::collection::vec(word().prop_map(|w| format!("node.labels.{w}==x")), 0..2), proptest::collection::vec(word().prop_map(|w| format!("node.labels.{w}")), 0..2), 0u64..4),
        (proptest::collection::vec((word(), proptest::collection::vec(word(), 0..2)), 0..2), 0u64..3, any::<bool>()),
        mode,
        (proptest::option::of(update_config()), proptest::option::of(update_config()), proptest::option::of(ports)),
    )
        .prop_map(|(name, labels, container, (limits, reservations), (cond, delay_ms, max_attempts, window_ms), (constraints, preferences, max_replicas), (networks, force_update, dnsrr), mode, (update, rollback, ports))| {
            m::ServiceSpec {
                annotations: m::Annotations { name, labels },
                task: m::TaskSpec {
                    log_driver: (force_update % 2 == 1).then(|| m::Driver { name: "json-file".into(), options: [("max-size".to_string(), "1m".to_string())].into() }),
                    container,
                    resources: m::ResourceRequirements { limits, reservations, pids_limit: force_update as i64 * 32 },
                    restart: m::RestartPolicy {
                        condition: [m::RestartCondition::None, m::RestartCondition::OnFailure, m::RestartCondition::Any][cond as usize],
                        delay_ms,
                        max_attempts,
                        window_ms,
                    },
                    placement: m::Placement {
                        constraints,
                        preferences,
                        max_replicas,
                        platforms: vec![m::Platform { os: "linux".into(), architecture: "x86_64".into() }],
                    },
                    networks: networks.into_iter().map(|(target, aliases)| m::NetworkAttachmentConfig { target, aliases }).collect(),
                    force_update,
                },
                mode,
                update,
                rollback,
                endpoint: match (ports, dnsrr) {
                    (None, false) => None,
                    (ports, dnsrr) => Some(m::EndpointSpec {
                        ports: ports.unwrap_or_default(),
                        mode: if dnsrr { m::EndpointMode::Dnsrr } else { m::EndpointMode::Vip },
                    }),
                },
                rebalance: if force_update == 2 { m::RebalanceMode::Auto } else { m::RebalanceMode::Off },
                autoscale: (force_update == 3).then_some(m::Autoscale { min_replicas: 1, max_replicas: 1 + max_replicas, target_cpu_percent: 70, cooldown_ms: 90_000 }),
            }
        })
}

proptest! {
    // Round trip: a spec shown to a docker client and sent back unchanged (what `docker
    // service update` does with the spec it read) is the same spec.
    #[test]
    fn model_spec_round_trips_through_docker_json(spec in model_spec()) {
        let shown = spec_to_docker(&spec);
        let json = serde_json::to_string(&shown).unwrap();
        let read: d::ServiceSpec = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&read, &shown);
        prop_assert_eq!(spec_from_docker(&read).unwrap(), spec);
    }
}

/// `POST /swarm/update`: autolock, the history limit, the heartbeat and the certificates'
/// expiry are read from the spec; anything else changed, or a stale version, is refused.
#[test]
fn swarm_updates_shoal_can_make_are_read_and_the_rest_refused() {
    let c = m::Cluster { id: "c".into(), meta: m::Meta { version: 7, ..Default::default() }, ..Default::default() };
    let cur = swarm_to_docker(&c, false);
    assert_eq!(swarm_update_from_docker(&cur, &cur.spec, Some(7)), Ok(crate::control::ClusterUpdate::default()));
    let mut sent = cur.spec.clone();
    sent.encryption_config.auto_lock_managers = true;
    sent.orchestration.task_history_retention_limit = Some(2);
    sent.dispatcher.heartbeat_period = Some(2_000_000_000);
    sent.ca_config.node_cert_expiry = Some(3 * 3600 * 1_000_000_000);
    let want = crate::control::ClusterUpdate {
        task_history_limit: Some(2),
        autolock: Some(true),
        dispatcher_heartbeat_ms: Some(2_000),
        cert_expiry_secs: Some(3 * 3600),
        ..Default::default()
    };
    assert_eq!(swarm_update_from_docker(&cur, &sent, None), Ok(want));
    assert!(matches!(swarm_update_from_docker(&cur, &cur.spec, Some(6)), Err(ApiError::BadRequest(_))));
    sent.orchestration.task_history_retention_limit = Some(-1);
    assert!(matches!(swarm_update_from_docker(&cur, &sent, None), Err(ApiError::BadRequest(_))));
    let mut other = cur.spec.clone();
    other.name = "renamed".into();
    assert!(matches!(swarm_update_from_docker(&cur, &other, None), Err(ApiError::NotImplemented(_))));
}

/// `docker swarm ca --rotate` sends the ForceRotate it read plus one: a root rotation. A root
/// or external CA of the user's is refused; the swarm's and each node's TLS info drive docker's
/// progress bars.
#[test]
fn docker_swarm_ca_rotate_is_a_root_rotation() {
    let mut c = m::Cluster { id: "c".into(), ..Default::default() };
    c.spec.ca_config.force_rotate = 2;
    let cur = swarm_to_docker(&c, false);
    assert_eq!(serde_json::to_value(&cur.spec).unwrap()["CAConfig"]["ForceRotate"], 2);
    let mut sent = cur.spec.clone();
    sent.ca_config.force_rotate = 3;
    let want = crate::control::ClusterUpdate { rotate_ca: true, ..Default::default() };
    assert_eq!(swarm_update_from_docker(&cur, &sent, None), Ok(want));
    sent.ca_config.signing_ca_key = "KEY".into();
    assert!(matches!(swarm_update_from_docker(&cur, &sent, None), Err(ApiError::NotImplemented(m)) if m.contains("--ca-key")));

    let issuer = |s: &str| m::IssuerInfo { subject: format!("{s}-subject"), public_key: format!("{s}-key") };
    c.root_ca.ca_cert_pem = "OLD".into();
    c.root_ca.issuer = issuer("old");
    assert!(!swarm_to_docker(&c, false).root_rotation_in_progress);
    c.root_ca.rotation = Some(m::RootRotation { issuer: issuer("new"), ..Default::default() });
    let s = swarm_to_docker(&c, false);
    assert!(s.root_rotation_in_progress);
    assert_eq!((s.tls_info.trust_root.as_str(), s.tls_info.cert_issuer_subject.as_str()), ("OLD", "new-subject"), "the root, and who signs now");
    let mut n = m::Node { id: "n".into(), ..Default::default() };
    n.description = Some(m::NodeDescription { tls_info: m::TlsInfo { trust_root: "BOTH".into(), issuer: issuer("new") }, ..Default::default() });
    let t = node_to_docker(&n, "OLD").description.tls_info;
    assert_eq!((t.trust_root.as_str(), t.cert_issuer_public_key.as_str()), ("BOTH", "new-key"), "what the node reports");
}
