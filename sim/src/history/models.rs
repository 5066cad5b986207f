//! Sequential specifications for [`super::check`]: a register with compare-and-set (Jepsen's
//! etcd histories), and a key-value store with get, put and append (partitioned by key).

use super::{Model, Operation};

/// A register holding an integer or nothing (nil), with read, write and compare-and-set.
pub struct Register;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterInput {
    Read,
    Write(i64),
    Cas { from: i64, to: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutput {
    /// A read's value (None: nil).
    Value(Option<i64>),
    /// A write's acknowledgement.
    Ok,
    /// Whether a compare-and-set found `from` (and so wrote `to`).
    Cas(bool),
}

impl Model for Register {
    type State = Option<i64>;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> Option<i64> {
        None
    }

    fn step(&self, state: &Option<i64>, input: &RegisterInput, output: Option<&RegisterOutput>) -> Option<Option<i64>> {
        match (input, output) {
            (RegisterInput::Read, None) => Some(*state),
            (RegisterInput::Read, Some(RegisterOutput::Value(v))) => (v == state).then_some(*state),
            (RegisterInput::Write(v), None | Some(RegisterOutput::Ok)) => Some(Some(*v)),
            (RegisterInput::Cas { from, to }, out) => {
                let hit = *state == Some(*from);
                match out {
                    None => Some(if hit { Some(*to) } else { *state }),
                    Some(RegisterOutput::Cas(ok)) if *ok == hit => Some(if hit { Some(*to) } else { *state }),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn read_only(&self, input: &RegisterInput) -> bool {
        matches!(input, RegisterInput::Read)
    }
}

/// A key-value store of strings: get (a missing key reads ""), put, append.
pub struct Kv;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvInput {
    Get(String),
    Put(String, String),
    Append(String, String),
}

impl Model for Kv {
    /// The value of the one key of the part being checked.
    type State = String;
    type Input = KvInput;
    /// A get's value (puts and appends return nothing to compare).
    type Output = Option<String>;

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, input: &KvInput, output: Option<&Option<String>>) -> Option<String> {
        match input {
            KvInput::Get(_) => match output {
                Some(Some(v)) if v != state => None,
                _ => Some(state.clone()),
            },
            KvInput::Put(_, v) => Some(v.clone()),
            KvInput::Append(_, v) => Some(format!("{state}{v}")),
        }
    }

    fn partition(&self, input: &KvInput) -> String {
        match input {
            KvInput::Get(k) | KvInput::Put(k, _) | KvInput::Append(k, _) => k.clone(),
        }
    }

    fn read_only(&self, input: &KvInput) -> bool {
        matches!(input, KvInput::Get(_))
    }
}

/// Named objects of the control API (services by name): create, update, get, remove, each
/// with the outcome the API reports (swarm's: AlreadyExists, NotFound). The state of one name
/// is its value (a service's image) or nothing. Partitioned by name.
pub struct Objects;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectInput {
    Create(String, String),
    Update(String, String),
    Get(String),
    Remove(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOutput {
    /// A write took effect.
    Ok,
    /// A get's answer (None: not found).
    Value(Option<String>),
    /// A create found the name taken.
    Exists,
    /// An update or remove found no such object.
    NotFound,
}

impl Model for Objects {
    type State = Option<String>;
    type Input = ObjectInput;
    type Output = ObjectOutput;

    fn init(&self) -> Option<String> {
        None
    }

    fn step(&self, state: &Option<String>, input: &ObjectInput, output: Option<&ObjectOutput>) -> Option<Option<String>> {
        use ObjectOutput as O;
        match (input, output) {
            (ObjectInput::Get(_), None) => Some(state.clone()),
            (ObjectInput::Get(_), Some(O::Value(v))) => (v == state).then(|| state.clone()),
            // An unknown outcome did whatever the state allowed.
            (ObjectInput::Create(_, v), None) => Some(state.clone().or_else(|| Some(v.clone()))),
            (ObjectInput::Create(_, v), Some(O::Ok)) => state.is_none().then(|| Some(v.clone())),
            (ObjectInput::Create(..), Some(O::Exists)) => state.is_some().then(|| state.clone()),
            (ObjectInput::Update(_, v), None) => Some(state.as_ref().map(|_| v.clone())),
            (ObjectInput::Update(_, v), Some(O::Ok)) => state.is_some().then(|| Some(v.clone())),
            (ObjectInput::Remove(_), None) => Some(None),
            (ObjectInput::Remove(_), Some(O::Ok)) => state.is_some().then_some(None),
            (ObjectInput::Update(..) | ObjectInput::Remove(_), Some(O::NotFound)) => state.is_none().then_some(None),
            _ => None,
        }
    }

    fn partition(&self, input: &ObjectInput) -> String {
        match input {
            ObjectInput::Create(k, _) | ObjectInput::Update(k, _) | ObjectInput::Get(k) | ObjectInput::Remove(k) => k.clone(),
        }
    }

    fn read_only(&self, input: &ObjectInput) -> bool {
        matches!(input, ObjectInput::Get(_))
    }

    /// An update changes a value, never whether the object exists; if no get returned its
    /// value, taking it out of any linearization changes no other outcome (unknown updates
    /// pile up under faults, and each doubled the search: explorer seed 969).
    fn unknown_is_invisible(&self, op: &Operation<ObjectInput, ObjectOutput>, part: &[&Operation<ObjectInput, ObjectOutput>]) -> bool {
        let ObjectInput::Update(_, v) = &op.input else { return false };
        !part.iter().any(|o| matches!(&o.output, Some(ObjectOutput::Value(Some(r))) if r == v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{check, Operation, Verdict};

    fn op(client: u64, input: ObjectInput, output: Option<ObjectOutput>, call: u64, ret: Option<u64>) -> Operation<ObjectInput, ObjectOutput> {
        Operation { client, input, output, call, ret, line: 0 }
    }

    // A read after an acknowledged update must see it (linearizability: real-time order).
    #[test]
    fn objects_model_accepts_real_orders_and_refuses_a_stale_read() {
        let k = || "s".to_string();
        let ok = vec![
            op(0, ObjectInput::Create(k(), "a".into()), Some(ObjectOutput::Ok), 0, Some(10)),
            op(1, ObjectInput::Create(k(), "b".into()), Some(ObjectOutput::Exists), 5, Some(15)),
            op(0, ObjectInput::Update(k(), "c".into()), None, 20, None),
            op(1, ObjectInput::Get(k()), Some(ObjectOutput::Value(Some("a".into()))), 25, Some(30)),
            op(1, ObjectInput::Get(k()), Some(ObjectOutput::Value(Some("c".into()))), 35, Some(40)),
            op(1, ObjectInput::Remove(k()), Some(ObjectOutput::Ok), 45, Some(50)),
            op(1, ObjectInput::Update(k(), "d".into()), Some(ObjectOutput::NotFound), 55, Some(60)),
        ];
        assert_eq!(check(&Objects, &ok), Verdict::Linearizable);
        let mut stale = ok.clone();
        stale.push(op(0, ObjectInput::Get(k()), Some(ObjectOutput::Value(Some("c".into()))), 70, Some(80)));
        assert!(matches!(check(&Objects, &stale), Verdict::NotLinearizable(_)), "a read of a removed object accepted");
    }

    // Updates of unknown outcome that no read saw are left out of the search (they can only
    // change a value nobody read): dozens of them stay fast, and a stale read is still caught.
    #[test]
    fn unseen_unknown_updates_neither_slow_nor_hide_a_violation() {
        let k = || "s".to_string();
        let mut h = vec![op(0, ObjectInput::Create(k(), "a".into()), Some(ObjectOutput::Ok), 0, Some(10))];
        for i in 0..60u64 {
            h.push(op(10 + i, ObjectInput::Update(k(), format!("u{i}")), None, 20 + i, None));
        }
        h.push(op(1, ObjectInput::Update(k(), "b".into()), Some(ObjectOutput::Ok), 100, Some(110)));
        h.push(op(1, ObjectInput::Get(k()), Some(ObjectOutput::Value(Some("u7".into()))), 120, Some(130)));
        assert_eq!(check(&Objects, &h), Verdict::Linearizable, "u7 may land after b");
        h.push(op(1, ObjectInput::Remove(k()), Some(ObjectOutput::Ok), 140, Some(150)));
        h.push(op(1, ObjectInput::Get(k()), Some(ObjectOutput::Value(Some("b".into()))), 160, Some(170)));
        assert!(matches!(check(&Objects, &h), Verdict::NotLinearizable(_)), "a read after a remove accepted");
    }
}
