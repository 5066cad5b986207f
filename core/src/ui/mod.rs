//! The cluster page's model (pure): what a manager's live page (`shoal daemon --ui-addr`)
//! shows, built from the store as one value the page renders whole.
//!
//! * In: a store (a manager's applied state) and the swarm's recent events.
//! * Out: [`ClusterView`], serialised as JSON and pushed to every open page on each change.
//! * Invariants: the same store and events give the same view, byte for byte (every list
//!   sorted, `BTreeMap` order); tasks, whatever their number, add at most [`CARDS_MAX`]
//!   cards and [`PENDING_MAX`] pending entries (the rest are counted, not listed), so a service
//!   of a million replicas makes a view of bounded size. Nodes and services are listed whole
//!   (the cluster's own limits bound them); a task on a node the store no longer has is
//!   counted in `cards_hidden`.

mod view;

pub use view::{cluster_view, ClusterView, EventLine, NodeView, ServiceView, TaskCard, CARDS_MAX, EVENTS_SHOWN, PENDING_MAX};
