//! How fast names follow tasks, measured over a finished run: for every task on an overlay
//! network, the virtual time from its container running until every machine whose table came
//! to list it does ("up"), and from its container stopping until no machine that still hears
//! from the leader lists it ("down"; 0 when its names left before it stopped, as the drain
//! makes them).
//!
//! Inputs: each machine's networks tables as its agent received them, with the time
//! ([`TableLog`], recorded by the simulated agents' sink), and when each container ran and
//! stopped ([`Lifetimes`], recorded by the simulated executors). Output: two lists of
//! milliseconds. Pure: the logs are read, never changed.

use shoal_core::dispatcher::NetworkTable;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// At most this many table receipts are kept per run (the rest are not recorded).
const TABLE_LOG_MAX: usize = 200_000;

/// (virtual ms, machine index, the table it received), in receipt order.
#[derive(Default)]
pub struct TableLog(Mutex<Vec<(u64, usize, Arc<NetworkTable>)>>);

impl TableLog {
    pub fn record(&self, at_ms: u64, node: usize, table: NetworkTable) {
        let mut log = self.0.lock().unwrap();
        if log.len() < TABLE_LOG_MAX {
            log.push((at_ms, node, Arc::new(table)));
        }
    }
}

/// task id → (ms its container started running, ms it stopped running), tasks on networks only.
#[derive(Default)]
pub struct Lifetimes(pub Mutex<BTreeMap<String, (u64, Option<u64>)>>);

impl Lifetimes {
    pub fn running(&self, task: &str, at_ms: u64) {
        self.0.lock().unwrap().entry(task.to_string()).or_insert((at_ms, None));
    }

    pub fn stopped(&self, task: &str, at_ms: u64) {
        if let Some(l) = self.0.lock().unwrap().get_mut(task) {
            l.1.get_or_insert(at_ms);
        }
    }
}

/// Both logs of one run.
#[derive(Default)]
pub struct NameLog {
    pub tables: TableLog,
    pub lifetimes: Lifetimes,
}

/// Milliseconds per task, both ways.
#[derive(Debug, Default, Clone)]
pub struct NameLatencies {
    pub up_ms: Vec<u64>,
    pub down_ms: Vec<u64>,
}

/// Whether `table` answers `task` by any name or VIP on any network.
fn lists(table: &NetworkTable, task: &str) -> bool {
    table.networks.iter().any(|n| {
        let Some(address) = n.endpoints.iter().find(|e| e.task_id == task).map(|e| &e.address) else { return false };
        n.names.iter().any(|d| d.addresses.contains(address)) || n.vips.iter().any(|v| v.backends.contains(address))
    })
}

/// The latencies the logs show.
pub fn latencies(names: &NameLog) -> NameLatencies {
    let (tables, lifetimes) = (&names.tables, &names.lifetimes);
    let log = tables.0.lock().unwrap();
    let mut by_node: BTreeMap<usize, Vec<(u64, &NetworkTable)>> = BTreeMap::new();
    for (at, node, t) in log.iter() {
        by_node.entry(*node).or_default().push((*at, t.as_ref()));
    }
    let mut out = NameLatencies::default();
    for (task, (ran, stopped)) in lifetimes.0.lock().unwrap().iter() {
        // Up: the slowest machine that came to list it.
        let mut up: Option<u64> = None;
        for receipts in by_node.values() {
            // The table in force when the task started running, then every later one.
            let from = receipts.iter().rposition(|(at, _)| at <= ran).unwrap_or(0);
            if let Some((at, _)) = receipts[from..].iter().find(|(_, t)| lists(t, task)) {
                up = Some(up.unwrap_or(0).max(at.saturating_sub(*ran)));
            }
        }
        if let Some(ms) = up {
            out.up_ms.push(ms);
        }
        // Down: the slowest machine that still listed it when it stopped and heard again.
        let Some(stopped) = stopped else { continue };
        let mut down: Option<u64> = None;
        for receipts in by_node.values() {
            let Some(in_force) = receipts.iter().rposition(|(at, _)| at <= stopped) else { continue };
            if !lists(receipts[in_force].1, task) {
                down = Some(down.unwrap_or(0));
                continue;
            }
            if let Some((at, _)) = receipts[in_force + 1..].iter().find(|(_, t)| !lists(t, task)) {
                down = Some(down.unwrap_or(0).max(at - stopped));
            }
        }
        if let Some(ms) = down {
            out.down_ms.push(ms);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_core::dispatcher::{DnsName, NetworkEndpoint, NetworkEntry};

    fn table(listed: bool) -> NetworkTable {
        NetworkTable::new(vec![NetworkEntry {
                endpoints: vec![NetworkEndpoint { task_id: "t1".into(), address: "10.0.1.3".into(), ..Default::default() }],
                names: if listed { vec![DnsName { name: "tasks.api".into(), addresses: vec!["10.0.1.3".into()] }] } else { vec![] },
                ..Default::default()
            }])
    }

    #[test]
    fn up_is_the_slowest_machine_and_down_counts_only_machines_that_listed_it() {
        let names = NameLog::default();
        let (log, life) = (&names.tables, &names.lifetimes);
        life.running("t1", 1_000);
        life.stopped("t1", 5_000);
        log.record(500, 0, table(false));
        log.record(1_100, 0, table(true));
        log.record(1_300, 1, table(true));
        // Machine 0 drops it before the stop (the drain), machine 1 after.
        log.record(4_000, 0, table(false));
        log.record(5_200, 1, table(false));
        let l = latencies(&names);
        assert_eq!(l.up_ms, [300]);
        assert_eq!(l.down_ms, [200]);
    }
}
