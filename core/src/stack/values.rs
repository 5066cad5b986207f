//! Compose's scalar values as the conversion needs them: integers, numbers and Go durations
//! from YAML scalars (or the strings interpolation leaves), short port and volume syntax.
//! Each error says what was expected and what was there.

use super::compose::{Scalar, VolumeLong, VolumeOptionsConfig};
use crate::engine_api::types as d;

/// `[source:]target[:mode]`: a source that is a path is a bind mount, a name a volume.
pub(super) fn short_volume(s: &str) -> Result<VolumeLong, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, m] => (Some(*s), *t, Some(*m)),
        _ => return Err(format!("invalid volume {s:?}: write [SOURCE:]TARGET[:ro]")),
    };
    if target.is_empty() {
        return Err(format!("invalid volume {s:?}: the target path is empty"));
    }
    let is_path = |x: &str| x.starts_with('/') || x.starts_with('.') || x.starts_with('~');
    let kind = if source.is_some_and(is_path) { "bind" } else { "volume" };
    let mut long = VolumeLong { kind: kind.into(), source: source.map(str::to_string), target: target.to_string(), ..Default::default() };
    for opt in mode.unwrap_or("").split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => long.read_only = Some(true),
            "rw" => long.read_only = Some(false),
            "nocopy" => long.volume = Some(VolumeOptionsConfig { nocopy: Some(true), subpath: None }),
            "z" | "Z" | "cached" | "delegated" | "consistent" => {}
            other => return Err(format!("invalid volume {s:?}: unknown mode {other:?}")),
        }
    }
    Ok(long)
}

pub(super) fn port_number(s: &Scalar) -> Result<u32, String> {
    let n = uint(s)?;
    u16::try_from(n).map(u32::from).map_err(|_| format!("port {n} is out of range (1-65535)"))
}

/// `[IP:]published[-end]:target[-end][/proto]` or `target[-end][/proto]`, ranges expanded.
pub(super) fn short_ports(s: &str) -> Result<Vec<d::PortConfig>, String> {
    let bad = |why: &str| format!("invalid port {s:?}: {why}; write e.g. \"8080:80\", \"80\" or \"8000-8001:80-81/udp\"");
    let (spec, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let parts: Vec<&str> = spec.split(':').collect();
    let (published, target) = match parts.as_slice() {
        [t] => (None, *t),
        [p, t] => (Some(*p), *t),
        // The host IP a compose file may give is not used by swarm.
        [_, p, t] => (Some(*p).filter(|p| !p.is_empty()), *t),
        _ => return Err(bad("too many ':'")),
    };
    let range = |r: &str| -> Result<(u32, u32), String> {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let a: u16 = a.parse().map_err(|_| bad("not a port number"))?;
        let b: u16 = b.parse().map_err(|_| bad("not a port number"))?;
        if b < a { Err(bad("a range ends before it starts")) } else { Ok((a.into(), b.into())) }
    };
    let (t0, t1) = range(target)?;
    let published = published.map(range).transpose()?;
    if let Some((p0, p1)) = published {
        if p1 - p0 != t1 - t0 {
            return Err(bad("the published and target ranges differ in length"));
        }
    }
    Ok((0..=(t1 - t0))
        .map(|i| d::PortConfig {
            name: String::new(),
            protocol: proto.to_string(),
            target_port: t0 + i,
            published_port: published.map_or(0, |(p0, _)| p0 + i),
            publish_mode: "ingress".into(),
        })
        .collect())
}

pub(super) fn int(s: &Scalar) -> Result<i64, String> {
    match s {
        Scalar::Int(n) => Ok(*n),
        Scalar::Str(t) if t.trim().parse::<i64>().is_ok() => Ok(t.trim().parse().unwrap_or_default()),
        other => Err(format!("must be an integer, got {}", other.text())),
    }
}

pub(super) fn uint(s: &Scalar) -> Result<u64, String> {
    match int(s) {
        Ok(n) if n >= 0 => Ok(n as u64),
        _ => Err(format!("must be a non-negative integer, got {}", s.text())),
    }
}

pub(super) fn float(s: &Scalar) -> Result<f64, String> {
    match s {
        Scalar::Int(n) => Ok(*n as f64),
        Scalar::Float(f) => Ok(*f),
        Scalar::Str(t) if t.trim().parse::<f64>().is_ok() => Ok(t.trim().parse().unwrap_or_default()),
        other => Err(format!("must be a number, got {}", other.text())),
    }
}

/// A Go duration (`1m30s`, `500ms`, `1.5h`, `0`) in nanoseconds, as compose files write
/// them. Written here: humantime's grammar differs (no fractions, spaces allowed).
pub fn duration_ns(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid duration {s:?}: write e.g. 10s, 1m30s or 500ms");
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let mut rest = t;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    if total > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(total.round() as i64)
}
