//! `node inspect --pretty` and `service inspect --pretty`: docker's human-readable layouts.

use shoal_core::cli::{go_duration, wire_name};
use shoal_core::model::{Node, Service, ServiceMode};

/// `node inspect --pretty`: docker's human-readable layout of a node.
pub fn node_pretty(n: &Node) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "ID:\t\t\t{}", n.id);
    if !n.spec.annotations.labels.is_empty() {
        let _ = writeln!(s, "Labels:");
        for (k, v) in &n.spec.annotations.labels {
            let _ = writeln!(s, " - {k}={v}");
        }
    }
    let d = n.description.clone().unwrap_or_default();
    let _ = writeln!(s, "Hostname:\t\t{}", d.hostname);
    let _ = writeln!(s, "Joined at:\t\t{} ms since the epoch", n.meta.created_at_ms);
    let _ = writeln!(s, "Status:");
    let _ = writeln!(s, " State:\t\t\t{:?}", n.status.state);
    if !n.status.message.is_empty() {
        let _ = writeln!(s, " Message:\t\t{}", n.status.message);
    }
    let _ = writeln!(s, " Availability:\t\t{:?}", n.spec.availability);
    let _ = writeln!(s, " Address:\t\t{}", n.status.addr);
    if let Some(m) = &n.manager_status {
        let _ = writeln!(s, "Manager Status:");
        let _ = writeln!(s, " Address:\t\t{}", m.addr);
        let reachability = if n.reachability() == Some("unreachable") { "Unreachable" } else { "Reachable" };
        let _ = writeln!(s, " Raft Status:\t\t{reachability}");
        let _ = writeln!(s, " Leader:\t\t{}", if m.leader { "Yes" } else { "No" });
    }
    let _ = writeln!(s, "Platform:");
    let _ = writeln!(s, " Operating System:\t{}", d.platform.os);
    let _ = writeln!(s, " Architecture:\t\t{}", d.platform.architecture);
    let _ = writeln!(s, "Resources:");
    let _ = writeln!(s, " CPUs:\t\t\t{}", d.resources.nano_cpus / 1_000_000_000);
    let _ = writeln!(s, " Memory:\t\t{:.4}GiB", d.resources.memory_bytes as f64 / (1u64 << 30) as f64);
    if !d.engine_labels.is_empty() {
        let _ = writeln!(s, "Engine Labels:");
        for (k, v) in &d.engine_labels {
            let _ = writeln!(s, " - {k}={v}");
        }
    }
    s
}

/// `service inspect --pretty`: docker's human-readable layout of a service.
pub fn service_pretty(svc: &Service) -> String {
    use std::fmt::Write;
    let spec = &svc.spec;
    let mut s = String::new();
    let _ = writeln!(s, "ID:\t\t{}", svc.id);
    let _ = writeln!(s, "Name:\t\t{}", spec.annotations.name);
    if !spec.annotations.labels.is_empty() {
        let _ = writeln!(s, "Labels:");
        for (k, v) in &spec.annotations.labels {
            let _ = writeln!(s, " {k}{}", if v.is_empty() { String::new() } else { format!("={v}") });
        }
    }
    match &spec.mode {
        ServiceMode::Replicated { replicas } => {
            let _ = writeln!(s, "Service Mode:\tReplicated\n Replicas:\t{replicas}");
        }
        ServiceMode::Global => {
            let _ = writeln!(s, "Service Mode:\tGlobal");
        }
        ServiceMode::ReplicatedJob { max_concurrent, total_completions } => {
            let _ = writeln!(s, "Service Mode:\tReplicatedJob\n Max Concurrent:\t{max_concurrent}\n Total Completions:\t{total_completions}");
        }
        ServiceMode::GlobalJob => {
            let _ = writeln!(s, "Service Mode:\tGlobalJob");
        }
    }
    if let Some(u) = &svc.update_status {
        let _ = writeln!(s, "UpdateStatus:\n State:\t\t{}", wire_name(&u.state));
        if !u.message.is_empty() {
            let _ = writeln!(s, " Message:\t{}", u.message);
        }
    }
    // Shoal's (docker has no rebalance): shown only when it says something.
    if spec.rebalance == shoal_core::model::RebalanceMode::Auto || !svc.rebalancing.is_empty() {
        let _ = writeln!(s, "Rebalance:\t{}", wire_name(&spec.rebalance));
        if !svc.rebalancing.is_empty() {
            let _ = writeln!(s, " Moving:\t{} tasks", svc.rebalancing.len());
        }
    }
    if let Some(a) = &spec.autoscale {
        let _ = writeln!(s, "Autoscale:\t{a}");
        if let Some(st) = &svc.autoscale_status {
            let _ = writeln!(s, " Last:\t\t{}", st.describe());
        }
    }
    let p = &spec.task.placement;
    let _ = writeln!(s, "Placement:");
    if !p.constraints.is_empty() {
        let _ = writeln!(s, " Constraints:\t[{}]", p.constraints.join(" "));
    }
    if !p.preferences.is_empty() {
        let _ = writeln!(s, " Preferences:\t[{}]", p.preferences.join(" "));
    }
    if p.max_replicas > 0 {
        let _ = writeln!(s, " Max Replicas Per Node:  {}", p.max_replicas);
    }
    for (title, cfg, what) in [("UpdateConfig", &spec.update, "Update"), ("RollbackConfig", &spec.rollback, "Rollback")] {
        let Some(c) = cfg else { continue };
        let _ = writeln!(s, "{title}:\n Parallelism:\t{}", c.parallelism);
        if c.delay_ms > 0 {
            let _ = writeln!(s, " Delay:\t\t{}", go_duration(c.delay_ms));
        }
        let _ = writeln!(s, " On failure:\t{}", wire_name(&c.failure_action));
        let _ = writeln!(s, " Monitoring Period: {}", go_duration(c.monitor_ms));
        let _ = writeln!(s, " Max failure ratio: {}", c.max_failure_ratio);
        let _ = writeln!(s, " {what} order:      {}", wire_name(&c.order));
    }
    let c = &spec.task.container;
    let _ = writeln!(s, "ContainerSpec:\n Image:\t\t{}", c.image);
    if !c.args.is_empty() {
        let _ = writeln!(s, " Args:\t\t{} ", c.args.join(" "));
    }
    if !c.env.is_empty() {
        let _ = writeln!(s, " Env:\t\t{} ", c.env.join(" "));
    }
    let _ = writeln!(s, " Init:\t\ttrue");
    if let Some(ms) = c.stop_grace_period_ms {
        let _ = writeln!(s, " StopGracePeriod: {}", go_duration(ms));
    }
    if let Some(h) = &c.healthcheck {
        let _ = writeln!(s, " Healthcheck:\n  Interval = {}\n  Retries = {}\n  StartPeriod = {}\n  Timeout = {}", go_duration(h.interval_ms), h.retries, go_duration(h.start_period_ms), go_duration(h.timeout_ms));
        if !h.test.is_empty() {
            let _ = writeln!(s, "  Tests:");
            for t in &h.test {
                let _ = writeln!(s, "\t Test = {t}");
            }
        }
    }
    if !c.secrets.is_empty() {
        let _ = writeln!(s, "Secrets:");
        for r in &c.secrets {
            let _ = writeln!(s, " Target:\t/run/secrets/{}\n  Source:\t{}", r.target, r.secret_name);
        }
    }
    if !c.configs.is_empty() {
        let _ = writeln!(s, "Configs:");
        for r in &c.configs {
            let _ = writeln!(s, " Target:\t{}\n  Source:\t{}", r.path(), r.config_name);
        }
    }
    let r = &spec.task.resources;
    let shown = |x: &Option<shoal_core::model::Resources>| x.as_ref().filter(|x| x.nano_cpus > 0 || x.memory_bytes > 0).cloned();
    if shown(&r.reservations).is_some() || shown(&r.limits).is_some() {
        let _ = writeln!(s, "Resources:");
        for (title, x) in [(" Reservations:", shown(&r.reservations)), (" Limits:", shown(&r.limits))] {
            let Some(x) = x else { continue };
            let _ = writeln!(s, "{title}");
            if x.nano_cpus > 0 {
                let _ = writeln!(s, "  CPU:\t\t{}", x.nano_cpus as f64 / 1e9);
            }
            if x.memory_bytes > 0 {
                let _ = writeln!(s, "  Memory:\t{}", human_bytes(x.memory_bytes));
            }
        }
    }
    let restart = &spec.task.restart;
    let _ = writeln!(s, "RestartPolicy:\n Condition:\t{}\n Delay:\t\t{}", wire_name(&restart.condition), go_duration(restart.delay_ms));
    if restart.max_attempts > 0 {
        let _ = writeln!(s, " Max Attempts:\t{}", restart.max_attempts);
    }
    let _ = writeln!(s, "Endpoint Mode:\tvip");
    let ports = if svc.endpoint_ports.is_empty() { spec.endpoint.as_ref().map(|e| e.ports.clone()).unwrap_or_default() } else { svc.endpoint_ports.clone() };
    if !ports.is_empty() {
        let _ = writeln!(s, "Ports:");
        for p in &ports {
            let proto = if p.protocol.is_empty() { "tcp" } else { &p.protocol };
            let _ = writeln!(s, " PublishedPort = {}\n  Protocol = {proto}\n  TargetPort = {}\n  PublishMode = {}", p.published_port, p.target_port, wire_name(&p.publish_mode));
        }
    }
    s
}

/// Bytes as docker's CLI shows them (binary units): `512MiB`, `1.5GiB`.
fn human_bytes(b: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    let n = format!("{v:.4}");
    format!("{}{}", n.trim_end_matches('0').trim_end_matches('.'), UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_core::cli::parse_control;

    #[test]
    fn durations_and_sizes_print_as_docker_prints_them() {
        let cases = [(0, "0s"), (500, "500ms"), (5_000, "5s"), (1_500, "1.5s"), (90_000, "1m30s"), (3_600_000, "1h0m0s")];
        for (ms, want) in cases {
            assert_eq!(go_duration(ms), want, "{ms} ms");
        }
        assert_eq!(human_bytes(512 << 20), "512MiB");
        assert_eq!(human_bytes(3 << 29), "1.5GiB");
        assert_eq!(human_bytes(100), "100B");
    }

    #[test]
    fn service_inspect_pretty_shows_what_the_spec_says() {
        let words = "service create --name web --replicas 3 --constraint node.role==worker --limit-memory 512M \
                     --update-parallelism 2 --update-order start-first --restart-condition on-failure -p 8080:80 \
                     --health-cmd true --stop-grace-period 30s shoal-app:1 httpd -f";
        let Ok(shoal_core::cli::ControlCommand::Service(shoal_core::cli::ServiceCommand::Create(c))) = parse_control(words.split_whitespace()) else {
            panic!("did not parse")
        };
        let svc = Service { id: "abc".into(), spec: c.to_spec().unwrap(), ..Default::default() };
        let out = service_pretty(&svc);
        for want in [
            "ID:\t\tabc\n",
            "Name:\t\tweb\n",
            "Service Mode:\tReplicated\n Replicas:\t3\n",
            " Constraints:\t[node.role==worker]\n",
            "UpdateConfig:\n Parallelism:\t2\n",
            " Update order:      start-first\n",
            " Image:\t\tshoal-app:1\n Args:\t\thttpd -f \n",
            " StopGracePeriod: 30s\n",
            "\t Test = CMD-SHELL\n\t Test = true\n",
            " Limits:\n  Memory:\t512MiB\n",
            " Condition:\ton-failure\n",
            " PublishedPort = 8080\n  Protocol = tcp\n  TargetPort = 80\n  PublishMode = ingress\n",
        ] {
            assert!(out.contains(want), "{want:?} missing from:\n{out}");
        }
    }
}
