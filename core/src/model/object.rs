use super::{Cluster, Config, Meta, Network, Node, Secret, Service, Task};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of stored object; the order is the store's table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Cluster,
    Node,
    Service,
    Task,
    Secret,
    Config,
    Network,
}

impl Kind {
    pub const ALL: [Kind; 7] =
        [Kind::Cluster, Kind::Node, Kind::Service, Kind::Task, Kind::Secret, Kind::Config, Kind::Network];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Cluster => "cluster",
            Kind::Node => "node",
            Kind::Service => "service",
            Kind::Task => "task",
            Kind::Secret => "secret",
            Kind::Config => "config",
            Kind::Network => "network",
        }
    }

    /// Kinds whose `annotations.name` must be unique (swarm refuses duplicates with
    /// "name conflicts with an existing object"). Tasks and nodes are not named by users.
    pub fn unique_names(self) -> bool {
        matches!(self, Kind::Service | Kind::Secret | Kind::Config | Kind::Network | Kind::Cluster)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Any stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "object", rename_all = "lowercase")]
pub enum Object {
    Cluster(Cluster),
    Node(Node),
    Service(Service),
    Task(Task),
    Secret(Secret),
    Config(Config),
    Network(Network),
}

macro_rules! each_object {
    ($self:expr, $o:ident => $e:expr) => {
        match $self {
            Object::Cluster($o) => $e,
            Object::Node($o) => $e,
            Object::Service($o) => $e,
            Object::Task($o) => $e,
            Object::Secret($o) => $e,
            Object::Config($o) => $e,
            Object::Network($o) => $e,
        }
    };
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Cluster(_) => Kind::Cluster,
            Object::Node(_) => Kind::Node,
            Object::Service(_) => Kind::Service,
            Object::Task(_) => Kind::Task,
            Object::Secret(_) => Kind::Secret,
            Object::Config(_) => Kind::Config,
            Object::Network(_) => Kind::Network,
        }
    }

    pub fn id(&self) -> &str {
        each_object!(self, o => &o.id)
    }

    pub fn meta(&self) -> &Meta {
        each_object!(self, o => &o.meta)
    }

    pub fn meta_mut(&mut self) -> &mut Meta {
        each_object!(self, o => &mut o.meta)
    }

    /// The user-facing name, for kinds that have one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Object::Cluster(o) => Some(&o.spec.annotations.name),
            Object::Node(o) => Some(&o.spec.annotations.name),
            Object::Service(o) => Some(&o.spec.annotations.name),
            Object::Task(_) => None,
            Object::Secret(o) => Some(&o.spec.annotations.name),
            Object::Config(o) => Some(&o.spec.annotations.name),
            Object::Network(o) => Some(&o.spec.annotations.name),
        }
    }
}
