//! Placement constraints: `node.labels.zone==east`, `node.role!=manager`, ...
//!
//! Owns the constraint syntax (swarmkit's `manager/constraint`; CONTRIBUTING.md): keys
//! `node.id`, `node.hostname`, `node.role`, `node.ip`, `node.platform.os`,
//! `node.platform.arch`, `node.labels.X`, `engine.labels.X`; operators `==` and `!=`; values
//! compared case-insensitively; a missing label reads as "". Input: the strings of a service's
//! `placement.constraints`; output: parsed [`Constraint`]s that match or not against a
//! [`Node`]. Parsing errors name the constraint and say what to write instead.

use crate::model::{Node, NodeRole};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Id,
    Hostname,
    Role,
    Ip,
    PlatformOs,
    PlatformArch,
    NodeLabel(String),
    EngineLabel(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub key: Key,
    pub equal: bool,
    /// Lower-cased: matching ignores case.
    pub value: String,
}

const KEYS: &str = "node.id, node.hostname, node.role, node.ip, node.platform.os, node.platform.arch, \
                    node.labels.<name>, engine.labels.<name>";

impl Constraint {
    pub fn parse(text: &str) -> Result<Constraint, String> {
        let (k, v, equal) = if let Some((k, v)) = text.split_once("==") {
            (k, v, true)
        } else if let Some((k, v)) = text.split_once("!=") {
            (k, v, false)
        } else {
            return Err(format!("constraint {text:?} has no operator: write key==value or key!=value"));
        };
        let (k, v) = (k.trim(), v.trim());
        if v.starts_with('=') || v.contains("==") || v.contains("!=") {
            return Err(format!("constraint {text:?} has more than one operator: use one == or !="));
        }
        if v.is_empty() {
            return Err(format!("constraint {text:?} has no value after the operator"));
        }
        let label = |prefix: &str| -> Result<Option<String>, String> {
            match k.strip_prefix(prefix) {
                None => Ok(None),
                Some("") => Err(format!("constraint {text:?}: `{prefix}` needs a label name, e.g. {prefix}zone")),
                Some(name) => Ok(Some(name.to_string())),
            }
        };
        let key = match k.to_ascii_lowercase().as_str() {
            "node.id" => Key::Id,
            "node.hostname" => Key::Hostname,
            "node.role" => Key::Role,
            "node.ip" => Key::Ip,
            "node.platform.os" => Key::PlatformOs,
            "node.platform.arch" => Key::PlatformArch,
            _ => {
                if let Some(n) = label("node.labels.")? {
                    Key::NodeLabel(n)
                } else if let Some(n) = label("engine.labels.")? {
                    Key::EngineLabel(n)
                } else {
                    return Err(format!("constraint {text:?}: unknown key {k:?}; use one of {KEYS}"));
                }
            }
        };
        if key == Key::Role && NodeRole::parse(&v.to_ascii_lowercase()).is_none() {
            return Err(format!("constraint {text:?}: node.role is `manager` or `worker`, not {v:?}"));
        }
        Ok(Constraint { key, equal, value: v.to_ascii_lowercase() })
    }

    /// Parses every constraint of a spec; the first bad one is the error.
    pub fn parse_all(texts: &[String]) -> Result<Vec<Constraint>, String> {
        texts.iter().map(|t| Constraint::parse(t)).collect()
    }

    /// The node's value for this constraint's key ("" when missing).
    fn node_value(&self, node: &Node) -> String {
        let d = node.description.as_ref();
        let v: &str = match &self.key {
            Key::Id => &node.id,
            Key::Hostname => d.map(|d| d.hostname.as_str()).unwrap_or(""),
            Key::Role => node.role.as_str(),
            Key::Ip => node.status.addr.split(':').next().unwrap_or(""),
            Key::PlatformOs => d.map(|d| d.platform.os.as_str()).unwrap_or(""),
            Key::PlatformArch => d.map(|d| d.platform.architecture.as_str()).unwrap_or(""),
            Key::NodeLabel(n) => node.spec.annotations.labels.get(n).map(String::as_str).unwrap_or(""),
            Key::EngineLabel(n) => d.and_then(|d| d.engine_labels.get(n)).map(String::as_str).unwrap_or(""),
        };
        v.to_ascii_lowercase()
    }

    pub fn matches(&self, node: &Node) -> bool {
        (self.node_value(node) == self.value) == self.equal
    }
}

/// True when the node satisfies every constraint.
pub fn all_match(constraints: &[Constraint], node: &Node) -> bool {
    constraints.iter().all(|c| c.matches(node))
}

/// Parses a placement preference `spread=node.labels.zone` into the label it spreads over.
pub fn parse_preference(text: &str) -> Result<Key, String> {
    let Some(desc) = text.strip_prefix("spread=") else {
        return Err(format!("placement preference {text:?}: write spread=node.labels.<name>"));
    };
    let c = Constraint::parse(&format!("{desc}==x")).map_err(|_| {
        format!("placement preference {text:?}: spread over node.labels.<name> or engine.labels.<name>")
    })?;
    match c.key {
        Key::NodeLabel(_) | Key::EngineLabel(_) => Ok(c.key),
        _ => Err(format!("placement preference {text:?}: spread over node.labels.<name> or engine.labels.<name>")),
    }
}

/// The node's value for a preference key ("" when missing), as the spread tree groups it.
pub fn preference_value(key: &Key, node: &Node) -> String {
    Constraint { key: key.clone(), equal: true, value: String::new() }.node_value(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NodeDescription, NodeSpec, Platform};

    fn node() -> Node {
        let mut n = Node { id: "abc".into(), role: NodeRole::Worker, ..Default::default() };
        n.spec = NodeSpec::default();
        n.spec.annotations.labels.insert("zone".into(), "East".into());
        n.description = Some(NodeDescription {
            hostname: "worker-1".into(),
            platform: Platform { os: "linux".into(), architecture: "x86_64".into() },
            ..Default::default()
        });
        n.status.addr = "10.0.0.3:4242".into();
        n
    }

    #[test]
    fn matches_keys_case_insensitively_and_missing_labels_are_empty() {
        let n = node();
        for (c, want) in [
            ("node.labels.zone==east", true),
            ("node.labels.zone!=east", false),
            ("node.labels.rack==", false),
            ("node.role==worker", true),
            ("node.role != manager", true),
            ("node.hostname==WORKER-1", true),
            ("node.ip==10.0.0.3", true),
            ("node.platform.os==linux", true),
            ("node.id==abc", true),
            ("engine.labels.ssd!=true", true),
        ] {
            match Constraint::parse(c) {
                Ok(p) => assert_eq!(p.matches(&n), want, "{c}"),
                Err(e) => assert!(c.ends_with("=="), "{c}: {e}"),
            }
        }
    }

    #[test]
    fn bad_constraints_say_what_to_write() {
        let e = Constraint::parse("node.colour==red").unwrap_err();
        assert!(e.contains("unknown key") && e.contains("node.labels.<name>"), "{e}");
        let e = Constraint::parse("node.role=manager").unwrap_err();
        assert!(e.contains("no operator"), "{e}");
        let e = Constraint::parse("node.role===manager").unwrap_err();
        assert!(e.contains("more than one operator"), "{e}");
        let e = Constraint::parse("node.role==boss").unwrap_err();
        assert!(e.contains("manager` or `worker"), "{e}");
        let e = Constraint::parse("node.labels.==x").unwrap_err();
        assert!(e.contains("needs a label name"), "{e}");
        assert!(parse_preference("spread=node.labels.zone").is_ok());
        assert!(parse_preference("spread=node.role").is_err());
        assert!(parse_preference("node.labels.zone").is_err());
    }
}
