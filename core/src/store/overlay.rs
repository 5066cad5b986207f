use super::{Action, Store};
use crate::model::{Kind, Node, Object, Service, Task};
use std::collections::BTreeMap;

/// Uncommitted changes over a committed [`Store`]: the leader's components read through it and
/// write into it during one pass, so each sees what the earlier ones decided, and the pass ends
/// as one list of store [`Action`]s with at most one action per object.
pub struct Overlay<'a> {
    store: &'a Store,
    /// key → Some(new value) or None (deleted).
    changes: BTreeMap<(Kind, String), Option<Object>>,
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
        match self.changes.get(&(kind, id.to_string())) {
            Some(c) => c.as_ref(),
            None => self.store.get(kind, id),
        }
    }

    /// Every object of `kind` as the pass sees it, in id order.
    pub fn list(&self, kind: Kind) -> Vec<&Object> {
        let touched = self.changes.range((kind, String::new())..).next().is_some_and(|((k, _), _)| *k == kind);
        if !touched {
            return self.store.list(kind).collect();
        }
        let mut out: BTreeMap<&str, &Object> = self.store.list(kind).map(|o| (o.id(), o)).collect();
        for ((k, id), c) in self.changes.range((kind, String::new())..) {
            if *k != kind {
                break;
            }
            match c {
                Some(o) => out.insert(id.as_str(), o),
                None => out.remove(id.as_str()),
            };
        }
        out.into_values().collect()
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
        self.changes.insert((o.kind(), o.id().to_string()), Some(o));
    }

    pub fn delete(&mut self, kind: Kind, id: &str) {
        self.changes.insert((kind, id.to_string()), None);
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The pass as store actions: creates for new objects, version-checked updates and deletes
    /// for committed ones (a concurrent write makes the transaction fail, and the next pass
    /// starts from the newer state).
    pub fn into_actions(self) -> Vec<Action> {
        let mut out = Vec::with_capacity(self.changes.len());
        for ((kind, id), c) in self.changes {
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
