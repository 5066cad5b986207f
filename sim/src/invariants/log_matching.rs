//! Log matching (Raft §5.3) as observed at apply time: if two nodes apply an entry at the
//! same index, it has the same term and the same content. Guards against: a committed entry
//! overwritten after a leader change, torn or corrupted log records served as valid.

use std::collections::BTreeMap;

#[derive(Default)]
pub struct LogMatching {
    /// index → (term, entry hash, first node that applied it)
    entries: BTreeMap<u64, (u64, u64, String)>,
}

impl LogMatching {
    pub fn applied(&mut self, node: &str, index: u64, term: u64, entry_hash: u64) -> Result<(), String> {
        match self.entries.get(&index) {
            Some((t, h, first)) if (*t, *h) != (term, entry_hash) => Err(format!(
                "entry {index} differs: {first} applied term {t} hash {h:016x}, {node} applied term {term} hash {entry_hash:016x}"
            )),
            Some(_) => Ok(()),
            None => {
                self.entries.insert(index, (term, entry_hash, node.to_string()));
                Ok(())
            }
        }
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
