//! Log matching (Raft §5.3) as observed at apply time: if two nodes apply an entry at the
//! same index, it has the same term and the same content. Guards against: a committed entry
//! overwritten after a leader change, torn or corrupted log records served as valid.

use super::FirstSeen;

#[derive(Default)]
pub struct LogMatching {
    /// index → (term, entry hash)
    entries: FirstSeen<u64, (u64, u64)>,
}

impl LogMatching {
    pub fn applied(&mut self, node: &str, index: u64, term: u64, entry_hash: u64) -> Result<(), String> {
        self.entries.observe(index, (term, entry_hash), node).map_err(|((t, h), first)| {
            format!(
                "entry {index} differs: {first} applied term {t} hash {h:016x}, {node} applied term {term} hash {entry_hash:016x}"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_entry_at_same_index_is_a_violation() {
        let mut l = LogMatching::default();
        l.applied("m1", 5, 2, 0xaa).unwrap();
        l.applied("m2", 5, 2, 0xaa).unwrap();
        assert!(l.applied("m3", 5, 3, 0xbb).unwrap_err().contains("entry 5 differs"));
    }
}
