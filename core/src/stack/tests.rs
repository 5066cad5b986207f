use super::convert::{convert, duration_ns, Context, StackSpec};
use super::deploy::{plan, Deployer, Existing, Goal};
use super::load::{load, Source};
use super::*;
use crate::model as m;
use crate::proto::control_request::Op;
use std::collections::BTreeMap;

fn vars(pairs: &[(&str, &str)]) -> Variables {
    Variables(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn files() -> BTreeMap<String, Vec<u8>> {
    [("/srv/app/db_password.txt", "s3cret"), ("/srv/app/web.env", "# comment\nMODE=prod\nREGION\n  LEVEL=debug \n")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

fn stack_of(texts: &[&str], v: &Variables) -> Result<(StackSpec, Vec<String>), StackError> {
    let sources: Vec<Source> = texts.iter().enumerate().map(|(i, t)| Source { name: format!("f{i}.yml"), text: t.to_string() }).collect();
    let loaded = load(&sources, Some(v))?;
    let fs = files();
    let read = move |p: &str| fs.get(p).cloned().ok_or_else(|| "no such file".to_string());
    let ctx = Context { files: "f0.yml".into(), working_dir: "/srv/app".into(), vars: v, read: &read };
    Ok((convert("vote", &loaded.file, &ctx)?, loaded.warnings))
}

const VOTING: &str = r#"
version: "3.9"
x-defaults: &defaults
  restart_policy:
    condition: on-failure
services:
  redis:
    image: redis:alpine
    networks: [frontend]
    deploy:
      replicas: 1
      <<: *defaults
  db:
    image: postgres:15-alpine
    environment:
      POSTGRES_USER: "postgres"
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    volumes:
      - db-data:/var/lib/postgresql/data
    secrets: [db_password]
    networks:
      backend:
        aliases: [database]
  vote:
    image: "dockersamples/examplevotingapp_vote:${TAG:-latest}"
    command: python app.py --port "80"
    env_file: web.env
    ports:
      - 5000:80
      - target: 9000
        published: 9001
        mode: host
    networks: [frontend]
    deploy:
      replicas: ${VOTE_REPLICAS:-2}
      update_config:
        parallelism: 2
        delay: 10s
        order: start-first
      resources:
        limits: {cpus: "0.5", memory: 64M}
      placement:
        constraints: [node.role == worker]
        max_replicas_per_node: 1
    healthcheck:
      test: curl -f http://localhost
      interval: 1m30s
      retries: 3
    container_name: nope
    build: ./vote
  worker:
    image: dockersamples/examplevotingapp_worker
    deploy:
      mode: global
      labels: [tier=back]
networks:
  frontend:
  backend:
    driver_opts: {foo: bar}
volumes:
  db-data:
secrets:
  db_password:
    file: ./db_password.txt
"#;

// The example voting app's shape: names, labels, networks, env, ports, secrets, volumes and
// deploy keys come out as `docker stack deploy` makes them.
#[test]
fn a_voting_app_stack_converts_as_docker_converts_it() {
    let (s, warnings) = stack_of(&[VOTING], &vars(&[("REGION", "eu")])).unwrap();
    assert_eq!(warnings, vec!["Ignoring unsupported options: build".to_string(), "Ignoring deprecated options:\n\ncontainer_name: Setting the container name is not supported.".into()]);
    let names: Vec<&str> = s.services.iter().map(|x| x.annotations.name.as_str()).collect();
    assert_eq!(names, ["vote_db", "vote_redis", "vote_vote", "vote_worker"]);
    let nets: Vec<&str> = s.networks.iter().map(|n| n.annotations.name.as_str()).collect();
    assert_eq!(nets, ["vote_backend", "vote_default", "vote_frontend"], "only networks in use, the worker's default included");
    assert!(s.networks.iter().all(|n| n.annotations.labels[NAMESPACE_LABEL] == "vote" && n.driver == "overlay"));
    assert_eq!(s.networks[0].driver_opts["foo"], "bar");
    assert_eq!(s.secrets.len(), 1);
    assert_eq!((s.secrets[0].annotations.name.as_str(), s.secrets[0].data.as_slice()), ("vote_db_password", b"s3cret".as_slice()));

    let by = |n: &str| s.services.iter().find(|x| x.annotations.name == n).unwrap().clone();
    let vote = by("vote_vote");
    assert_eq!(vote.annotations.labels[NAMESPACE_LABEL], "vote");
    assert_eq!(vote.annotations.labels[IMAGE_LABEL], "dockersamples/examplevotingapp_vote:latest");
    let c = &vote.task.container;
    assert_eq!(c.args, ["python", "app.py", "--port", "80"]);
    assert_eq!(c.env, ["LEVEL=debug ", "MODE=prod", "REGION=eu"], "env_file read, a bare name taken from the environment, sorted");
    assert_eq!(vote.mode, m::ServiceMode::Replicated { replicas: 2 });
    let u = vote.update.clone().unwrap();
    assert_eq!((u.parallelism, u.delay_ms, u.order), (2, 10_000, m::UpdateOrder::StartFirst));
    assert_eq!(vote.task.resources.limits.as_ref().map(|l| (l.nano_cpus, l.memory_bytes)), Some((500_000_000, 64 << 20)));
    assert_eq!(vote.task.placement.max_replicas, 1);
    let ports: Vec<(u32, u32, m::PublishMode)> = vote.endpoint.as_ref().unwrap().ports.iter().map(|p| (p.published_port, p.target_port, p.publish_mode)).collect();
    assert_eq!(ports, [(5000, 80, m::PublishMode::Ingress), (9001, 9000, m::PublishMode::Host)]);
    let h = c.healthcheck.clone().unwrap();
    assert_eq!((h.test.clone(), h.interval_ms, h.retries), (vec!["CMD-SHELL".to_string(), "curl -f http://localhost".into()], 90_000, 3));
    assert_eq!(vote.task.networks.len(), 1);
    assert_eq!((vote.task.networks[0].target.as_str(), vote.task.networks[0].aliases.clone()), ("vote_frontend", vec!["vote".to_string()]));

    let db = by("vote_db");
    assert_eq!(db.task.networks[0].aliases, ["database", "db"]);
    assert_eq!(db.task.container.secrets[0].secret_name, "vote_db_password");
    assert_eq!(db.task.container.secrets[0].target, "db_password");
    let mount = &db.task.container.mounts[0];
    assert_eq!((mount.kind, mount.source.as_str()), (m::MountKind::Volume, "vote_db-data"));
    assert_eq!(mount.volume.as_ref().unwrap().labels[NAMESPACE_LABEL], "vote");

    let redis = by("vote_redis");
    assert_eq!(redis.task.restart.condition, m::RestartCondition::OnFailure, "the anchor's keys merged in");
    let worker = by("vote_worker");
    assert_eq!(worker.mode, m::ServiceMode::Global);
    assert_eq!(worker.annotations.labels["tier"], "back");
    assert_eq!(worker.task.networks[0].target, "vote_default");
}

#[test]
fn variables_override_and_several_files_merge_as_docker_merges_them() {
    let over = r#"
services:
  vote:
    image: other:2
    environment: [EXTRA=1]
    ports: ["5000:8080"]
    deploy:
      replicas: 0
"#;
    let (s, _) = stack_of(&[VOTING, over], &vars(&[("TAG", "v9"), ("VOTE_REPLICAS", "7")])).unwrap();
    let vote = s.services.iter().find(|x| x.annotations.name == "vote_vote").unwrap();
    assert_eq!(vote.task.container.image, "other:2");
    assert_eq!(vote.mode, m::ServiceMode::Replicated { replicas: 0 });
    assert!(vote.task.container.env.contains(&"EXTRA=1".to_string()) && vote.task.container.env.contains(&"MODE=prod".to_string()));
    let ports: Vec<(u32, u32)> = vote.endpoint.as_ref().unwrap().ports.iter().map(|p| (p.published_port, p.target_port)).collect();
    assert_eq!(ports, [(5000, 8080), (9001, 9000)], "ports merge by published port");
    let (s, _) = stack_of(&[VOTING], &vars(&[("TAG", "v9"), ("VOTE_REPLICAS", "7")])).unwrap();
    let vote = s.services.iter().find(|x| x.annotations.name == "vote_vote").unwrap();
    assert_eq!(vote.task.container.image, "dockersamples/examplevotingapp_vote:v9");
    assert_eq!(vote.mode, m::ServiceMode::Replicated { replicas: 7 });
}

// Bad input names the file and the key, and nothing is made.
#[test]
fn bad_files_say_where_and_what() {
    let e = stack_of(&["services:\n  web:\n    image: x\n   bad"], &vars(&[])).unwrap_err();
    assert!(matches!(e, StackError::Syntax { line: 4, .. }), "{e}");
    assert!(e.to_string().starts_with("f0.yml:4:"), "{e}");
    let e = stack_of(&["services:\n  web:\n    image: x\n    deploy:\n      replicas: -1\n"], &vars(&[])).unwrap_err();
    assert_eq!(e.to_string(), "f0.yml: services.web.deploy.replicas: must be a non-negative integer, got -1");
    let e = stack_of(&["services:\n  web:\n    image: x\n    replica: 3\n"], &vars(&[])).unwrap_err();
    assert!(e.to_string().contains("services.web.replica: unknown field `replica`"), "{e}");
    let e = stack_of(&["services:\n  web:\n    image: \"x:${TAG?set TAG}\"\n"], &vars(&[])).unwrap_err();
    assert!(e.to_string().contains("services.web.image: required variable TAG is missing a value: set TAG"), "{e}");
    let e = stack_of(&["services:\n  web:\n    image: \"x:${TAG}\"\n"], &vars(&[])).unwrap_err();
    assert_eq!(e.to_string(), "f0.yml: services.web.image: variable TAG is not set and has no default: set it, or write ${TAG:-DEFAULT}");
    let e = stack_of(&["services:\n  web:\n    image: x\n    secrets: [nope]\n"], &vars(&[])).unwrap_err();
    assert!(e.to_string().contains("undefined secret \"nope\""), "{e}");
    let e = stack_of(&["services:\n  web:\n    image: x\n    secrets: [s]\nsecrets:\n  s:\n    file: ./missing\n"], &vars(&[])).unwrap_err();
    assert!(matches!(e, StackError::Read { .. }) && e.to_string().contains("/srv/app/missing"), "{e}");
    let e = stack_of(&["services:\n  web:\n    build: .\n"], &vars(&[])).unwrap_err();
    assert!(e.to_string().contains("no image specified"), "{e}");
    let e = stack_of(&["services:\n  web:\n    image: x\n    mem_limit: 1g\n"], &vars(&[])).unwrap_err();
    assert!(e.to_string().contains("mem_limit: Set resource limits using deploy.resources"), "{e}");
    let e = stack_of(&["version: '2.4'\nservices: {}\n"], &vars(&[])).unwrap_err();
    assert!(e.to_string().contains("unsupported Compose file version: 2.4"), "{e}");
    let e = stack_of(&["services:\n  web:\n    image: x\n    networks: [nowhere]\n"], &vars(&[])).unwrap_err();
    assert!(e.to_string().contains("undefined network \"nowhere\""), "{e}");
}

#[test]
fn go_durations_parse() {
    assert_eq!(duration_ns("1m30s"), Ok(90_000_000_000));
    assert_eq!(duration_ns("1.5s"), Ok(1_500_000_000));
    assert_eq!(duration_ns("500ms"), Ok(500_000_000));
    assert_eq!(duration_ns("0"), Ok(0));
    for bad in ["", "10", "s", "1x", "-1s"] {
        assert!(duration_ns(bad).is_err(), "{bad}");
    }
}

fn existing_of(spec: &StackSpec) -> Existing {
    // The swarm as a first deploy leaves it: every object with an id and version 1.
    let mut e = Existing::default();
    for (i, s) in spec.services.iter().enumerate() {
        let mut stored = s.clone();
        for n in &mut stored.task.networks {
            n.target = format!("net-{}", n.target);
        }
        e.services.push(m::Service { id: format!("svc{i}"), spec: stored, meta: m::Meta { version: 1, ..Default::default() }, ..Default::default() });
    }
    for n in &spec.networks {
        e.networks.push(m::Network { id: format!("net-{}", n.annotations.name), spec: n.clone(), ..Default::default() });
    }
    for x in &spec.secrets {
        e.secrets.push(m::Secret { id: format!("sec-{}", x.annotations.name), spec: m::SecretSpec { data: vec![], ..x.clone() }, ..Default::default() });
    }
    e
}

fn lines(steps: &[super::deploy::Step]) -> Vec<String> {
    steps.iter().map(|s| s.line.clone()).filter(|l| !l.is_empty()).collect()
}

#[test]
fn a_redeploy_changes_only_what_changed_and_prune_removes_what_left() {
    let v = vars(&[]);
    let (first, _) = stack_of(&[VOTING], &v).unwrap();
    let steps = plan("vote", &Goal::Deploy { spec: first.clone(), prune: false }, &Existing::default()).unwrap();
    assert_eq!(
        lines(&steps),
        [
            "Creating network vote_backend",
            "Creating network vote_default",
            "Creating network vote_frontend",
            "Creating secret vote_db_password",
            "Creating service vote_db",
            "Creating service vote_redis",
            "Creating service vote_vote",
            "Creating service vote_worker"
        ]
    );
    let existing = existing_of(&first);
    let same = plan("vote", &Goal::Deploy { spec: first.clone(), prune: false }, &existing).unwrap();
    assert_eq!(lines(&same), Vec::<String>::new(), "the same file again changes nothing");
    let (second, _) = stack_of(&[&VOTING.replace("redis:alpine", "redis:7").replace("  worker:\n    image: dockersamples/examplevotingapp_worker\n    deploy:\n      mode: global\n      labels: [tier=back]\n", "")], &v).unwrap();
    let steps = plan("vote", &Goal::Deploy { spec: second.clone(), prune: true }, &existing).unwrap();
    assert_eq!(lines(&steps), ["Removing service vote_worker", "Updating service vote_redis (id: svc1)"]);
    let Some(Op::UpdateService(u)) = steps.iter().map(|s| &s.op).find(|o| matches!(o, Op::UpdateService(_))) else { panic!("an update") };
    assert_eq!(u.version, 1, "the update carries the version read");
    let steps = plan("vote", &Goal::Remove, &existing).unwrap();
    assert_eq!(lines(&steps)[0], "Removing service vote_db");
    assert_eq!(lines(&steps).last().map(String::as_str), Some("Removing network vote_frontend"));
    assert_eq!(steps.len(), 4 + 1 + 3);
}

#[test]
fn a_missing_external_network_stops_the_deploy_before_any_request() {
    let (s, _) = stack_of(&["services:\n  web:\n    image: x\n    networks: [shared]\nnetworks:\n  shared:\n    external: true\n"], &vars(&[])).unwrap();
    assert_eq!(s.external_networks, ["shared"]);
    let e = plan("vote", &Goal::Deploy { spec: s, prune: false }, &Existing::default()).unwrap_err();
    assert!(e.to_string().contains("network \"shared\" is declared as external, but could not be found"), "{e}");
}

// The machine reads four lists, runs the plan, and after a failed step reads and plans again
// once: a create whose answer was lost is then seen as done.
#[test]
fn the_deployer_replans_once_after_a_failure() {
    let (s, _) = stack_of(&["services:\n  web:\n    image: x\n"], &vars(&[])).unwrap();
    let mut d = Deployer::new("vote", Goal::Deploy { spec: s.clone(), prune: false });
    let objects = |o: Vec<m::Object>| Ok(crate::proto::ControlReply { objects: serde_json::to_vec(&o).unwrap(), ..Default::default() });
    for _ in 0..4 {
        assert!(matches!(d.poll_request(), Some(Op::ListServices(_) | Op::ListNetworks(_) | Op::ListSecrets(_) | Op::ListConfigs(_))));
        d.handle_reply(objects(vec![]));
    }
    assert!(matches!(d.poll_request(), Some(Op::CreateNetwork(_))));
    d.handle_reply(Err(crate::cli::CallError::other("timed out")));
    // Read again: this time the network exists.
    let net = m::Network { id: "n1".into(), spec: s.networks[0].clone(), ..Default::default() };
    d.handle_reply(objects(vec![]));
    d.handle_reply(objects(vec![m::Object::Network(net)]));
    d.handle_reply(objects(vec![]));
    d.handle_reply(objects(vec![]));
    assert!(matches!(d.poll_request(), Some(Op::CreateService(_))), "the network is not created twice");
    d.handle_reply(Err(crate::cli::CallError::other("Internal: disk full")));
    assert_eq!(d.poll_request(), None, "a second failure ends the deploy");
    let out: Vec<String> = std::iter::from_fn(|| d.poll_output()).collect();
    assert_eq!(out, ["Creating network vote_default", "Creating service vote_web"]);
    assert!(matches!(d.outcome(), Some(Err(StackError::Control(m))) if m == "failed to create service vote_web: Internal: disk full"), "{:?}", d.outcome());
}

/// The corpus: real stack files from public repositories (scenarios/stacks/corpus, each with
/// its SOURCE.md and licence), unchanged. atsea-shop is refused (below): its overlay is
/// encrypted.
const CORPUS: &[(&str, &str, usize)] = &[
    ("voting-app", include_str!("../../../scenarios/stacks/corpus/voting-app.yml"), 5),
    ("swarmprom", include_str!("../../../scenarios/stacks/corpus/swarmprom.yml"), 8),
    ("prometheus-traefik", include_str!("../../../scenarios/stacks/corpus/prometheus-traefik.yml"), 6),
    ("dogvscat-ghost", include_str!("../../../scenarios/stacks/corpus/dogvscat-ghost.yml"), 3),
];

#[test]
fn every_corpus_file_loads_and_converts() {
    for (name, text, services) in CORPUS {
        let loaded = load(&[Source { name: format!("{name}.yml"), text: text.to_string() }], Some(&vars(&[]))).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Files the stacks name (configs, env files, secrets) read as one harmless line.
        let read = |_: &str| Ok(b"GF_SECURITY_ADMIN_PASSWORD=x\n".to_vec());
        let v = vars(&[]);
        let ctx = Context { files: format!("{name}.yml"), working_dir: "/srv".into(), vars: &v, read: &read };
        let s = convert("corpus", &loaded.file, &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.services.len(), *services, "{name}");
        assert!(loaded.warnings.iter().all(|w| w.starts_with("Ignoring")), "{name}: {:?}", loaded.warnings);
        for svc in &s.services {
            assert!(svc.annotations.name.starts_with("corpus_") && svc.annotations.labels[NAMESPACE_LABEL] == "corpus", "{name}");
            assert!(!svc.task.networks.is_empty(), "{name}: every service is on a network");
        }
    }
}

#[test]
fn an_encrypted_overlay_is_refused_before_anything_is_made() {
    let text = include_str!("../../../scenarios/stacks/corpus/atsea-shop.yml");
    let loaded = load(&[Source { name: "atsea-shop.yml".into(), text: text.to_string() }], Some(&vars(&[]))).unwrap();
    let read = |_: &str| Ok(vec![]);
    let v = vars(&[]);
    let ctx = Context { files: "atsea-shop.yml".into(), working_dir: "/srv".into(), vars: &v, read: &read };
    let e = convert("shop", &loaded.file, &ctx).unwrap_err();
    assert!(e.to_string().contains("networks.payment") && e.to_string().contains("encrypted"), "{e}");
}
