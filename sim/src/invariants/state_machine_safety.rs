//! State-machine safety (Raft §5.4.3): every manager that applied the same index has the same
//! state (compared by the store's state hash). Guards against non-deterministic apply (clock,
//! randomness or map order leaking into the store) and bad snapshot install.

use super::FirstSeen;

#[derive(Default)]
pub struct StateMachineSafety {
    /// index → state hash after applying it
    states: FirstSeen<u64, u64>,
}

impl StateMachineSafety {
    pub fn applied(&mut self, node: &str, index: u64, state_hash: u64) -> Result<(), String> {
        self.states.observe(index, state_hash, node).map_err(|(h, first)| {
            format!("state after index {index} differs: {first} has {h:016x}, {node} has {state_hash:016x}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_state_at_same_index_is_a_violation() {
        let mut s = StateMachineSafety::default();
        s.applied("m1", 9, 1).unwrap();
        s.applied("m2", 9, 1).unwrap();
        assert!(s.applied("m3", 9, 2).unwrap_err().contains("index 9"));
    }
}
