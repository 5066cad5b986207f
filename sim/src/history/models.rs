//! Sequential specifications for [`super::check`]: a register with compare-and-set (Jepsen's
//! etcd histories), and a key-value store with get, put and append (partitioned by key).

use super::Model;

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
}
