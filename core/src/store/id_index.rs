//! [`IdIndex`]: values by object id for the many lookups one pass makes (a task's node, once or
//! several times per task per pass). Sorted by a hash of the id, so a lookup compares integers
//! and then one id, where a B-tree of ids compared 25-byte strings about ten times (those
//! lookups took a third of a what-if plan's time). Lookups only: its order never reaches an
//! output. Written here because the pure core uses no hashed maps (iteration order could leak)
//! and needs none of its generality.

use xxhash_rust::xxh3::xxh3_64;

pub struct IdIndex<'a, V> {
    by_hash: Vec<(u64, &'a str, V)>,
}

impl<'a, V: Copy> IdIndex<'a, V> {
    pub fn new(items: impl IntoIterator<Item = (&'a str, V)>) -> IdIndex<'a, V> {
        let mut by_hash: Vec<(u64, &str, V)> = items.into_iter().map(|(id, v)| (xxh3_64(id.as_bytes()), id, v)).collect();
        by_hash.sort_unstable_by_key(|(h, _, _)| *h);
        IdIndex { by_hash }
    }

    pub fn get(&self, id: &str) -> Option<V> {
        let h = xxh3_64(id.as_bytes());
        let from = self.by_hash.partition_point(|(x, _, _)| *x < h);
        self.by_hash[from..].iter().take_while(|(x, _, _)| *x == h).find(|(_, k, _)| *k == id).map(|(_, _, v)| *v)
    }
}

impl<V> Default for IdIndex<'_, V> {
    fn default() -> Self {
        IdIndex { by_hash: Vec::new() }
    }
}

impl<V: Clone> Clone for IdIndex<'_, V> {
    fn clone(&self) -> Self {
        IdIndex { by_hash: self.by_hash.clone() }
    }
}

impl<V> std::fmt::Debug for IdIndex<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdIndex({} ids)", self.by_hash.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every id is found with its value, and nothing else is.
    #[test]
    fn finds_every_id_and_nothing_else() {
        let ids: Vec<String> = (0..300).map(|i| format!("node-{i:03}")).collect();
        let index = IdIndex::new(ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)));
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(index.get(id), Some(i));
        }
        assert_eq!(index.get("node-300"), None);
        assert_eq!(index.get(""), None);
    }
}
