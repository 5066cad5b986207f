use super::{Action, Store};
use crate::model::{Kind, Node, Object, Service, Task};
use std::collections::BTreeMap;

/// Uncommitted changes over a committed [`Store`]: the leader's components read through it and
/// write into it during one pass, so each sees what the earlier ones decided, and the pass ends
/// as one list of store [`Action`]s with at most one action per object.
pub struct Overlay<'a> {
    store: &'a Store,
    /// kind → id → Some(new value) or None (deleted). Two levels, as the store's tables, so a
    /// lookup by `&str` allocates nothing.
    changes: BTreeMap<Kind, BTreeMap<String, Option<Object>>>,
}

impl<'a> Overlay<'a> {
    pub fn new(store: &'a Store) -> Overlay<'a> {
        Overlay { store, changes: BTreeMap::new() }
    }

    /// The committed store under the pass's changes (its indexes, e.g. addresses held).
    pub fn store(&self) -> &'a Store {
        self.store
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<&Object> {
        match self.changes.get(&kind).and_then(|t| t.get(id)) {
            Some(c) => c.as_ref(),
            None => self.store.get(kind, id),
        }
    }

    /// Every object of `kind` as the pass sees it, in id order.
    pub fn list(&self, kind: Kind) -> Vec<&Object> {
        let Some(changed) = self.changes.get(&kind) else {
            return self.store.list(kind).collect();
        };
        // Both are in id order: merged in one walk (a map of every object, rebuilt by each
        // `list` once a pass had written one task, was most of a pass's time).
        let mut out = Vec::with_capacity(self.store.list(kind).size_hint().0 + changed.len());
        let mut committed = self.store.list(kind).peekable();
        let mut changed = changed.iter().peekable();
        loop {
            let take_committed = match (committed.peek(), changed.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(o), Some((id, _))) => match o.id().cmp(id.as_str()) {
                    std::cmp::Ordering::Less => true,
                    std::cmp::Ordering::Equal => {
                        // Replaced or deleted by the pass.
                        committed.next();
                        false
                    }
                    std::cmp::Ordering::Greater => false,
                },
            };
            if take_committed {
                out.extend(committed.next());
            } else if let Some((_, Some(o))) = changed.next() {
                out.push(o);
            }
        }
        out
    }

    pub fn tasks(&self) -> Vec<&Task> {
        self.list(Kind::Task).into_iter().filter_map(|o| if let Object::Task(t) = o { Some(t) } else { None }).collect()
    }

    pub fn nodes(&self) -> Vec<&Node> {
        self.list(Kind::Node).into_iter().filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None }).collect()
    }

    pub fn services(&self) -> Vec<&Service> {
        self.list(Kind::Service).into_iter().filter_map(|o| if let Object::Service(s) = o { Some(s) } else { None }).collect()
    }

    pub fn task(&self, id: &str) -> Option<&Task> {
        match self.get(Kind::Task, id) {
            Some(Object::Task(t)) => Some(t),
            _ => None,
        }
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        match self.get(Kind::Node, id) {
            Some(Object::Node(n)) => Some(n),
            _ => None,
        }
    }

    /// Creates or replaces an object.
    pub fn put(&mut self, o: Object) {
        self.changes.entry(o.kind()).or_default().insert(o.id().to_string(), Some(o));
    }

    pub fn delete(&mut self, kind: Kind, id: &str) {
        self.changes.entry(kind).or_default().insert(id.to_string(), None);
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The pass as store actions: creates for new objects, version-checked updates and deletes
    /// for committed ones (a concurrent write makes the transaction fail, and the next pass
    /// starts from the newer state).
    pub fn into_actions(self) -> Vec<Action> {
        let mut out = Vec::with_capacity(self.changes.values().map(BTreeMap::len).sum());
        for (kind, id, c) in self.changes.into_iter().flat_map(|(k, t)| t.into_iter().map(move |(id, c)| (k, id, c))) {
            let committed = self.store.get(kind, &id).map(|o| o.meta().version);
            match (c, committed) {
                (Some(o), None) => out.push(Action::Create(o)),
                (Some(o), Some(v)) => {
                    if self.store.get(kind, &id) != Some(&o) {
                        out.push(Action::Update { object: o, expected_version: v });
                    }
                }
                (None, Some(v)) => out.push(Action::Delete { kind, id, expected_version: Some(v) }),
                (None, None) => {}
            }
        }
        out
    }
}
