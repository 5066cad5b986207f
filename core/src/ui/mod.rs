//! The cluster page's model (pure): what a manager's live page (`shoal daemon --ui-addr`)
//! shows, built from the store as one value the page renders whole.
//!
//! * In: a store (a manager's applied state) and the swarm's recent events.
//! * Out: [`ClusterView`], serialised as JSON and pushed to every open page on each change.
//! * Invariants: the same store and events give the same view, byte for byte (every list
//!   sorted, `BTreeMap` order); the view's size is bounded whatever the store holds (task
//!   cards beyond [`CARDS_MAX`] and pending tasks beyond [`PENDING_MAX`] are counted, not
//!   listed), so a service of a million replicas cannot make a page request unbounded.

mod view;

pub use view::{cluster_view, ClusterView, EventLine, NodeView, ServiceView, TaskCard, CARDS_MAX, EVENTS_SHOWN, PENDING_MAX};
