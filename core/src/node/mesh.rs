//! The routing mesh as a client sees it (swarm's ingress): a service that publishes a port is
//! reachable on that port on every node, and the node a request enters forwards it to a task
//! of the service on any node.
//!
//! This trait is the one shape both worlds give it. The simulator implements it with a model
//! (`sim/src/mesh.rs`: per-node backend tables fed by gossip with delays, failure detection,
//! round robin); the Docker runtime will implement it with real requests to real published
//! ports. The agent side of the mesh is the executor's: it binds a task into the mesh once its
//! container runs (and is healthy) and takes it out before it stops it.

/// Why a request through the mesh failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequestFailure {
    /// The node the request entered is down or frozen (connection refused / timed out).
    EntryDown,
    /// No service publishes the port on that node (connection refused).
    NotPublished,
    /// The entry node knows no task to send it to.
    NoBackend,
    /// The task the entry node chose did not answer: its container stopped, its machine is
    /// down, or the network between the two nodes is cut.
    BackendDown,
    /// A task of another service answered (the port maps to the wrong service).
    WrongService,
}

impl RequestFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestFailure::EntryDown => "entry-down",
            RequestFailure::NotPublished => "not-published",
            RequestFailure::NoBackend => "no-backend",
            RequestFailure::BackendDown => "backend-down",
            RequestFailure::WrongService => "wrong-service",
        }
    }
}

/// One request to a published port on one node.
#[tonic::async_trait]
pub trait RoutingMesh: Send + Sync + 'static {
    /// Sends one request to `port` on the node named `entry`, for service `service`; Ok is the
    /// id of the task that answered.
    async fn request(&self, entry: &str, port: u32, service: &str) -> Result<String, RequestFailure>;
}

/// Where the agent hands the routing-mesh table each time it changes (the production
/// runtime's proxy binds the published ports and forwards to the backends listed).
pub trait IngressSink: Send + Sync + 'static {
    fn set(&self, table: crate::dispatcher::IngressTable);
}

/// Where the agent hands its part of the overlay networks' table each time it changes (the
/// production runtime programs VXLAN devices and answers DNS from it).
pub trait NetworkSink: Send + Sync + 'static {
    fn set(&self, table: crate::dispatcher::NetworkTable);
}
