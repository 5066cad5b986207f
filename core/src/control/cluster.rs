//! The Cluster object's rules (pure): `swarm update`'s settings (task history, the replicas
//! limit, the dispatcher's heartbeat, the certificates' expiry, autolock and its key) and
//! join token rotation. Input: the committed store; output: the update to propose, or a
//! [`ControlError`] that names the setting that is wrong, with nothing proposed.
//!
//! Invariant kept: autolock is on exactly when the Cluster holds an unlock key.

use super::{check_replicas_limit, services, ControlError, ControlError::*};
use crate::ca;
use crate::model::{Cluster, ClusterSpec, Kind, NodeRole, Object, Service};
use crate::store::{Action, Store};
use rand_chacha::ChaCha8Rng;

/// What `swarm update` changes; None leaves a setting as it is. The CLI, the simulator's
/// steps and the Engine API build it; the control op carries it (`cli::update_cluster_op`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterUpdate {
    pub task_history_limit: Option<u32>,
    pub max_service_replicas: Option<u64>,
    /// `--autolock=true|false`.
    pub autolock: Option<bool>,
    /// `unlock-key --rotate`.
    pub rotate_unlock_key: bool,
    /// The caller's fresh key, used when autolock turns on or the key rotates.
    pub new_unlock_key: Option<crate::ca::unlock_key::UnlockKey>,
    /// `--dispatcher-heartbeat`.
    pub dispatcher_heartbeat_ms: Option<u64>,
    /// `--cert-expiry`.
    pub cert_expiry_secs: Option<u64>,
    /// `swarm ca --rotate`.
    pub rotate_ca: bool,
    /// The new root the leader made for `rotate_ca` (None where no manager makes
    /// certificates: the simulator).
    pub new_root: Option<crate::ca::rotation::NewRoot>,
}

/// swarmkit's floor for `--cert-expiry`: a node renews at 50-80% of its certificate's life,
/// so a shorter one would have the swarm renewing constantly.
pub const MIN_CERT_EXPIRY_SECS: u64 = 3600;

impl ClusterUpdate {
    pub fn is_empty(&self) -> bool {
        *self == ClusterUpdate::default()
    }
}

/// The settings `swarm init` and `swarm update` share, checked then written into `spec`
/// alike: a heartbeat period of 1 s to a day, a certificate life of at least an hour. On Err
/// `spec` is unchanged.
pub fn apply_cluster_settings(spec: &mut ClusterSpec, heartbeat_ms: Option<u64>, cert_expiry_secs: Option<u64>) -> Result<(), ControlError> {
    if let Some(ms) = heartbeat_ms.filter(|ms| !(1_000..=86_400_000).contains(ms)) {
        return Err(InvalidArgument(format!("--dispatcher-heartbeat {ms}ms: give a period between 1s and 24h")));
    }
    if let Some(s) = cert_expiry_secs.filter(|s| *s < MIN_CERT_EXPIRY_SECS) {
        return Err(InvalidArgument(format!("--cert-expiry {s}s: the minimum certificate expiry time is 1h0m0s")));
    }
    if let Some(ms) = heartbeat_ms {
        spec.dispatcher.heartbeat_period_ms = ms;
    }
    if let Some(s) = cert_expiry_secs {
        spec.ca_config.node_cert_expiry_secs = s;
    }
    Ok(())
}

/// `swarm update`: the cluster's settings. Lowering the replicas limit below a service's
/// replicas is refused (naming the service), so every stored spec stays within the limit.
pub fn update_cluster(store: &Store, u: &ClusterUpdate) -> Result<Vec<Action>, ControlError> {
    let cur = cluster(store)?;
    let mut c = cur.clone();
    if let Some(n) = u.task_history_limit {
        c.spec.orchestration.task_history_retention_limit = n;
    }
    if let Some(n) = u.max_service_replicas {
        if n == 0 {
            return Err(InvalidArgument("--max-service-replicas 0 would refuse every replicated service: give at least 1".into()));
        }
        // A previous spec counts too: a rollback (asked or automatic) brings it back.
        let above = |s: &&Service| check_replicas_limit(&s.spec, n).is_err() || s.previous_spec.as_ref().is_some_and(|p| check_replicas_limit(p, n).is_err());
        if let Some(s) = services(store).find(above) {
            return Err(FailedPrecondition(format!(
                "service {} asks for more than {n} replicas: scale it down before lowering --max-service-replicas",
                s.spec.annotations.name
            )));
        }
        c.spec.orchestration.max_service_replicas = n;
    }
    apply_cluster_settings(&mut c.spec, u.dispatcher_heartbeat_ms, u.cert_expiry_secs)?;
    apply_autolock(&mut c, u)?;
    if u.rotate_ca {
        let Some(new) = &u.new_root else {
            return Err(FailedPrecondition(ca::rotation::RotationError::NoCertificates.to_string()));
        };
        c.root_ca = ca::rotation::start(&c.root_ca, new.clone()).map_err(|e| match e {
            ca::rotation::RotationError::NoCertificates => FailedPrecondition(e.to_string()),
            // Retried by the control service with a new root made from the current one.
            ca::rotation::RotationError::RootChanged => OutOfSequence(e.to_string()),
            _ => InvalidArgument(e.to_string()),
        })?;
        c.spec.ca_config.force_rotate += 1;
    }
    if c == *cur {
        return Ok(vec![]);
    }
    Ok(vec![Action::Update { object: Object::Cluster(c), expected_version: cur.meta.version }])
}

/// Autolock's part of `swarm update` (swarm's rules): turning it on sets a new unlock key,
/// turning it off clears the key, rotating needs it on. Invariant kept: autolock is on exactly
/// when the Cluster holds a key.
fn apply_autolock(c: &mut Cluster, u: &ClusterUpdate) -> Result<(), ControlError> {
    let was_on = c.spec.encryption.auto_lock_managers;
    let on = u.autolock.unwrap_or(was_on);
    if u.rotate_unlock_key && !on {
        return Err(FailedPrecondition("cannot rotate because autolock is not turned on: run `swarm update --autolock=true` first".into()));
    }
    let fresh = || {
        u.new_unlock_key.as_ref().map(ToString::to_string).ok_or_else(|| {
            InvalidArgument("a new unlock key is needed to turn autolock on or rotate it (the client draws it)".into())
        })
    };
    c.spec.encryption.auto_lock_managers = on;
    c.unlock_key = match (on, was_on && !c.unlock_key.is_empty(), u.rotate_unlock_key) {
        (false, _, _) => Default::default(),
        (true, false, _) | (true, true, true) => crate::model::UnlockKeyText(fresh()?),
        (true, true, false) => c.unlock_key.clone(),
    };
    debug_assert_eq!(c.spec.encryption.auto_lock_managers, !c.unlock_key.is_empty());
    Ok(())
}

/// The Cluster object (settings, root CA, tokens), once the first leader wrote it.
pub fn cluster(store: &Store) -> Result<&Cluster, ControlError> {
    match store.get(Kind::Cluster, crate::leader::CLUSTER_ID) {
        Some(Object::Cluster(c)) => Ok(c),
        _ => Err(FailedPrecondition("the swarm is still initialising (no cluster object yet): retry in a moment".into())),
    }
}

/// `swarm join-token --rotate ROLE`: a new token for the role; the old one stops working for
/// new joins, nodes that joined with it stay.
pub fn rotate_join_token(store: &Store, role: NodeRole, rng: &mut ChaCha8Rng) -> Result<Vec<Action>, ControlError> {
    let cur = cluster(store)?;
    let mut c = cur.clone();
    c.root_ca = ca::rotate(&cur.root_ca, role, rng);
    // During a root rotation the tokens the swarm moves to when it ends rotate too.
    if let Some(r) = c.root_ca.rotation.as_mut() {
        let pending = crate::model::RootCa { join_token_worker: r.join_token_worker.clone(), join_token_manager: r.join_token_manager.clone(), ..Default::default() };
        let next = ca::rotate(&pending, role, rng);
        (r.join_token_worker, r.join_token_manager) = (next.join_token_worker, next.join_token_manager);
    }
    Ok(vec![Action::Update { object: Object::Cluster(c), expected_version: cur.meta.version }])
}
