//! `GET /events` for the swarm's objects (pure): which store changes are events, how dockerd
//! names and describes them, and which a filter keeps.
//!
//! As dockerd on a manager: services, nodes, secrets, configs and networks, each `create`,
//! `update` or `remove`, scope `swarm`, the actor's `name` among its attributes, and for an
//! update what changed (`image.old/new`, `replicas.old/new`, `updatestate.old/new` of a
//! service; `state`, `availability`, `role` of a node). Tasks are not events (dockerd emits
//! none for them either). An event's time is its object's `UpdatedAt` (create, update) or the
//! moment this manager applied the removal, given as `now_ms`.

use super::convert::{availability_name, node_state_name, update_state_name};
use super::filters::Filters;
use super::types::{EventActor, EventMessage};
use super::ApiError;
use crate::model::{Object, ServiceMode};
use crate::store::Event;
use std::collections::BTreeMap;

/// The filter keys `/events` takes (dockerd's); the container, image, volume, daemon and
/// plugin ones name event types Shoal never emits, so they keep nothing.
pub const FILTER_KEYS: [&str; 14] =
    ["type", "event", "scope", "service", "node", "secret", "config", "network", "label", "container", "image", "volume", "daemon", "plugin"];

fn kind_of(o: &Object) -> Option<&'static str> {
    match o {
        Object::Service(_) => Some("service"),
        Object::Node(_) => Some("node"),
        Object::Secret(_) => Some("secret"),
        Object::Config(_) => Some("config"),
        Object::Network(_) => Some("network"),
        Object::Task(_) | Object::Cluster(_) => None,
    }
}

fn name_of(o: &Object) -> String {
    match o {
        Object::Node(n) => n.description.as_ref().map(|d| d.hostname.clone()).unwrap_or_default(),
        o => o.name().unwrap_or_default().to_string(),
    }
}

fn meta_ms(o: &Object) -> u64 {
    match o {
        Object::Service(s) => s.meta.updated_at_ms,
        Object::Node(n) => n.meta.updated_at_ms,
        Object::Secret(s) => s.meta.updated_at_ms,
        Object::Config(c) => c.meta.updated_at_ms,
        Object::Network(n) => n.meta.updated_at_ms,
        Object::Task(t) => t.meta.updated_at_ms,
        Object::Cluster(c) => c.meta.updated_at_ms,
    }
}

fn changed(attrs: &mut BTreeMap<String, String>, key: &str, old: String, new: String) {
    if old != new {
        attrs.insert(format!("{key}.old"), old);
        attrs.insert(format!("{key}.new"), new);
    }
}

/// What changed in an update, as dockerd's attributes say it.
fn update_attributes(old: &Object, new: &Object, attrs: &mut BTreeMap<String, String>) {
    match (old, new) {
        (Object::Service(a), Object::Service(b)) => {
            changed(attrs, "image", a.spec.task.container.image.clone(), b.spec.task.container.image.clone());
            let replicas = |m: &ServiceMode| match m {
                ServiceMode::Replicated { replicas } => replicas.to_string(),
                _ => String::new(),
            };
            changed(attrs, "replicas", replicas(&a.spec.mode), replicas(&b.spec.mode));
            let state = |s: &crate::model::Service| s.update_status.as_ref().map(|u| update_state_name(u.state)).unwrap_or_default().to_string();
            changed(attrs, "updatestate", state(a), state(b));
        }
        (Object::Node(a), Object::Node(b)) => {
            let st = |n: &crate::model::Node| node_state_name(n.status.state).to_string();
            changed(attrs, "state", st(a), st(b));
            changed(attrs, "availability", availability_name(a.spec.availability).into(), availability_name(b.spec.availability).into());
            changed(attrs, "role", a.role.as_str().into(), b.role.as_str().into());
        }
        _ => {}
    }
}

/// The event a store change is for docker clients, if any.
pub fn event_of(e: &Event, now_ms: u64) -> Option<EventMessage> {
    let (action, obj, at_ms) = match e {
        Event::Created(o) => ("create", o, meta_ms(o)),
        Event::Updated { new, .. } => ("update", new, meta_ms(new)),
        Event::Deleted(o) => ("remove", o, now_ms),
    };
    let kind = kind_of(obj)?;
    let mut attributes = BTreeMap::from([("name".to_string(), name_of(obj))]);
    if let Event::Updated { old, new } = e {
        update_attributes(old, new, &mut attributes);
    }
    let ns = (at_ms as i64).saturating_mul(1_000_000);
    Some(EventMessage {
        kind: kind.into(),
        action: action.into(),
        actor: EventActor { id: obj.id().to_string(), attributes },
        scope: "swarm".into(),
        time: ns / 1_000_000_000,
        time_nano: ns,
    })
}

/// Whether `f` (already checked with [`FILTER_KEYS`]) keeps `m`. `service`, `node`, `secret`,
/// `config` and `network` match the actor's id or name, only for events of that type.
pub fn matches(f: &Filters, m: &EventMessage) -> bool {
    let by_actor = |key: &str| {
        !f.contains(key) || (m.kind == key && f.values(key).any(|v| v == m.actor.id || Some(v) == m.actor.attributes.get("name").map(String::as_str)))
    };
    f.any("type", |v| v == m.kind)
        && f.any("event", |v| v == m.action)
        && f.any("scope", |v| v == m.scope)
        && ["service", "node", "secret", "config", "network", "container", "image", "volume", "daemon", "plugin"].into_iter().all(by_actor)
        && f.labels_match("label", &m.actor.attributes)
}

/// `since`/`until` as clients send them: Unix seconds with an optional fraction
/// (`1733470000.123456789`), as milliseconds. The docker CLI turns durations and dates into
/// this form itself.
pub fn parse_time_ms(what: &str, s: &str) -> Result<u64, ApiError> {
    let bad = || ApiError::BadRequest(format!("{what} {s:?}: give a Unix timestamp in seconds, e.g. 1733470000 or 1733470000.5"));
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: u64 = secs.parse().map_err(|_| bad())?;
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let ms_digits: String = frac.chars().chain(std::iter::repeat('0')).take(3).collect();
    Ok(secs.saturating_mul(1000) + ms_digits.parse::<u64>().map_err(|_| bad())?)
}

/// A `--since`/`--until` argument as the docker CLI takes it — Unix seconds (`1733470000.5`),
/// a duration before `now_ms` (`10m`, `1h30m`) or an RFC 3339 time — as the Unix seconds the
/// API takes.
pub fn timestamp_arg(flag: &str, s: &str, now_ms: u64) -> Result<String, String> {
    let s = s.trim();
    if parse_time_ms(flag, s).is_ok() {
        return Ok(s.to_string());
    }
    let ms = if let Ok(d) = humantime::parse_duration(s) {
        now_ms.saturating_sub(d.as_millis() as u64)
    } else if let Some(ms) = crate::engine_api::convert::ms_of_time(s) {
        ms
    } else {
        return Err(format!("--{flag} {s:?}: give Unix seconds (1733470000), a duration before now (10m, 1h30m) or a time (2026-12-07T10:00:00Z)"));
    };
    Ok(format!("{}.{:03}", ms / 1000, ms % 1000))
}

/// An event as `docker events` prints it: time (RFC 3339, nanoseconds), type, action, actor
/// id, then the actor's attributes sorted by key.
pub fn text_line(m: &EventMessage) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(m.time_nano.max(0) as u64);
    let mut line = format!("{} {} {} {}", humantime::format_rfc3339_nanos(t), m.kind, m.action, m.actor.id);
    if !m.actor.attributes.is_empty() {
        let attrs: Vec<String> = m.actor.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line += &format!(" ({})", attrs.join(", "));
    }
    line
}

/// An event's time in milliseconds (for since/until).
pub fn time_ms(m: &EventMessage) -> u64 {
    (m.time_nano / 1_000_000).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Meta, Service, ServiceSpec};

    #[test]
    fn cli_times_and_lines_read_as_dockers() {
        let now = 1_733_470_000_000;
        assert_eq!(timestamp_arg("since", "1733469000", now), Ok("1733469000".into()));
        assert_eq!(timestamp_arg("since", "10m", now), Ok("1733469400.000".into()));
        assert_eq!(timestamp_arg("until", "2024-12-06T07:26:40Z", now), Ok("1733470000.000".into()));
        assert!(timestamp_arg("since", "yesterday-ish", now).unwrap_err().contains("give Unix seconds"));
        let m = EventMessage {
            kind: "service".into(),
            action: "update".into(),
            actor: crate::engine_api::types::EventActor { id: "abc".into(), attributes: [("name".to_string(), "web".to_string()), ("a".to_string(), "b".to_string())].into() },
            scope: "swarm".into(),
            time: 1_733_470_000,
            time_nano: 1_733_470_000_000_000_123,
        };
        assert_eq!(text_line(&m), "2024-12-06T07:26:40.000000123Z service update abc (a=b, name=web)");
    }

    fn svc(image: &str, replicas: u64, at_ms: u64) -> Object {
        let mut spec = ServiceSpec { mode: ServiceMode::Replicated { replicas }, ..Default::default() };
        spec.annotations.name = "web".into();
        spec.task.container.image = image.into();
        Object::Service(Service { id: "s1".into(), meta: Meta { updated_at_ms: at_ms, ..Default::default() }, spec, ..Default::default() })
    }

    // moby daemon/events.go logServiceEvent: name always, what changed on an update.
    #[test]
    fn service_events_as_dockerd_writes_them() {
        let c = event_of(&Event::Created(svc("a:1", 1, 1_500)), 9_000).unwrap();
        assert_eq!((c.kind.as_str(), c.action.as_str(), c.actor.id.as_str(), c.time, c.time_nano), ("service", "create", "s1", 1, 1_500_000_000));
        assert_eq!(c.actor.attributes, BTreeMap::from([("name".to_string(), "web".to_string())]));
        let u = event_of(&Event::Updated { old: svc("a:1", 1, 1_500), new: svc("a:2", 3, 2_000) }, 9_000).unwrap();
        assert_eq!(u.actor.attributes["image.old"], "a:1");
        assert_eq!(u.actor.attributes["replicas.new"], "3");
        let r = event_of(&Event::Deleted(svc("a:2", 3, 2_000)), 9_000).unwrap();
        assert_eq!((r.action.as_str(), r.time_nano), ("remove", 9_000_000_000), "a removal is dated when applied");
        let t = Object::Task(Default::default());
        assert!(event_of(&Event::Created(t), 0).is_none(), "tasks are not events");
    }

    #[test]
    fn filters_and_times() {
        let c = event_of(&Event::Created(svc("a:1", 1, 1_500)), 0).unwrap();
        let f = |j: &str| Filters::parse(Some(j)).unwrap();
        assert!(matches(&f(r#"{"type":["service"],"event":["create"]}"#), &c));
        assert!(matches(&f(r#"{"service":["web"]}"#), &c));
        assert!(!matches(&f(r#"{"node":["web"]}"#), &c), "a node filter keeps node events only");
        assert!(!matches(&f(r#"{"type":["node"]}"#), &c));
        assert_eq!(parse_time_ms("since", "1733470000.25").unwrap(), 1_733_470_000_250);
        assert_eq!(parse_time_ms("since", "12").unwrap(), 12_000);
        assert!(parse_time_ms("since", "10m").is_err());
    }
}
