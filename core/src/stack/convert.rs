//! A typed compose file into the swarm objects of a stack ([`StackSpec`]), following the
//! docker CLI's conversion: names `STACK_name` (or a `name:` given), the namespace label on
//! everything, the image label on services, the `default` network for services that name
//! none, secrets and configs with uid/gid "0" and mode 0444 unless given, lists sorted as
//! docker sorts them (environment, ports, networks, secrets, configs, ulimits) so a redeploy
//! of the same file changes nothing.
//!
//! A service is first built as the Engine API's `ServiceSpec` (what `docker stack deploy`
//! sends) and then read by [`crate::engine_api::convert::spec_from_docker`], so both ways of
//! deploying a stack make the same model spec and refuse the same unsupported fields.

use super::compose::*;
pub use super::values::duration_ns;
use super::convert_deploy::{endpoint, healthcheck, mode, placement, resources, restart_policy, update_config};
use super::values::{int, short_volume};
use super::{scoped, StackError, Variables, IMAGE_LABEL, NAMESPACE_LABEL};
use crate::engine_api::types as d;
use crate::model as m;
use std::collections::{BTreeMap, BTreeSet};

/// Everything a stack is made of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StackSpec {
    pub name: String,
    /// Networks the stack makes (the ones its services use), created when missing.
    pub networks: Vec<m::NetworkSpec>,
    /// Networks it uses that must exist already.
    pub external_networks: Vec<String>,
    pub secrets: Vec<m::SecretSpec>,
    pub external_secrets: Vec<String>,
    pub configs: Vec<m::SecretSpec>,
    pub external_configs: Vec<String>,
    /// By name.
    pub services: Vec<m::ServiceSpec>,
}

/// What the conversion needs from outside: files and variables, read by the caller.
pub struct Context<'a> {
    /// The compose files' names, for errors.
    pub files: String,
    /// The directory of the first compose file: relative paths (`file:`, `env_file`, bind
    /// mounts) are relative to it, as docker resolves them.
    pub working_dir: String,
    pub vars: &'a Variables,
    /// Reads a file by absolute path.
    pub read: &'a dyn Fn(&str) -> Result<Vec<u8>, String>,
}

impl Context<'_> {
    fn invalid(&self, path: impl Into<String>, message: impl Into<String>) -> StackError {
        StackError::Invalid { file: self.files.clone(), path: path.into(), message: message.into() }
    }

    /// `p` from the working directory, cleaned as Go's filepath.Join cleans it (no `.`, `..`
    /// resolved, no trailing `/`); `~/` is the deploying user's HOME; an absolute path stays
    /// as written (docker's rules).
    fn absolute(&self, p: &str) -> String {
        let joined = match p.strip_prefix("~/") {
            Some(rest) => format!("{}/{rest}", self.vars.get("HOME").unwrap_or("")),
            None if p.starts_with('/') => return p.to_string(),
            None => format!("{}/{p}", self.working_dir),
        };
        let mut parts: Vec<&str> = Vec::new();
        for c in joined.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
        let root = if joined.starts_with('/') { "/" } else { "" };
        format!("{root}{}", parts.join("/"))
    }

    fn read_file(&self, what: &str, p: &str) -> Result<Vec<u8>, StackError> {
        let abs = self.absolute(p);
        (self.read)(&abs).map_err(|message| StackError::Read { what: what.to_string(), path: abs, message })
    }
}

/// The stack `stack` as the compose file describes it. Every part is converted (and every
/// file read) before anything is returned: an error leaves nothing half made.
pub fn convert(stack: &str, file: &ComposeFile, ctx: &Context) -> Result<StackSpec, StackError> {
    super::validate_stack_name(stack)?;
    check_version(file, ctx)?;
    let mut out = StackSpec { name: stack.to_string(), ..Default::default() };
    let mut used_networks = BTreeSet::new();
    for (name, svc) in &file.services {
        let spec = service(stack, name, svc, file, ctx, &mut used_networks)?;
        out.services.push(spec);
    }
    for net in used_networks {
        let def = file.networks.get(&net).cloned().flatten().unwrap_or_default();
        let (external, old_name) = External::get(&def.external);
        if external {
            out.external_networks.push(def.name.clone().or(old_name).unwrap_or(net));
            continue;
        }
        out.networks.push(network(stack, &net, &def, ctx)?);
    }
    for (kind, defs) in [("secrets", &file.secrets), ("configs", &file.configs)] {
        for (key, def) in defs {
            let (external, old_name) = External::get(&def.external);
            let name = def.name.clone().or(old_name).unwrap_or_else(|| if external { key.clone() } else { scoped(stack, key) });
            let (specs, externals) = if kind == "secrets" { (&mut out.secrets, &mut out.external_secrets) } else { (&mut out.configs, &mut out.external_configs) };
            if external {
                externals.push(name);
                continue;
            }
            let data = match (&def.file, &def.content) {
                (Some(f), _) => ctx.read_file(&format!("{kind}.{key}.file"), f)?,
                (None, Some(c)) if kind == "configs" => c.clone().into_bytes(),
                _ => return Err(ctx.invalid(format!("{kind}.{key}"), "give file: (a path), or external: true for one that exists already")),
            };
            let labels = stack_labels(stack, def.labels.as_ref());
            specs.push(m::SecretSpec { annotations: m::Annotations { name, labels }, data });
        }
    }
    Ok(out)
}

fn check_version(file: &ComposeFile, ctx: &Context) -> Result<(), StackError> {
    let Some(v) = &file.version else { return Ok(()) };
    let v = v.text();
    let ok = v.is_empty() || v == "3" || v.strip_prefix("3.").is_some_and(|minor| minor.parse::<u32>().is_ok_and(|n| n <= 13));
    if ok { Ok(()) } else { Err(ctx.invalid("version", format!("unsupported Compose file version: {v} (swarm stacks take 3.x)"))) }
}

fn stack_labels(stack: &str, labels: Option<&ListOrMap>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> =
        labels.map(|l| l.entries('=').into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect()).unwrap_or_default();
    out.insert(NAMESPACE_LABEL.into(), stack.to_string());
    out
}

fn network(stack: &str, key: &str, def: &NetworkConfig, ctx: &Context) -> Result<m::NetworkSpec, StackError> {
    let ipam = def.ipam.as_ref().filter(|i| i.driver.is_some() || !i.config.is_empty()).map(|i| d::Ipam {
        driver: i.driver.clone().unwrap_or_default(),
        options: None,
        config: Some(i.config.iter().map(|p| d::IpamRange { subnet: p.subnet.clone(), ..Default::default() }).collect()),
    });
    let req = d::NetworkCreateRequest {
        name: def.name.clone().unwrap_or_else(|| scoped(stack, key)),
        driver: def.driver.clone().unwrap_or_else(|| "overlay".into()),
        scope: "swarm".into(),
        internal: def.internal.unwrap_or(false),
        attachable: def.attachable.unwrap_or(false),
        ipam,
        options: def.driver_opts.iter().map(|(k, v)| (k.clone(), v.text())).collect(),
        labels: stack_labels(stack, def.labels.as_ref()),
        ..Default::default()
    };
    let mut spec = crate::engine_api::convert::network_spec_from_docker(&req).map_err(|e| ctx.invalid(format!("networks.{key}"), e.to_string()))?;
    crate::control::validate_network_spec(&mut spec).map_err(|e| ctx.invalid(format!("networks.{key}"), e.to_string()))?;
    Ok(spec)
}

fn service(
    stack: &str,
    name: &str,
    svc: &ServiceConfig,
    file: &ComposeFile,
    ctx: &Context,
    used_networks: &mut BTreeSet<String>,
) -> Result<m::ServiceSpec, StackError> {
    let at = |key: &str| format!("services.{name}.{key}");
    let image = svc.image.clone().unwrap_or_default();
    if image.is_empty() {
        return Err(ctx.invalid(at("image"), format!("invalid image reference for service {name}: no image specified (swarm cannot build one: build and tag it, then name it here)")));
    }
    crate::control::check_image_reference(&image).map_err(|e| ctx.invalid(at("image"), format!("invalid image reference for service {name}: {e}")))?;
    let deploy = svc.deploy.clone().unwrap_or_default();
    let mut labels = stack_labels(stack, deploy.labels.as_ref());
    labels.insert(IMAGE_LABEL.into(), image.clone());
    let container = d::ContainerSpec {
        image: tagged(&image),
        labels: stack_labels(stack, svc.labels.as_ref()),
        command: words(svc.entrypoint.as_ref()).map_err(|e| ctx.invalid(at("entrypoint"), e))?,
        args: words(svc.command.as_ref()).map_err(|e| ctx.invalid(at("command"), e))?,
        hostname: svc.hostname.clone().unwrap_or_default(),
        env: environment_entries(svc, ctx)?,
        dir: svc.working_dir.clone().unwrap_or_default(),
        user: svc.user.clone().unwrap_or_default(),
        init: svc.init,
        tty: svc.tty.unwrap_or(false),
        open_stdin: svc.stdin_open.unwrap_or(false),
        read_only: svc.read_only.unwrap_or(false),
        mounts: mounts(stack, name, svc, file, ctx)?,
        stop_signal: svc.stop_signal.clone().unwrap_or_default(),
        stop_grace_period: svc.stop_grace_period.as_deref().map(|s| duration_ns(s).map_err(|e| ctx.invalid(at("stop_grace_period"), e))).transpose()?,
        healthcheck: svc.healthcheck.as_ref().map(|h| healthcheck(h).map_err(|(k, e)| ctx.invalid(at(&format!("healthcheck.{k}")), e))).transpose()?,
        hosts: extra_hosts(svc.extra_hosts.as_ref()),
        dns_config: dns(svc),
        secrets: file_refs(stack, name, "secret", &svc.secrets, &file.secrets, ctx)?
            .into_iter()
            .map(|(secret_name, file)| d::SecretReference { file: Some(file), secret_id: String::new(), secret_name })
            .collect(),
        configs: file_refs(stack, name, "config", &svc.configs, &file.configs, ctx)?
            .into_iter()
            .map(|(config_name, file)| d::ConfigReference { file: Some(file), runtime: None, config_id: String::new(), config_name })
            .collect(),
        isolation: svc.isolation.clone().unwrap_or_default(),
        sysctls: svc.sysctls.as_ref().map(|s| s.entries('=').into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect()).unwrap_or_default(),
        capability_add: svc.cap_add.iter().map(|c| crate::cli::normalize_cap(c)).collect(),
        capability_drop: svc.cap_drop.iter().map(|c| crate::cli::normalize_cap(c)).collect(),
        ulimits: ulimits(&svc.ulimits).map_err(|e| ctx.invalid(at("ulimits"), e))?,
        oom_score_adj: svc.oom_score_adj.as_ref().map(|s| int(s).map_err(|e| ctx.invalid(at("oom_score_adj"), e))).transpose()?.unwrap_or(0),
        ..Default::default()
    };
    let networks = service_networks(stack, name, svc, file, ctx, used_networks)?;
    let spec = d::ServiceSpec {
        name: scoped(stack, name),
        labels,
        task_template: d::TaskSpec {
            container_spec: Some(container),
            resources: deploy.resources.as_ref().map(|r| resources(r).map_err(|(k, e)| ctx.invalid(at(&format!("deploy.resources.{k}")), e))).transpose()?,
            restart_policy: restart_policy(&deploy, svc.restart.as_deref()).map_err(|(k, e)| ctx.invalid(at(&k), e))?,
            placement: Some(placement(&deploy).map_err(|e| ctx.invalid(at("deploy.placement.max_replicas_per_node"), e))?),
            networks,
            log_driver: svc.logging.as_ref().map(|l| d::Driver {
                name: l.driver.clone().unwrap_or_default(),
                options: l.options.iter().map(|(k, v)| (k.clone(), v.text())).collect(),
            }),
            ..Default::default()
        },
        mode: Some(mode(&deploy).map_err(|(k, e)| ctx.invalid(at(&k), e))?),
        update_config: deploy.update_config.as_ref().map(|u| update_config(u).map_err(|(k, e)| ctx.invalid(at(&format!("deploy.update_config.{k}")), e))).transpose()?,
        rollback_config: deploy
            .rollback_config
            .as_ref()
            .map(|u| update_config(u).map_err(|(k, e)| ctx.invalid(at(&format!("deploy.rollback_config.{k}")), e)))
            .transpose()?,
        networks: vec![],
        endpoint_spec: Some(endpoint(&deploy, &svc.ports).map_err(|e| ctx.invalid(at("ports"), e))?),
    };
    crate::engine_api::convert::spec_from_docker(&spec).map_err(|e| ctx.invalid(format!("services.{name}"), e.to_string()))
}

/// `name` → `name:latest`: the docker client tags an untagged, undigested image so before it
/// sends a service (the stack's image label keeps the name as written).
fn tagged(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') { image.to_string() } else { format!("{image}:latest") }
}

/// A command as a list of words: a string splits as a POSIX shell would split it.
fn words(v: Option<&StringOrList>) -> Result<Vec<String>, String> {
    match v {
        None => Ok(vec![]),
        Some(StringOrList::List(l)) => Ok(l.clone()),
        Some(StringOrList::One(s)) => shlex::split(s).ok_or_else(|| format!("{s:?} has an unclosed quote")),
    }
}

/// `env_file` entries, then `environment` over them; a value left empty takes the variable
/// of that name from the environment the stack is deployed from; sorted.
fn environment_entries(svc: &ServiceConfig, ctx: &Context) -> Result<Vec<String>, StackError> {
    let mut env: BTreeMap<String, Option<String>> = BTreeMap::new();
    for f in svc.env_file.as_ref().map(StringOrList::to_list).unwrap_or_default() {
        let bytes = ctx.read_file("env_file", &f)?;
        let text = String::from_utf8(bytes).map_err(|_| StackError::Read { what: "env_file".into(), path: ctx.absolute(&f), message: "not valid UTF-8".into() })?;
        let lookup = |k: &str| ctx.vars.get(k).map(str::to_string);
        for (k, v) in super::load::parse_env_file(&ctx.absolute(&f), &text, &lookup)? {
            // A bare KEY the environment does not set is dropped (docker's env_file rule).
            if let Some(v) = v {
                env.insert(k, Some(v));
            }
        }
    }
    if let Some(e) = &svc.environment {
        env.extend(e.entries('='));
    }
    let mut out: Vec<String> = env
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Some(v) if !v.is_empty() => Some(v),
                other => ctx.vars.get(&k).map(str::to_string).or(other),
            };
            match v {
                Some(v) => format!("{k}={v}"),
                None => k,
            }
        })
        .collect();
    out.sort();
    Ok(out)
}

fn extra_hosts(h: Option<&ListOrMap>) -> Vec<String> {
    match h {
        None => vec![],
        Some(ListOrMap::List(l)) => l.iter().filter_map(|e| e.text().split_once(':').map(|(host, ip)| format!("{ip} {host}"))).collect(),
        Some(ListOrMap::Map(m)) => m.iter().filter_map(|(host, ip)| ip.as_ref().map(|ip| format!("{} {host}", ip.text()))).collect(),
    }
}

fn dns(svc: &ServiceConfig) -> Option<d::DnsConfig> {
    let servers: Vec<String> = svc.dns.as_ref().map(StringOrList::to_list).unwrap_or_default();
    let search = svc.dns_search.as_ref().map(StringOrList::to_list).unwrap_or_default();
    if servers.is_empty() && search.is_empty() {
        return None;
    }
    // docker drops what does not parse as an address.
    let nameservers = servers.into_iter().filter(|s| s.parse::<core::net::IpAddr>().is_ok()).collect();
    Some(d::DnsConfig { nameservers, search, options: vec![] })
}

fn ulimits(u: &BTreeMap<String, UlimitConfig>) -> Result<Vec<d::Ulimit>, String> {
    u.iter()
        .map(|(name, v)| {
            let (soft, hard) = match v {
                UlimitConfig::Single(n) => (int(n)?, int(n)?),
                UlimitConfig::Pair { soft, hard } => (int(soft)?, int(hard)?),
            };
            Ok(d::Ulimit { name: name.clone(), soft, hard })
        })
        .collect()
}

/// The service's secrets or configs: (object name, file) sorted by name; `kind` is
/// "secret" or "config".
fn file_refs(
    stack: &str,
    service: &str,
    kind: &str,
    refs: &[FileReference],
    defs: &BTreeMap<String, FileObjectConfig>,
    ctx: &Context,
) -> Result<Vec<(String, d::SecretFile)>, StackError> {
    let at = format!("services.{service}.{kind}s");
    let mut out = Vec::new();
    let mut targets = BTreeSet::new();
    for r in refs {
        let r = r.long();
        let def = defs.get(&r.source).ok_or_else(|| ctx.invalid(&at, format!("service {service}: undefined {kind} {:?}: declare it under the top-level {kind}s:", r.source)))?;
        let (external, old_name) = External::get(&def.external);
        let name = def.name.clone().or(old_name).unwrap_or_else(|| if external { r.source.clone() } else { scoped(stack, &r.source) });
        let target = r.target.clone().unwrap_or_else(|| r.source.clone());
        if !targets.insert(target.clone()) {
            return Err(ctx.invalid(&at, format!("duplicate {kind} target for {service} not allowed: {target}")));
        }
        let mode = match &r.mode {
            None => 0o444,
            Some(Scalar::Int(n)) => u32::try_from(*n).map_err(|_| ctx.invalid(&at, format!("mode {n} is not a file mode")))?,
            // A string is octal, as the CLI's mode= is.
            Some(s) => u32::from_str_radix(s.text().trim_start_matches("0o"), 8).map_err(|_| ctx.invalid(&at, format!("mode {:?} is not an octal file mode", s.text())))?,
        };
        let id = |v: &Option<Scalar>| v.as_ref().map(Scalar::text).unwrap_or_else(|| "0".into());
        out.push((name, d::SecretFile { name: target, uid: id(&r.uid), gid: id(&r.gid), mode }));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn service_networks(
    stack: &str,
    service: &str,
    svc: &ServiceConfig,
    file: &ComposeFile,
    ctx: &Context,
    used: &mut BTreeSet<String>,
) -> Result<Vec<d::NetworkAttachmentConfig>, StackError> {
    let mut entries = svc.networks.as_ref().map(ServiceNetworks::entries).unwrap_or_default();
    if entries.is_empty() {
        entries.insert("default".into(), ServiceNetworkConfig::default());
    }
    let mut out = Vec::new();
    for (net, cfg) in entries {
        let def = match file.networks.get(&net) {
            Some(d) => d.clone().unwrap_or_default(),
            None if net == "default" => NetworkConfig::default(),
            None => return Err(ctx.invalid(format!("services.{service}.networks"), format!("service {service}: undefined network {net:?}: declare it under the top-level networks:"))),
        };
        if cfg.ipv4_address.is_some() || cfg.ipv6_address.is_some() {
            return Err(ctx.invalid(format!("services.{service}.networks.{net}"), "ipv4_address and ipv6_address: swarm gives task addresses itself"));
        }
        let (external, old_name) = External::get(&def.external);
        let target = def.name.clone().or(if external { old_name } else { None }).unwrap_or_else(|| if external { net.clone() } else { scoped(stack, &net) });
        used.insert(net.clone());
        let mut aliases = cfg.aliases.clone();
        if !["host", "bridge", "none", "default"].contains(&target.as_str()) {
            aliases.push(service.to_string());
        }
        out.push(d::NetworkAttachmentConfig { target, aliases, driver_opts: cfg.driver_opts.iter().map(|(k, v)| (k.clone(), v.text())).collect() });
    }
    out.sort_by(|a, b| a.target.cmp(&b.target));
    Ok(out)
}

fn mounts(stack: &str, service: &str, svc: &ServiceConfig, file: &ComposeFile, ctx: &Context) -> Result<Vec<d::Mount>, StackError> {
    let at = format!("services.{service}.volumes");
    let mut out = Vec::new();
    for v in &svc.volumes {
        let long = match v {
            VolumeEntry::Long(l) => l.clone(),
            VolumeEntry::Short(s) => short_volume(s).map_err(|e| ctx.invalid(&at, e))?,
        };
        let mut mnt = d::Mount {
            kind: long.kind.clone(),
            source: long.source.clone().unwrap_or_default(),
            target: long.target.clone(),
            read_only: long.read_only.unwrap_or(false),
            consistency: long.consistency.clone().unwrap_or_default(),
            ..Default::default()
        };
        match long.kind.as_str() {
            "bind" => {
                if mnt.source.is_empty() {
                    return Err(ctx.invalid(&at, "invalid bind source, source cannot be empty"));
                }
                mnt.source = ctx.absolute(&mnt.source);
                mnt.bind_options = long.bind.clone();
            }
            "volume" if !mnt.source.is_empty() => {
                let def = file.volumes.get(&mnt.source).ok_or_else(|| ctx.invalid(&at, format!("undefined volume {:?}: declare it under the top-level volumes:", mnt.source)))?;
                let def = def.clone().unwrap_or_default();
                let (external, old_name) = External::get(&def.external);
                let name = def.name.clone().or(old_name).unwrap_or_else(|| if external { mnt.source.clone() } else { scoped(stack, &mnt.source) });
                let mut opts = d::VolumeOptions::default();
                if let Some(vol) = &long.volume {
                    opts.no_copy = vol.nocopy == Some(true);
                    opts.subpath = vol.subpath.clone().unwrap_or_default();
                }
                if !external {
                    opts.labels = stack_labels(stack, def.labels.as_ref());
                    if def.driver.is_some() || !def.driver_opts.is_empty() {
                        opts.driver_config = Some(d::Driver {
                            name: def.driver.clone().unwrap_or_default(),
                            options: def.driver_opts.iter().map(|(k, v)| (k.clone(), v.text())).collect(),
                        });
                    }
                }
                mnt.source = name;
                mnt.volume_options = Some(opts);
            }
            "volume" => {}
            "tmpfs" => {
                if !mnt.source.is_empty() {
                    return Err(ctx.invalid(&at, "invalid tmpfs source, source must be empty"));
                }
                mnt.tmpfs_options = long.tmpfs.clone();
            }
            other => return Err(ctx.invalid(&at, format!("volume type {other:?}: use volume, bind or tmpfs"))),
        }
        out.push(mnt);
    }
    Ok(out)
}
