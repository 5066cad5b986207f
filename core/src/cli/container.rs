//! `service create|update` flags for the container beyond image, command and env: docker's
//! `--entrypoint`, `--hostname`, `--workdir`, `--user`, `--tty`, `--read-only`,
//! `--stop-signal` (both verbs: set), the lists `--mount`, `--group`, `--host`, `--dns*`,
//! `--sysctl`, `--cap-add/--cap-drop`, `--ulimit`, `--container-label` (create) and their
//! `-add`/`-rm` forms (update). Pure: flags in, a changed [`ContainerSpec`] out, or an error
//! that says which flag was wrong and how to write it.

use super::service::kv;
use crate::model::{ContainerSpec, Mount, MountKind, Ulimit};
use clap::Args;

/// Scalars of the container, the same on create and update (a flag given sets the value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ContainerFlags {
    /// Overwrite the default ENTRYPOINT of the image (split on spaces; "" clears it)
    #[arg(long, allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Container hostname
    #[arg(long)]
    pub hostname: Option<String>,
    /// Working directory inside the container
    #[arg(long, short = 'w')]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(long, short = 'u')]
    pub user: Option<String>,
    /// Allocate a pseudo-TTY (--tty=false to undo)
    #[arg(long, short = 't', num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub tty: Option<bool>,
    /// Mount the container's root filesystem as read only (--read-only=false to undo)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub read_only: Option<bool>,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
}

impl ContainerFlags {
    pub fn apply(&self, c: &mut ContainerSpec) {
        if let Some(e) = &self.entrypoint {
            c.command = e.split_whitespace().map(str::to_string).collect();
        }
        let set = |dst: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                *dst = v.clone();
            }
        };
        set(&mut c.hostname, &self.hostname);
        set(&mut c.dir, &self.workdir);
        set(&mut c.user, &self.user);
        set(&mut c.stop_signal, &self.stop_signal);
        if let Some(t) = self.tty {
            c.tty = t;
        }
        if let Some(r) = self.read_only {
            c.read_only = r;
        }
    }
}

/// The container's lists on `service create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ContainerListFlags {
    /// Attach a filesystem mount: type=bind|volume|tmpfs,source=SRC,target=DST[,readonly]
    #[arg(long = "mount")]
    pub mounts: Vec<String>,
    /// Set one or more supplementary user groups for the container
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Set one or more custom host-to-IP mappings (host:ip)
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option")]
    pub dns_options: Vec<String>,
    /// Sysctl options (key=value)
    #[arg(long = "sysctl")]
    pub sysctls: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Ulimit options: name=soft[:hard]
    #[arg(long = "ulimit")]
    pub ulimits: Vec<String>,
    /// Container labels (key=value)
    #[arg(long = "container-label")]
    pub container_labels: Vec<String>,
}

impl ContainerListFlags {
    pub fn apply(&self, c: &mut ContainerSpec) -> Result<(), String> {
        c.mounts = self.mounts.iter().map(|m| parse_mount(m)).collect::<Result<_, _>>()?;
        c.groups = self.groups.clone();
        c.hosts = self.hosts.iter().map(|h| parse_host(h)).collect::<Result<_, _>>()?;
        c.dns.nameservers = self.dns.clone();
        c.dns.search = self.dns_search.clone();
        c.dns.options = self.dns_options.clone();
        for s in &self.sysctls {
            let (k, v) = kv("sysctl", s)?;
            c.sysctls.insert(k, v);
        }
        c.cap_add = self.cap_add.iter().map(|x| normalize_cap(x)).collect();
        c.cap_drop = self.cap_drop.iter().map(|x| normalize_cap(x)).collect();
        c.ulimits = self.ulimits.iter().map(|u| parse_ulimit(u)).collect::<Result<_, _>>()?;
        for l in &self.container_labels {
            let (k, v) = kv("container-label", l)?;
            c.labels.insert(k, v);
        }
        Ok(())
    }
}

/// The container's lists on `service update`: `-add` adds (replacing an entry with the same
/// key), `-rm` removes by key (a mount by its target, a host by its name, a sysctl, ulimit or
/// label by its name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ContainerListUpdateFlags {
    /// Add or update a mount: type=bind|volume|tmpfs,source=SRC,target=DST[,readonly]
    #[arg(long = "mount-add")]
    pub mount_add: Vec<String>,
    /// Remove a mount by its target path
    #[arg(long = "mount-rm")]
    pub mount_rm: Vec<String>,
    /// Add a supplementary group
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Remove a supplementary group
    #[arg(long = "group-rm")]
    pub group_rm: Vec<String>,
    /// Add a host-to-IP mapping (host:ip)
    #[arg(long = "host-add")]
    pub host_add: Vec<String>,
    /// Remove a host-to-IP mapping (host or host:ip)
    #[arg(long = "host-rm")]
    pub host_rm: Vec<String>,
    /// Add a DNS server
    #[arg(long = "dns-add")]
    pub dns_add: Vec<String>,
    /// Remove a DNS server
    #[arg(long = "dns-rm")]
    pub dns_rm: Vec<String>,
    /// Add or update a sysctl (key=value)
    #[arg(long = "sysctl-add")]
    pub sysctl_add: Vec<String>,
    /// Remove a sysctl by its key
    #[arg(long = "sysctl-rm")]
    pub sysctl_rm: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Add or update a ulimit: name=soft[:hard]
    #[arg(long = "ulimit-add")]
    pub ulimit_add: Vec<String>,
    /// Remove a ulimit by its name
    #[arg(long = "ulimit-rm")]
    pub ulimit_rm: Vec<String>,
    /// Add or update a container label (key=value)
    #[arg(long = "container-label-add")]
    pub container_label_add: Vec<String>,
    /// Remove a container label by its key
    #[arg(long = "container-label-rm")]
    pub container_label_rm: Vec<String>,
}

impl ContainerListUpdateFlags {
    pub fn apply(&self, c: &mut ContainerSpec) -> Result<(), String> {
        c.mounts.retain(|m| !self.mount_rm.contains(&m.target));
        for s in &self.mount_add {
            let m = parse_mount(s)?;
            c.mounts.retain(|x| x.target != m.target);
            c.mounts.push(m);
        }
        edit_list(&mut c.groups, &self.group_add, &self.group_rm);
        let host_name = |line: &str| line.split_whitespace().nth(1).unwrap_or_default().to_string();
        c.hosts.retain(|h| !self.host_rm.iter().any(|r| r.split(':').next() == Some(host_name(h).as_str())));
        for h in &self.host_add {
            let line = parse_host(h)?;
            c.hosts.retain(|x| host_name(x) != host_name(&line));
            c.hosts.push(line);
        }
        edit_list(&mut c.dns.nameservers, &self.dns_add, &self.dns_rm);
        for k in &self.sysctl_rm {
            c.sysctls.remove(k);
        }
        for s in &self.sysctl_add {
            let (k, v) = kv("sysctl-add", s)?;
            c.sysctls.insert(k, v);
        }
        // docker's update: a capability added leaves the drop list and the other way round.
        let (add, drop): (Vec<String>, Vec<String>) =
            (self.cap_add.iter().map(|x| normalize_cap(x)).collect(), self.cap_drop.iter().map(|x| normalize_cap(x)).collect());
        c.cap_drop.retain(|x| !add.contains(x));
        c.cap_add.retain(|x| !drop.contains(x));
        edit_list(&mut c.cap_add, &add, &[]);
        edit_list(&mut c.cap_drop, &drop, &[]);
        c.ulimits.retain(|u| !self.ulimit_rm.contains(&u.name));
        for s in &self.ulimit_add {
            let u = parse_ulimit(s)?;
            c.ulimits.retain(|x| x.name != u.name);
            c.ulimits.push(u);
        }
        for k in &self.container_label_rm {
            c.labels.remove(k);
        }
        for l in &self.container_label_add {
            let (k, v) = kv("container-label-add", l)?;
            c.labels.insert(k, v);
        }
        Ok(())
    }
}

/// Removes `rm`, then appends each of `add` not already there.
fn edit_list(list: &mut Vec<String>, add: &[String], rm: &[String]) {
    list.retain(|x| !rm.contains(x));
    for a in add {
        if !list.contains(a) {
            list.push(a.clone());
        }
    }
}

/// `type=bind,source=/srv,target=/data,readonly` (docker's `--mount`; `src`, `dst`,
/// `destination`, `ro` and `readonly=true|false` spelled as docker accepts them).
pub fn parse_mount(s: &str) -> Result<Mount, String> {
    let bad = |why: &str| format!("invalid --mount {s:?}: {why}; write type=bind|volume|tmpfs,source=SRC,target=DST[,readonly]");
    let mut m = Mount::default();
    let mut target = None;
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "type" => m.kind = MountKind::parse(v).ok_or_else(|| bad(&format!("type {v:?} is not bind, volume or tmpfs")))?,
            "source" | "src" => m.source = v.to_string(),
            "target" | "dst" | "destination" => target = Some(v.to_string()),
            "readonly" | "ro" => {
                m.read_only = match v {
                    "" | "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(bad(&format!("readonly={v} is not true or false"))),
                }
            }
            other => return Err(bad(&format!("option {other:?} is not supported by Shoal yet"))),
        }
    }
    m.target = target.filter(|t| !t.is_empty()).ok_or_else(|| bad("target is required"))?;
    Ok(m)
}

/// A capability as the docker CLI sends it: upper case with the `CAP_` prefix (`ALL` as is).
pub fn normalize_cap(s: &str) -> String {
    let up = s.trim().to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// `host:ip` → the /etc/hosts line swarm keeps (`ip host`).
pub fn parse_host(s: &str) -> Result<String, String> {
    match s.split_once(':') {
        Some((host, ip)) if !host.is_empty() && !ip.is_empty() => Ok(format!("{ip} {host}")),
        _ => Err(format!("invalid --host {s:?}: write host:ip, e.g. db:10.0.0.5")),
    }
}

/// `nofile=1024[:2048]` (one number: soft = hard).
pub fn parse_ulimit(s: &str) -> Result<Ulimit, String> {
    let bad = || format!("invalid --ulimit {s:?}: write name=soft[:hard], e.g. nofile=1024:2048");
    let (name, v) = s.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = v.split_once(':').unwrap_or((v, v));
    Ok(Ulimit { name: name.to_string(), soft: soft.parse().map_err(|_| bad())?, hard: hard.parse().map_err(|_| bad())? })
}

#[cfg(test)]
mod tests {
    use super::*;

    // docker's --mount syntax (docs: "service create --mount"), its aliases, and its errors.
    #[test]
    fn mounts_parse_as_docker_writes_them() {
        let m = parse_mount("type=bind,source=/srv,target=/data,readonly").unwrap();
        assert_eq!(m, Mount { kind: MountKind::Bind, source: "/srv".into(), target: "/data".into(), read_only: true, volume: None });
        let m = parse_mount("type=tmpfs,dst=/tmp").unwrap();
        assert_eq!((m.kind, m.target.as_str(), m.read_only), (MountKind::Tmpfs, "/tmp", false));
        assert_eq!(parse_mount("src=vol,target=/v").unwrap().kind, MountKind::Volume, "volume is docker's default type");
        assert!(parse_mount("type=bind,source=/srv").unwrap_err().contains("target is required"));
        assert!(parse_mount("type=npipe,target=/x").unwrap_err().contains("not bind, volume or tmpfs"));
        assert!(parse_mount("type=volume,target=/x,volume-driver=nfs").unwrap_err().contains("not supported"));
    }

    #[test]
    fn hosts_and_ulimits() {
        assert_eq!(parse_host("db:10.0.0.5").unwrap(), "10.0.0.5 db");
        assert!(parse_host("db").is_err());
        assert_eq!(parse_ulimit("nofile=1024:2048").unwrap(), Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 });
        assert_eq!(parse_ulimit("nproc=64").unwrap(), Ulimit { name: "nproc".into(), soft: 64, hard: 64 });
        assert!(parse_ulimit("nofile").is_err());
    }

    // `--*-add` replaces an entry with the same key; `--*-rm` removes by key.
    #[test]
    fn update_lists_add_and_remove_by_key() {
        let mut c = ContainerSpec::default();
        let create = ContainerListFlags {
            mounts: vec!["type=bind,src=/a,dst=/data".into()],
            hosts: vec!["db:10.0.0.5".into()],
            cap_add: vec!["NET_ADMIN".into()],
            ..Default::default()
        };
        create.apply(&mut c).unwrap();
        let upd = ContainerListUpdateFlags {
            mount_add: vec!["type=bind,src=/b,dst=/data".into()],
            host_rm: vec!["db".into()],
            host_add: vec!["cache:10.0.0.6".into()],
            cap_drop: vec!["NET_ADMIN".into()],
            ..Default::default()
        };
        upd.apply(&mut c).unwrap();
        assert_eq!(c.mounts.len(), 1);
        assert_eq!(c.mounts[0].source, "/b");
        assert_eq!(c.hosts, vec!["10.0.0.6 cache".to_string()]);
        assert!(c.cap_add.is_empty());
        assert_eq!(c.cap_drop, vec!["CAP_NET_ADMIN".to_string()], "normalised as the docker CLI does");
        assert_eq!(normalize_cap("all"), "ALL");
    }
}
