//! Translations from Shoal's task spec to the engine's container options (and back, for what a
//! container list reports): ports, mounts, hosts, healthchecks, image pins, exit codes.

use bollard::models::{HealthConfig, PortBinding};
use shoal_core::model::{IngressBinding, Task};
use std::collections::HashMap;

pub(super) fn some_vec(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// Swarm keeps hosts entries as /etc/hosts lines (`IP name [alias…]`); the engine takes
/// `name:IP` pairs.
pub(super) fn extra_hosts(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|l| {
            let mut words = l.split_whitespace();
            let ip = words.next().unwrap_or_default().to_string();
            words.map(move |name| format!("{name}:{ip}"))
        })
        .collect()
}

pub(super) fn engine_mount(m: &shoal_core::model::Mount) -> bollard::models::Mount {
    use shoal_core::model::MountKind;
    bollard::models::Mount {
        target: Some(m.target.clone()),
        source: (!m.source.is_empty()).then(|| m.source.clone()),
        typ: Some(match m.kind {
            MountKind::Bind => bollard::models::MountType::BIND,
            MountKind::Volume => bollard::models::MountType::VOLUME,
            MountKind::Tmpfs => bollard::models::MountType::TMPFS,
        }),
        read_only: m.read_only.then_some(true),
        volume_options: m.volume.as_ref().map(|v| bollard::models::MountVolumeOptions {
            no_copy: v.no_copy.then_some(true),
            labels: (!v.labels.is_empty()).then(|| v.labels.clone().into_iter().collect()),
            driver_config: v.driver.as_ref().map(|d| bollard::models::MountVolumeOptionsDriverConfig {
                name: Some(d.name.clone()),
                options: (!d.options.is_empty()).then(|| d.options.clone().into_iter().collect()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `name:tag@sha256:…` → (`name:tag`, the digest); a reference without a digest is looked up
/// as it is. With no registry, the digest the Engine API reports is the image's local id
/// (engine_api/system.rs), so a pinned reference names one build.
pub(super) fn split_pinned(image: &str) -> (&str, Option<&str>) {
    match image.split_once('@') {
        Some(("", digest)) => (digest, Some(digest)),
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    }
}

pub(super) fn health_of(t: &Task) -> Option<HealthConfig> {
    let c = &t.spec.container;
    if c.no_healthcheck {
        return Some(HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() });
    }
    let h = c.healthcheck.as_ref()?;
    let ns = |ms: u64| Some((ms as i64).saturating_mul(1_000_000));
    Some(HealthConfig {
        // Docker's own form already (`["CMD-SHELL", "curl …"]`, as swarmkit keeps it); empty:
        // keep the image's own probe, with these timings.
        test: (!h.test.is_empty()).then(|| h.test.clone()),
        interval: ns(h.interval_ms),
        timeout: ns(h.timeout_ms),
        retries: Some(h.retries as i64),
        start_period: ns(h.start_period_ms),
        start_interval: None,
    })
}

/// The task's published ports as the engine wants them (`80/tcp` exposed): a host-mode port
/// bound to its published port on every host address ("" = a port the engine picks), an
/// ingress port bound on the data-path address at a port the engine picks.
pub(super) fn port_bindings(task: &Task, data_path_ip: &str) -> (Option<Vec<String>>, Option<bollard::models::PortMap>) {
    use shoal_core::model::PublishMode;
    if task.endpoint_ports.is_empty() {
        return (None, None);
    }
    let key = |p: &shoal_core::model::PortConfig| format!("{}/{}", p.target_port, if p.protocol.is_empty() { "tcp" } else { &p.protocol });
    let mut exposed: Vec<String> = Vec::new();
    let mut map: bollard::models::PortMap = HashMap::new();
    for p in &task.endpoint_ports {
        let binding = match p.publish_mode {
            PublishMode::Host => {
                let published = if p.published_port == 0 { String::new() } else { p.published_port.to_string() };
                PortBinding { host_ip: None, host_port: Some(published) }
            }
            // The mesh's ports only (an ingress port not yet allocated is not published).
            PublishMode::Ingress if p.published_port == 0 => continue,
            PublishMode::Ingress => PortBinding { host_ip: Some(data_path_ip.to_string()), host_port: Some(String::new()) },
        };
        if !exposed.contains(&key(p)) {
            exposed.push(key(p));
        }
        let list = map.entry(key(p)).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new);
        if !list.contains(&binding) {
            list.push(binding);
        }
    }
    if exposed.is_empty() {
        return (None, None);
    }
    (Some(exposed), Some(map))
}

/// The container's ports the engine bound on the data-path address: its ingress backends.
pub(super) fn ingress_bindings(ports: &[bollard::models::PortSummary], data_path_ip: &str) -> Vec<IngressBinding> {
    let mut out: Vec<IngressBinding> = ports
        .iter()
        .filter(|p| p.ip.as_deref() == Some(data_path_ip))
        .filter_map(|p| {
            let protocol = p.typ.map(|t| t.to_string()).filter(|t| !t.is_empty()).unwrap_or_else(|| "tcp".into());
            Some(IngressBinding { protocol, target_port: u32::from(p.private_port), addr: format!("{data_path_ip}:{}", p.public_port?) })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The exit code in a list summary's status, "Exited (137) 3 seconds ago".
pub(super) fn exit_code_of(status: &str) -> Option<i32> {
    let rest = status.strip_prefix("Exited (")?;
    rest[..rest.find(')')?].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{exit_code_of, ingress_bindings, port_bindings};
    use shoal_core::model::IngressBinding;

    #[test]
    fn host_mode_ports_are_bound_everywhere_and_ingress_ones_on_the_data_path_address() {
        use shoal_core::model::{PortConfig, PublishMode, Task};
        let t = Task {
            endpoint_ports: vec![
                PortConfig { protocol: "tcp".into(), target_port: 80, published_port: 8080, publish_mode: PublishMode::Host },
                PortConfig { protocol: String::new(), target_port: 81, published_port: 0, publish_mode: PublishMode::Host },
                PortConfig { protocol: "tcp".into(), target_port: 90, published_port: 30000, publish_mode: PublishMode::Ingress },
                PortConfig { protocol: "tcp".into(), target_port: 91, published_port: 0, publish_mode: PublishMode::Ingress },
            ],
            ..Default::default()
        };
        let (exposed, map) = port_bindings(&t, "10.0.0.7");
        assert_eq!(exposed, Some(vec!["80/tcp".to_string(), "81/tcp".to_string(), "90/tcp".to_string()]));
        let map = map.unwrap();
        assert_eq!(map["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(), Some("8080"));
        assert_eq!(map["81/tcp"].as_ref().unwrap()[0].host_port.as_deref(), Some(""), "0 = a port the engine picks");
        let mesh = &map["90/tcp"].as_ref().unwrap()[0];
        assert_eq!((mesh.host_ip.as_deref(), mesh.host_port.as_deref()), (Some("10.0.0.7"), Some("")));
        assert!(!map.contains_key("91/tcp"), "an ingress port not yet allocated");
        assert_eq!(port_bindings(&Task::default(), "10.0.0.7"), (None, None));
    }

    #[test]
    fn ingress_backends_are_the_ports_bound_on_the_data_path_address() {
        use bollard::models::{PortSummary, PortSummaryTypeEnum};
        let p = |ip: &str, private: u16, public: Option<u16>| PortSummary {
            ip: Some(ip.into()),
            private_port: private,
            public_port: public,
            typ: Some(PortSummaryTypeEnum::TCP),
        };
        let ports = [p("0.0.0.0", 80, Some(8080)), p("::", 80, Some(8080)), p("10.0.0.7", 90, Some(32768)), p("10.0.0.7", 91, None)];
        let b = ingress_bindings(&ports, "10.0.0.7");
        assert_eq!(b, vec![IngressBinding { protocol: "tcp".into(), target_port: 90, addr: "10.0.0.7:32768".into() }]);
    }

    #[test]
    fn hosts_lines_become_engine_pairs() {
        assert_eq!(super::extra_hosts(&["10.0.0.5 db cache".into()]), vec!["db:10.0.0.5".to_string(), "cache:10.0.0.5".to_string()]);
    }

    #[test]
    fn a_pinned_image_is_looked_up_by_name_and_checked_by_id() {
        assert_eq!(super::split_pinned("shoal-app:1@sha256:ab"), ("shoal-app:1", Some("sha256:ab")));
        assert_eq!(super::split_pinned("shoal-app:1"), ("shoal-app:1", None));
        assert_eq!(super::split_pinned("@sha256:ab"), ("sha256:ab", Some("sha256:ab")));
    }

    #[test]
    fn a_healthcheck_goes_to_docker_as_the_cli_wrote_it() {
        use shoal_core::model::{HealthConfig, Task};
        let mut t = Task::default();
        t.spec.container.healthcheck =
            Some(HealthConfig { test: vec!["CMD-SHELL".into(), "test -e /www/index.html".into()], interval_ms: 1_000, timeout_ms: 500, retries: 2, start_period_ms: 0 });
        let h = super::health_of(&t).unwrap();
        assert_eq!(h.test, Some(vec!["CMD-SHELL".to_string(), "test -e /www/index.html".to_string()]));
        assert_eq!((h.interval, h.timeout, h.retries), (Some(1_000_000_000), Some(500_000_000), Some(2)));
        t.spec.container.healthcheck.as_mut().unwrap().test.clear();
        assert_eq!(super::health_of(&t).unwrap().test, None, "empty: the image's own probe");
        t.spec.container.no_healthcheck = true;
        assert_eq!(super::health_of(&t).unwrap().test, Some(vec!["NONE".to_string()]));
    }

    #[test]
    fn exit_codes_come_from_the_list_status() {
        assert_eq!(exit_code_of("Exited (137) 3 seconds ago"), Some(137));
        assert_eq!(exit_code_of("Exited (0) About a minute ago"), Some(0));
        assert_eq!(exit_code_of("Up 2 seconds"), None);
        assert_eq!(exit_code_of("Exited (x)"), None);
    }
}
