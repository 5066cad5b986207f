//! `service update` as a state machine over control requests: the read-modify-write that the
//! `shoal` CLI and the simulator's steps both run, with one rule for what is retried.
//!
//! `--network-rm NAME` is first looked up (a spec names networks by id, so the name's id is
//! removed too); then the service is read, the flags applied, and the update sent with the
//! version read. An update refused because the service changed in between
//! ([`CallFailure::Raced`]) is read and applied again, at most [`MAX_ATTEMPTS`] times; any
//! other error ends it.

use super::{CallError, CallFailure, ServiceUpdate};
use crate::model::Object;
use crate::proto::{self, control_request::Op};

/// Reads and writes before a service that keeps changing is given up on.
pub const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug)]
enum Phase {
    /// Looking up the n-th name of `--network-rm`.
    Network(usize),
    Read,
    Write(Op),
    Done,
}

#[derive(Debug)]
pub struct ServiceUpdater {
    flags: ServiceUpdate,
    names: Vec<String>,
    phase: Phase,
    attempts: u32,
    outcome: Option<Result<(), String>>,
}

impl ServiceUpdater {
    pub fn new(flags: ServiceUpdate) -> ServiceUpdater {
        let names = flags.network_rm.clone();
        let phase = if names.is_empty() { Phase::Read } else { Phase::Network(0) };
        ServiceUpdater { flags, names, phase, attempts: 0, outcome: None }
    }

    /// The request to send now; None once done.
    pub fn poll_request(&self) -> Option<Op> {
        match &self.phase {
            Phase::Network(i) => Some(Op::GetNetwork(proto::ObjectKey { key: self.names[*i].clone() })),
            Phase::Read => Some(Op::GetService(proto::ObjectKey { key: self.flags.service.clone() })),
            Phase::Write(op) => Some(op.clone()),
            Phase::Done => None,
        }
    }

    /// The answer to the request [`ServiceUpdater::poll_request`] gave.
    pub fn handle_reply(&mut self, reply: Result<proto::ControlReply, CallError>) {
        let objects = |r: &proto::ControlReply| serde_json::from_slice::<Vec<Object>>(&r.objects).map_err(|e| format!("unreadable answer: {e}"));
        let reply = reply.map_err(|e| (e.kind, e.message));
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Network(i) => {
                // A name that is no network may be an id already: it is removed as given.
                if let Some(Object::Network(n)) = reply.ok().and_then(|r| objects(&r).ok()).and_then(|o| o.into_iter().next()) {
                    self.flags.network_rm.push(n.id);
                }
                self.phase = if i + 1 < self.names.len() { Phase::Network(i + 1) } else { Phase::Read };
            }
            Phase::Read => {
                self.attempts += 1;
                let cur = match reply.map_err(|(_, m)| m).and_then(|r| objects(&r)) {
                    Err(e) => return self.finish(Err(e)),
                    Ok(o) => o.into_iter().find_map(|o| if let Object::Service(s) = o { Some(s) } else { None }),
                };
                match cur.map(|cur| self.flags.request(&cur)) {
                    None => self.finish(Err(format!("Error: no such service: {}", self.flags.service))),
                    Some(Err(e)) => self.finish(Err(e)),
                    Some(Ok(op)) => self.phase = Phase::Write(op),
                }
            }
            Phase::Write(_) => match reply {
                Ok(_) => self.finish(Ok(())),
                Err((CallFailure::Raced, _)) if self.attempts < MAX_ATTEMPTS => self.phase = Phase::Read,
                Err((CallFailure::Raced, e)) => {
                    self.finish(Err(format!("Error: service {} kept changing under the update ({e}); retry", self.flags.service)))
                }
                Err((_, e)) => self.finish(Err(e)),
            },
            Phase::Done => {}
        }
    }

    fn finish(&mut self, r: Result<(), String>) {
        self.phase = Phase::Done;
        self.outcome = Some(r);
    }

    /// Some once done.
    pub fn outcome(&self) -> Option<&Result<(), String>> {
        self.outcome.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Meta, Network, Service};

    fn reply(o: Vec<Object>) -> Result<proto::ControlReply, CallError> {
        Ok(proto::ControlReply { objects: serde_json::to_vec(&o).unwrap(), ..Default::default() })
    }

    fn svc(version: u64) -> Object {
        let mut s = Service { id: "s1".into(), meta: Meta { version, ..Default::default() }, ..Default::default() };
        s.spec.annotations.name = "web".into();
        s.spec.task.container.image = "app:1".into();
        Object::Service(s)
    }

    // Names in --network-rm are looked up, a raced write is read and applied again with the
    // new version, and a service that keeps changing is given up after MAX_ATTEMPTS.
    #[test]
    fn reads_applies_writes_and_retries_only_a_race() {
        let flags = ServiceUpdate { service: "web".into(), image: Some("app:2".into()), network_rm: vec!["front".into()], ..Default::default() };
        let mut u = ServiceUpdater::new(flags.clone());
        assert!(matches!(u.poll_request(), Some(Op::GetNetwork(k)) if k.key == "front"));
        u.handle_reply(reply(vec![Object::Network(Network { id: "n1".into(), ..Default::default() })]));
        assert!(matches!(u.poll_request(), Some(Op::GetService(_))));
        u.handle_reply(reply(vec![svc(3)]));
        assert!(matches!(u.poll_request(), Some(Op::UpdateService(x)) if x.version == 3));
        u.handle_reply(Err(CallError { kind: CallFailure::Raced, message: "Error response from daemon: update out of sequence".into() }));
        u.handle_reply(reply(vec![svc(4)]));
        assert!(matches!(u.poll_request(), Some(Op::UpdateService(x)) if x.version == 4));
        u.handle_reply(Ok(Default::default()));
        assert_eq!(u.outcome(), Some(&Ok(())));

        let mut u = ServiceUpdater::new(ServiceUpdate { network_rm: vec![], ..flags.clone() });
        for v in 0..MAX_ATTEMPTS as u64 {
            u.handle_reply(reply(vec![svc(v)]));
            u.handle_reply(Err(CallError { kind: CallFailure::Raced, message: "Aborted: update out of sequence".into() }));
        }
        assert!(matches!(u.outcome(), Some(Err(e)) if e.contains("kept changing")));

        let mut u = ServiceUpdater::new(ServiceUpdate { network_rm: vec![], ..flags });
        u.handle_reply(reply(vec![svc(1)]));
        u.handle_reply(Err(CallError::other("InvalidArgument: bad image")));
        assert_eq!(u.outcome(), Some(&Err("InvalidArgument: bad image".to_string())), "other errors are not retried");
    }
}
