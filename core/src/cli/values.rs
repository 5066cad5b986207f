//! Flag values as docker reads them: sizes (RAMInBytes), CPUs, Go durations, `--publish`.

use crate::model::{PortConfig, PublishMode};

/// docker's RAMInBytes: a number with an optional binary unit b, k, m, g, t (and optional "b").
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').filter(|x| x.ends_with(|c: char| c.is_ascii_alphabetic())).unwrap_or(&t);
    let (num, mult): (&str, i64) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}: write e.g. 512M or 2G"))?;
    if n.is_nan() || n < 0.0 {
        return Err(format!("invalid size {s:?}: sizes cannot be negative"));
    }
    Ok((n * mult as f64) as i64)
}

/// CPUs as a decimal ("0.5") into nano CPUs.
pub fn parse_cpus(s: &str) -> Result<i64, String> {
    let n: f64 = s.trim().parse().map_err(|_| format!("invalid CPU value {s:?}: write e.g. 0.5 or 2"))?;
    if n.is_nan() || n < 0.0 {
        return Err(format!("invalid CPU value {s:?}: cannot be negative"));
    }
    Ok((n * 1e9).round() as i64)
}

pub fn parse_duration_ms(flag: &str, s: &str) -> Result<u64, String> {
    humantime::parse_duration(s.trim())
        .map(|d| d.as_millis() as u64)
        .map_err(|e| format!("--{flag} {s:?} is not a duration ({e}); write e.g. 5s, 500ms, 1m"))
}

/// `-p 8080:80`, `-p 80`, `-p 8080:80/udp`, `-p mode=host,target=80,published=8080`.
pub fn parse_port(s: &str) -> Result<PortConfig, String> {
    let mut p = PortConfig { protocol: "tcp".into(), ..Default::default() };
    let bad = |why: &str| format!("invalid --publish {s:?}: {why}; write e.g. 8080:80 or mode=host,target=80,published=8080");
    if s.contains('=') {
        for kv in s.split(',') {
            let (k, v) = kv.split_once('=').ok_or_else(|| bad("expected key=value pairs"))?;
            match k.trim() {
                "target" => p.target_port = v.parse().map_err(|_| bad("target is not a port"))?,
                "published" => p.published_port = v.parse().map_err(|_| bad("published is not a port"))?,
                "protocol" => p.protocol = v.to_string(),
                "mode" => {
                    p.publish_mode = match v {
                        "ingress" => PublishMode::Ingress,
                        "host" => PublishMode::Host,
                        _ => return Err(bad("mode is ingress or host")),
                    }
                }
                _ => return Err(bad(&format!("unknown key {k:?}"))),
            }
        }
    } else {
        let (ports, proto) = match s.split_once('/') {
            Some((a, b)) => (a, b),
            None => (s, "tcp"),
        };
        p.protocol = proto.to_string();
        match ports.split_once(':') {
            Some((a, b)) => {
                p.published_port = a.parse().map_err(|_| bad("published is not a port"))?;
                p.target_port = b.parse().map_err(|_| bad("target is not a port"))?;
            }
            None => p.target_port = ports.parse().map_err(|_| bad("target is not a port"))?,
        }
    }
    if p.target_port == 0 {
        return Err(bad("a target port is required"));
    }
    Ok(p)
}

