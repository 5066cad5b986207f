use crate::model::Object;

/// One change made by an applied transaction: what watchers (orchestrators, dispatcher) see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Created(Object),
    Updated { old: Object, new: Object },
    Deleted(Object),
}

impl Event {
    /// The object as it is after the event (the removed object for a delete).
    pub fn object(&self) -> &Object {
        match self {
            Event::Created(o) | Event::Deleted(o) => o,
            Event::Updated { new, .. } => new,
        }
    }
}
