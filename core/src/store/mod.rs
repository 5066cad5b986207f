//! The replicated store: versioned objects, transactions, watch events, snapshots.
//!
//! Owns: every [`Object`] of the cluster, keyed by kind and id. Input: [`Transaction`]s taken
//! from committed raft entries, with the entry's index. Output: the [`Event`]s each applied
//! transaction caused (the watch stream) or a [`StoreError`] that changed nothing.
//!
//! Invariants: `apply` is a pure function of (state, index, transaction) — ids and timestamps
//! come inside the transaction; a failed transaction leaves the store byte-identical; iteration
//! order is key order (`BTreeMap`), so snapshots and hashes are deterministic; the state hash is
//! kept incrementally (a sum of per-object hashes) so it costs O(1) per change.

mod event;
mod id_index;
mod overlay;
mod transaction;

pub use event::Event;
pub use id_index::IdIndex;
pub use overlay::Overlay;
pub use transaction::{batches, encoded_len, Action, StoreError, Transaction, MAX_CHANGES_PER_TRANSACTION, MAX_TRANSACTION_BYTES};

use crate::model::{Kind, Object};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use xxhash_rust::xxh3::xxh3_64;

/// The store's tables. Cloning is a full copy (used for snapshots and tests only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Store {
    /// Objects by kind, then id. Two levels so a lookup by `&str` needs no key allocation
    /// (a `(Kind, String)` key cost a String per `get`, the leader pass's hottest path); an
    /// emptied table is removed, so equal contents compare equal.
    objects: BTreeMap<Kind, BTreeMap<String, Object>>,
    /// Sum (wrapping) of `object_hash` over all objects.
    objects_hash: u64,
    /// Raft index of the last transaction applied (successful or not).
    last_index: u64,
    /// Index (kind, name) → id for kinds with unique names; derived from `objects`, so it is
    /// neither hashed nor snapshotted.
    names: BTreeMap<(Kind, String), String>,
    /// Index (node id, task id) of assigned tasks; derived like `names`. The dispatcher reads a
    /// node's tasks through it in O(its tasks) instead of scanning every task.
    by_node: std::collections::BTreeSet<(String, String)>,
    /// Index (network id, address, holder id) of the addresses held on each network: every
    /// service's virtual IPs and every unfinished task's addresses (a finished task's address
    /// is free again). Derived like `names`; the allocator reads it instead of scanning tasks.
    addresses: std::collections::BTreeSet<(String, u32, String)>,
}

/// The serialised form of a snapshot: objects in key order.
#[derive(Serialize, Deserialize)]
struct SnapshotData {
    last_index: u64,
    objects: Vec<Object>,
}

/// Digest of one object. postcard's encoding of our types is deterministic (fields in
/// declaration order, maps are BTreeMaps) and far cheaper than JSON on the apply path.
fn object_hash(o: &Object) -> u64 {
    xxh3_64(&postcard::to_allocvec(o).expect("model objects always serialise"))
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<&Object> {
        self.objects.get(&kind)?.get(id)
    }

    /// All objects of one kind in id order.
    pub fn list(&self, kind: Kind) -> impl Iterator<Item = &Object> + Clone {
        self.objects.get(&kind).into_iter().flat_map(|t| t.values())
    }

    /// Every service in id order.
    pub fn list_services(&self) -> impl Iterator<Item = &crate::model::Service> + Clone {
        self.list(Kind::Service).filter_map(|o| if let Object::Service(s) = o { Some(s) } else { None })
    }

    /// Every object, by kind then id.
    pub fn all(&self) -> impl Iterator<Item = &Object> {
        self.objects.values().flat_map(|t| t.values())
    }

    pub fn find_by_name(&self, kind: Kind, name: &str) -> Option<&Object> {
        if kind.unique_names() {
            let id = self.names.get(&(kind, name.to_string()))?;
            return self.get(kind, id);
        }
        self.list(kind).find(|o| o.name() == Some(name))
    }

    pub fn len(&self) -> usize {
        self.objects.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// A 64-bit digest of the whole content. Equal stores have equal hashes; the index of the
    /// last applied entry is not part of it (compare hashes at equal indexes).
    pub fn state_hash(&self) -> u64 {
        self.objects_hash
    }

    /// Applies one transaction atomically at raft index `index`.
    ///
    /// Either every action succeeds and the events are returned, or the store is left as it
    /// was (apart from `last_index`, which records that the entry was consumed).
    pub fn apply(&mut self, index: u64, txn: &Transaction) -> Result<Vec<Event>, StoreError> {
        debug_assert!(index > self.last_index || self.last_index == 0, "indexes only rise");
        self.last_index = index;
        txn.validate()?;
        // Validate every action against the state as the earlier actions leave it, without
        // touching the tables: a view of pending writes over the committed tables.
        let mut pending: BTreeMap<(Kind, String), Option<Object>> = BTreeMap::new();
        let mut events = Vec::with_capacity(txn.actions.len());
        for (i, action) in txn.actions.iter().enumerate() {
            let key = action.key();
            let current = match pending.get(&key) {
                Some(p) => p.as_ref(),
                None => self.get(key.0, &key.1),
            };
            let fail = |reason: String| StoreError::Rejected { action: i, reason };
            match action {
                Action::Create(o) => {
                    if current.is_some() {
                        return Err(fail(format!("{} {} already exists", o.kind(), o.id())));
                    }
                    if let Some(name) = o.name().filter(|_| o.kind().unique_names()) {
                        if self.name_taken(&pending, o.kind(), name, o.id()) {
                            return Err(fail(format!(
                                "{} name {:?} conflicts with an existing object",
                                o.kind(),
                                name
                            )));
                        }
                    }
                    let mut o = o.clone();
                    *o.meta_mut() = crate::model::Meta {
                        version: index,
                        created_at_ms: txn.timestamp_ms,
                        updated_at_ms: txn.timestamp_ms,
                    };
                    events.push(Event::Created(o.clone()));
                    pending.insert(key, Some(o));
                }
                Action::Update { object, expected_version } => {
                    let Some(cur) = current else {
                        return Err(fail(format!("{} {} does not exist", object.kind(), object.id())));
                    };
                    if cur.meta().version != *expected_version {
                        return Err(fail(format!(
                            "{} {} has version {}, not {} (update out of sequence: re-read and retry)",
                            object.kind(),
                            object.id(),
                            cur.meta().version,
                            expected_version
                        )));
                    }
                    if let Some(name) = object.name().filter(|_| object.kind().unique_names()) {
                        if self.name_taken(&pending, object.kind(), name, object.id()) {
                            return Err(fail(format!(
                                "{} name {:?} conflicts with an existing object",
                                object.kind(),
                                name
                            )));
                        }
                    }
                    let mut o = object.clone();
                    *o.meta_mut() = crate::model::Meta {
                        version: index,
                        created_at_ms: cur.meta().created_at_ms,
                        updated_at_ms: txn.timestamp_ms,
                    };
                    events.push(Event::Updated { old: cur.clone(), new: o.clone() });
                    pending.insert(key, Some(o));
                }
                Action::Delete { kind, id, expected_version } => {
                    let Some(cur) = current else {
                        return Err(fail(format!("{kind} {id} does not exist")));
                    };
                    if let Some(v) = expected_version {
                        if cur.meta().version != *v {
                            return Err(fail(format!(
                                "{kind} {id} has version {}, not {v} (re-read and retry)",
                                cur.meta().version
                            )));
                        }
                    }
                    events.push(Event::Deleted(cur.clone()));
                    pending.insert(key, None);
                }
            }
        }
        // Commit: every action validated.
        for ((kind, id), value) in pending {
            if let Some(old) = self.objects.get_mut(&kind).and_then(|t| t.remove(&id)) {
                self.objects_hash = self.objects_hash.wrapping_sub(object_hash(&old));
                self.unindex_name(&old);
            }
            match value {
                Some(new) => {
                    self.objects_hash = self.objects_hash.wrapping_add(object_hash(&new));
                    self.index_name(&new);
                    self.objects.entry(kind).or_default().insert(id, new);
                }
                None => {
                    if self.objects.get(&kind).is_some_and(BTreeMap::is_empty) {
                        self.objects.remove(&kind);
                    }
                }
            }
        }
        // O(n) per apply: checked in unit tests only, where stores are small.
        #[cfg(test)]
        assert_eq!(self.objects_hash, self.recompute_hash(), "incremental hash drifted");
        Ok(events)
    }

    fn name_taken(
        &self,
        pending: &BTreeMap<(Kind, String), Option<Object>>,
        kind: Kind,
        name: &str,
        except_id: &str,
    ) -> bool {
        let committed = self.names.get(&(kind, name.to_string())).is_some_and(|holder| {
            holder != except_id
                && match pending.get(&(kind, holder.clone())) {
                    None => true,
                    // Deleted or renamed earlier in this transaction: the name is free.
                    Some(p) => p.as_ref().and_then(|o| o.name()) == Some(name),
                }
        });
        let in_txn = pending
            .iter()
            .any(|((k, id), v)| *k == kind && id != except_id && v.as_ref().and_then(|o| o.name()) == Some(name));
        committed || in_txn
    }

    /// The tasks assigned to `node_id`, in task id order.
    pub fn tasks_on_node<'a>(&'a self, node_id: &str) -> impl Iterator<Item = &'a crate::model::Task> + 'a {
        let start = (node_id.to_string(), String::new());
        let node = node_id.to_string();
        self.by_node.range(start..).take_while(move |(n, _)| *n == node).filter_map(move |(_, id)| {
            match self.get(Kind::Task, id) {
                Some(Object::Task(t)) => Some(t),
                _ => None,
            }
        })
    }

    /// The addresses held on network `network_id` and their holders (a service or task id), in
    /// address order.
    pub fn addresses_on<'a>(&'a self, network_id: &str) -> impl Iterator<Item = (u32, &'a str)> + 'a {
        let net = network_id.to_string();
        self.addresses
            .range((net.clone(), 0, String::new())..)
            .take_while(move |(n, _, _)| *n == net)
            .map(|(_, ip, holder)| (*ip, holder.as_str()))
    }

    /// The (network id, address) pairs `o` holds.
    fn held_addresses(o: &Object) -> Vec<(String, u32)> {
        match o {
            Object::Service(s) => s.virtual_ips.iter().filter_map(|v| Some((v.network_id.clone(), crate::model::parse_ip(&v.addr)?))).collect(),
            Object::Task(t) if !t.is_terminal() => t
                .networks
                .iter()
                .flat_map(|a| a.addresses.iter().filter_map(|x| Some((a.network_id.clone(), crate::model::parse_ip(x)?))))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn index_name(&mut self, o: &Object) {
        if let Object::Task(t) = o {
            if !t.node_id.is_empty() {
                self.by_node.insert((t.node_id.clone(), t.id.clone()));
            }
        }
        for (net, ip) in Self::held_addresses(o) {
            self.addresses.insert((net, ip, o.id().to_string()));
        }
        if let Some(n) = o.name().filter(|_| o.kind().unique_names()) {
            self.names.insert((o.kind(), n.to_string()), o.id().to_string());
        }
    }

    fn unindex_name(&mut self, o: &Object) {
        if let Object::Task(t) = o {
            self.by_node.remove(&(t.node_id.clone(), t.id.clone()));
        }
        for (net, ip) in Self::held_addresses(o) {
            self.addresses.remove(&(net, ip, o.id().to_string()));
        }
        if let Some(n) = o.name().filter(|_| o.kind().unique_names()) {
            if self.names.get(&(o.kind(), n.to_string())).is_some_and(|id| id == o.id()) {
                self.names.remove(&(o.kind(), n.to_string()));
            }
        }
    }

    #[cfg(test)]
    fn recompute_hash(&self) -> u64 {
        self.all().fold(0u64, |h, o| h.wrapping_add(object_hash(o)))
    }

    /// Serialises the whole store deterministically.
    pub fn snapshot(&self) -> Vec<u8> {
        let data = SnapshotData { last_index: self.last_index, objects: self.all().cloned().collect() };
        serde_json::to_vec(&data).expect("model objects always serialise")
    }

    /// Rebuilds a store from [`Store::snapshot`] output.
    pub fn restore(bytes: &[u8]) -> Result<Store, StoreError> {
        let data: SnapshotData =
            serde_json::from_slice(bytes).map_err(|e| StoreError::CorruptSnapshot(e.to_string()))?;
        Self::from_objects(data.last_index, data.objects)
    }

    /// A store holding exactly `objects` as they are (versions kept), e.g. the tables another
    /// manager sent for a read. Refuses two objects with one key.
    pub fn from_objects(last_index: u64, objects: Vec<Object>) -> Result<Store, StoreError> {
        let mut store = Store { last_index, ..Default::default() };
        for o in objects {
            store.objects_hash = store.objects_hash.wrapping_add(object_hash(&o));
            store.index_name(&o);
            if store.objects.entry(o.kind()).or_default().insert(o.id().to_string(), o).is_some() {
                return Err(StoreError::CorruptSnapshot("duplicate object in snapshot".into()));
            }
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests;
