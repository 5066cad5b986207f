//! A [`Plan`] on the wire: the typed protobuf messages of `ControlReply.plan`, both ways
//! (the manager sends one, the CLI and the simulator read it).

use super::{Placement, Plan, PlannedTask, PlannedUpdate};
use crate::proto;

fn task_to(t: PlannedTask) -> proto::PlannedTask {
    proto::PlannedTask { at_ms: t.at_ms, task: t.task, service: t.service, node: t.node, image: t.image, reason: t.reason }
}

fn task_from(t: proto::PlannedTask) -> PlannedTask {
    PlannedTask { at_ms: t.at_ms, task: t.task, service: t.service, node: t.node, image: t.image, reason: t.reason }
}

impl From<Plan> for proto::Plan {
    fn from(p: Plan) -> proto::Plan {
        proto::Plan {
            from_index: p.from_index,
            stopped: p.stopped.into_iter().map(task_to).collect(),
            started: p.started.into_iter().map(task_to).collect(),
            pending: p.pending.into_iter().map(task_to).collect(),
            placement: p.placement.into_iter().map(|x| proto::PlannedPlacement { service: x.service, node: x.node, tasks: x.tasks, node_id: x.node_id }).collect(),
            updates: p.updates.into_iter().map(|u| proto::PlannedUpdate { service: u.service, state: u.state, message: u.message }).collect(),
            duration_ms: p.duration_ms,
            complete: p.complete,
            omitted: p.omitted,
            passes: p.passes,
            stopped_total: p.stopped_total,
            started_total: p.started_total,
        }
    }
}

impl From<proto::Plan> for Plan {
    fn from(p: proto::Plan) -> Plan {
        Plan {
            from_index: p.from_index,
            stopped: p.stopped.into_iter().map(task_from).collect(),
            started: p.started.into_iter().map(task_from).collect(),
            pending: p.pending.into_iter().map(task_from).collect(),
            placement: p.placement.into_iter().map(|x| Placement { service: x.service, node: x.node, tasks: x.tasks, node_id: x.node_id }).collect(),
            updates: p.updates.into_iter().map(|u| PlannedUpdate { service: u.service, state: u.state, message: u.message }).collect(),
            duration_ms: p.duration_ms,
            complete: p.complete,
            omitted: p.omitted,
            passes: p.passes,
            stopped_total: p.stopped_total,
            started_total: p.started_total,
        }
    }
}
