//! `swarm join`: a machine asks the managers for a node identity with a join token (and a
//! CSR in production), following redirects to the leader, retrying with a backoff while no
//! leader answers. Output: the node id, its role and its certificate. The agent
//! ([`super::agent`]) runs once the machine joined.

use super::agent::RETRY;
use crate::model::NodeRole;
use crate::proto::node_ca_client::NodeCaClient;
use crate::proto::IssueNodeCertificateRequest;
use std::time::Duration;

/// What a machine learns when it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub node_id: String,
    pub role: NodeRole,
    /// The node's certificate and the root CA (when a CSR was sent; empty otherwise).
    pub certificate_pem: String,
    pub ca_cert_pem: String,
}

/// How long a machine keeps trying to reach a leader that answers its join.
pub const JOIN_DEADLINE: Duration = Duration::from_secs(60);
/// Deadline of one join call (a manager join waits for the raft membership change).
const JOIN_CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// `swarm join --token TOKEN MANAGER`: asks the managers (following redirects to the leader)
/// for a node identity. Retries while no leader answers, for at most [`JOIN_DEADLINE`]; a
/// refused token is final (the error says why).
pub async fn join(managers: &[String], token: &str, addr: &str, raft_id: u64, csr_pem: &str) -> Result<Joined, String> {
    let deadline = tokio::time::Instant::now() + JOIN_DEADLINE;
    let mut target = managers.first().cloned().ok_or("no manager address to join: give one")?;
    let mut next = 0usize;
    let mut last = String::from("no manager answered");
    // Retries back off (250 ms doubling to 4 s, plus a per-machine offset): a thousand machines
    // joining at once retrying every 250 ms kept the managers too busy to elect and answer.
    let offset_ms = xxhash_rust::xxh3::xxh3_64(addr.as_bytes()) % 250;
    let mut backoff = RETRY;
    while tokio::time::Instant::now() < deadline {
        let req = IssueNodeCertificateRequest { token: token.to_string(), addr: addr.to_string(), raft_id, csr_pem: csr_pem.to_string() };
        let call = async {
            let ch = crate::node::raft::network::channel(&target).map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let mut c = NodeCaClient::new(ch);
            match tokio::time::timeout(JOIN_CALL_TIMEOUT, c.issue_node_certificate(req)).await {
                Ok(r) => r.map(|r| r.into_inner()),
                Err(_) => Err(tonic::Status::deadline_exceeded("join call timed out")),
            }
        };
        match call.await {
            Ok(r) if r.redirect && !r.leader_addr.is_empty() => {
                // Straight to the leader.
                target = r.leader_addr;
                continue;
            }
            Ok(r) if r.redirect => last = format!("{target} knows no leader yet"),
            Ok(r) => {
                let role = NodeRole::parse(&r.role).unwrap_or_default();
                return Ok(Joined { node_id: r.node_id, role, certificate_pem: r.certificate_pem, ca_cert_pem: r.ca_cert_pem });
            }
            Err(s) if s.code() == tonic::Code::InvalidArgument => return Err(s.message().to_string()),
            Err(s) => {
                last = format!("{target}: {}", s.message());
                next = (next + 1) % managers.len();
                target = managers[next].clone();
            }
        }
        tokio::time::sleep(backoff + Duration::from_millis(offset_ms)).await;
        backoff = (backoff * 2).min(Duration::from_secs(4));
    }
    Err(format!("could not join within {}s: {last}", JOIN_DEADLINE.as_secs()))
}

/// How long a manager that joined with a CSR (or was promoted) keeps asking for its raft
/// membership.
pub const SELF_JOIN_DEADLINE: Duration = Duration::from_secs(30);

/// A machine that holds a manager's certificate (joined with a manager token and a CSR, or
/// promoted and renewed) asks for its raft membership itself, of the managers in turn (each
/// forwards to the leader), until one grants it or [`SELF_JOIN_DEADLINE`] passed; a refusal
/// (invalid argument) is final. It must already serve raft with that certificate: the leader
/// replicates to it at once.
pub async fn add_self_as_manager(managers: &[String], raft_id: u64, addr: &str) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + SELF_JOIN_DEADLINE;
    let mut last = String::from("no manager known");
    for attempt in 0usize.. {
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        let Some(via) = managers.get(attempt % managers.len().max(1)) else { break };
        let req = crate::proto::MembershipRequest { node_id: raft_id, addr: addr.into(), hops: 0 };
        let call = async {
            let ch = crate::node::raft::network::channel(via).map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            crate::proto::manager_client::ManagerClient::new(ch).add_manager(req).await
        };
        match tokio::time::timeout(JOIN_CALL_TIMEOUT, call).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(s)) if s.code() == tonic::Code::InvalidArgument => return Err(s.message().to_string()),
            Ok(Err(s)) => last = format!("{via}: {}", s.message()),
            Err(_) => last = format!("{via}: no answer"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("joined as a manager but could not become a raft member within {SELF_JOIN_DEADLINE:?}: {last}"))
}
