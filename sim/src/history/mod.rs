//! Linearizability checking of concurrent histories (the explorer's control-API oracle, and
//! `shoal-sim check-history` for users).
//!
//! A history is a set of operations, each with a call time, a return time (`None`: the
//! outcome is unknown — a timeout — so it may take effect at any point after its call, or
//! never) and an output. A history is linearizable when some total order of the operations
//! respects real time (an operation that returned before another was called comes first) and
//! replays through the sequential [`Model`] with the outputs observed.
//!
//! The search is Wing & Gong's, with Lowe's memoisation (as in Porcupine and Knossos): walk the
//! history's call/return events in time order; at a call, try to linearize that operation now
//! (the model accepts it from the current state) and restart from the earliest event left; at
//! a return whose operation is not linearized yet, backtrack. A (set of linearized operations,
//! state) pair seen before is never explored again. Histories are first split by
//! [`Model::partition`] (one key each for a key-value store): operations on different keys
//! never constrain each other, and the search is exponential only within a part.
//!
//! Written here rather than taken from a crate: no maintained Rust crate checks
//! linearizability (Porcupine is Go, Knossos Clojure). Deterministic: no ambient randomness,
//! hashing with fixed keys, ties broken by operation index.

pub mod models;
pub mod parse;

use std::hash::{Hash, Hasher};

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash + std::fmt::Debug;
    type Input: std::fmt::Debug;
    type Output: std::fmt::Debug;
    fn init(&self) -> Self::State;
    /// The state after `input` with `output` observed (None: the output is unknown), or None
    /// when the model cannot produce that output from `state`.
    fn step(&self, state: &Self::State, input: &Self::Input, output: Option<&Self::Output>) -> Option<Self::State>;
    /// The part of the history an operation belongs to (operations of different parts are
    /// independent); one part by default.
    fn partition(&self, _input: &Self::Input) -> String {
        String::new()
    }
    /// The operation only reads (it never changes the state). A read whose outcome is
    /// unknown constrains nothing and changes nothing, so the search leaves it out: each
    /// operation of unknown outcome may be linearized at any point after its call, and a
    /// few dozen of them made a search of minutes (explorer seed 209).
    fn read_only(&self, _input: &Self::Input) -> bool {
        false
    }
    /// Whether `op`, whose outcome is unknown, changes nothing any operation of `part` could
    /// observe (e.g. an update to a value no read returned). The search then leaves it out,
    /// which keeps the verdict: a linearization with it stays valid without it, and one
    /// without it stays valid with it put at the end.
    fn unknown_is_invisible(&self, _op: &Operation<Self::Input, Self::Output>, _part: &[&Operation<Self::Input, Self::Output>]) -> bool {
        false
    }
}

/// One operation of a history.
#[derive(Debug, Clone)]
pub struct Operation<I, O> {
    pub client: u64,
    pub input: I,
    /// None: the outcome is unknown (it may have happened, once, at any time after the call).
    pub output: Option<O>,
    pub call: u64,
    /// None: never returned (unknown outcome).
    pub ret: Option<u64>,
    /// Where it came from (a line number), for witnesses.
    pub line: usize,
}

/// Why a history is not linearizable: the deepest point the search reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    /// The part (key) that cannot be ordered.
    pub part: String,
    /// Operations linearized, in order, before the search got stuck (at most the last 10).
    pub prefix: Vec<String>,
    /// The operation whose return could not be explained.
    pub stuck: String,
    /// The operations still pending at that point, none of which could go next.
    pub pending: Vec<String>,
    pub state: String,
}

impl std::fmt::Display for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.part.is_empty() {
            writeln!(f, "key {:?}:", self.part)?;
        }
        writeln!(f, "  linearized so far (last {}): {}", self.prefix.len(), self.prefix.join(", "))?;
        writeln!(f, "  state then: {}", self.state)?;
        writeln!(f, "  {} returned, but no order of the pending operations explains it:", self.stuck)?;
        for p in &self.pending {
            writeln!(f, "    {p}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Witness),
}

/// Search steps a part gets in the first round; each round doubles it.
const FIRST_BUDGET: u64 = 10_000;

/// Checks a whole history, part by part. A part that is not linearizable may take an
/// exponential search to prove so while another fails at once, so the parts are searched in
/// rounds with a doubling step budget (a part that ran out goes on where it stopped in the
/// next round): the first failure found is the answer, as when Porcupine checks parts in
/// parallel and stops at the first that fails.
pub fn check<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>]) -> Verdict {
    let mut parts: std::collections::BTreeMap<String, Vec<usize>> = std::collections::BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if op.output.is_none() && model.read_only(&op.input) {
            continue;
        }
        parts.entry(model.partition(&op.input)).or_default().push(i);
    }
    let mut left: Vec<(String, Search<M>)> = parts
        .into_iter()
        .map(|(p, idx)| {
            let part: Vec<&Operation<M::Input, M::Output>> = idx.iter().map(|i| &ops[*i]).collect();
            let kept = part.iter().copied().filter(|op| op.output.is_some() || !model.unknown_is_invisible(op, &part)).collect();
            (p, Search::new(model, kept))
        })
        .collect();
    let mut budget = FIRST_BUDGET;
    while !left.is_empty() {
        let mut next = Vec::with_capacity(left.len());
        // The last part left goes on to the end.
        let single = left.len() == 1;
        for (part, mut search) in left {
            match search.advance(if single { u64::MAX } else { budget }) {
                Ok(Progress::Linearizable) => {}
                Ok(Progress::OutOfBudget) => next.push((part, search)),
                Err(mut w) => {
                    w.part = part;
                    return Verdict::NotLinearizable(w);
                }
            }
        }
        left = next;
        budget = budget.saturating_mul(2);
    }
    Verdict::Linearizable
}

/// The set of linearized operations, kept small: operations are numbered in call order, and a
/// search only linearizes an operation called before every pending return, so the set is
/// "every operation below `top`, except the `holes`" with few holes (the operations still
/// pending: about as many as run concurrently, plus unknown outcomes). A bitset of the whole
/// history cost 157 words to hash and copy per step at 10,000 operations; this key costs a few.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct LinSet {
    top: u32,
    /// Sorted indices below `top` not linearized.
    holes: Vec<u32>,
}

impl LinSet {
    /// Adds `x` (not in the set); returns the `top` before, which [`LinSet::remove`] needs.
    fn add(&mut self, x: usize) -> usize {
        let x = x as u32;
        let old_top = self.top;
        if x < self.top {
            let k = self.holes.binary_search(&x).expect("an operation below top that is not linearized is a hole");
            self.holes.remove(k);
        } else {
            self.holes.extend(self.top..x);
            self.top = x + 1;
        }
        old_top as usize
    }

    /// Undoes the latest [`LinSet::add`] of `x` (the search backtracks in stack order, so every
    /// later change was undone already).
    fn remove(&mut self, x: usize, old_top: usize) {
        let (x, old_top) = (x as u32, old_top as u32);
        if x < old_top {
            let k = self.holes.binary_search(&x).expect_err("x was linearized");
            self.holes.insert(k, x);
        } else {
            debug_assert_eq!(self.top, x + 1, "undo in stack order");
            self.holes.truncate(self.holes.len() - (x - old_top) as usize);
            self.top = old_top;
        }
    }
}

/// The memo of (linearized operations, state) pairs explored, each stored with its hash and
/// compared in full (a hash collision never prunes a path); looked up by reference, so a
/// rejected candidate costs no copy. The sets' holes live in one pool, not a vector per entry:
/// a million small allocations (and their frees) were a sixth of a failing search's time.
/// FxHash with its fixed key: fast on these small keys (SipHash made hashing most of a step),
/// and deterministic.
struct Seen<S> {
    table: hashbrown::HashTable<SeenEntry<S>>,
    holes: Vec<u32>,
}

struct SeenEntry<S> {
    hash: u64,
    top: u32,
    /// The set's holes: `holes[start..start + len]` of the pool.
    start: usize,
    len: usize,
    state: S,
}

impl<S> Default for Seen<S> {
    fn default() -> Self {
        Seen { table: hashbrown::HashTable::new(), holes: Vec::new() }
    }
}

impl<S: Clone + Eq + Hash> Seen<S> {
    /// Records the pair; false if it was there already.
    fn insert(&mut self, set: &LinSet, state: &S) -> bool {
        let mut h = rustc_hash::FxHasher::default();
        set.hash(&mut h);
        state.hash(&mut h);
        let hash = h.finish();
        let pool = &self.holes;
        let same = |e: &SeenEntry<S>| {
            e.hash == hash && e.top == set.top && pool[e.start..e.start + e.len] == set.holes[..] && e.state == *state
        };
        if self.table.find(hash, same).is_some() {
            return false;
        }
        let start = self.holes.len();
        self.holes.extend_from_slice(&set.holes);
        let entry = SeenEntry { hash, top: set.top, start, len: set.holes.len(), state: state.clone() };
        self.table.insert_unique(hash, entry, |e| e.hash);
        true
    }
}

/// An event of the doubly linked list the search walks.
#[derive(Debug, Clone, Copy)]
struct Event {
    op: usize,
    is_call: bool,
    prev: usize,
    next: usize,
}

/// Index of the list's head sentinel.
const HEAD: usize = 0;

fn describe<I: std::fmt::Debug, O: std::fmt::Debug>(op: &Operation<I, O>) -> String {
    let out = match &op.output {
        Some(o) => format!("{o:?}"),
        None => "unknown".to_string(),
    };
    format!("[line {} client {}] {:?} -> {out}", op.line, op.client, op.input)
}

/// Unlinks an event from the list (its operation is linearized); [`relink`] undoes it.
fn unlink(ev: &mut [Event], id: usize) {
    let (p, nx) = (ev[id].prev, ev[id].next);
    ev[p].next = nx;
    if nx != usize::MAX {
        ev[nx].prev = p;
    }
}

fn relink(ev: &mut [Event], id: usize) {
    let (p, nx) = (ev[id].prev, ev[id].next);
    ev[p].next = id;
    if nx != usize::MAX {
        ev[nx].prev = id;
    }
}

/// Where a part's search stands; [`Search::advance`] goes on from there, so rounds of budget
/// never repeat work.
struct Search<'a, M: Model> {
    model: &'a M,
    ops: Vec<&'a Operation<M::Input, M::Output>>,
    ev: Vec<Event>,
    call_of: Vec<usize>,
    ret_of: Vec<usize>,
    linearized: LinSet,
    seen: Seen<M::State>,
    /// (call event, state before it, the set's `top` before it) of each linearized
    /// operation, in order.
    stack: Vec<(usize, M::State, usize)>,
    state: M::State,
    cur: usize,
    deepest: Option<(usize, Witness)>,
}

/// What one round of a search found.
enum Progress {
    Linearizable,
    OutOfBudget,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, mut ops: Vec<&'a Operation<M::Input, M::Output>>) -> Self {
        // Numbered in call order (ties by position), which keeps the linearized set small.
        ops.sort_by_key(|op| op.call);
        let n = ops.len();
        // Events in time order; a call before a return at the same time (the two overlap),
        // then by operation index. Unknown returns come after everything.
        let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
        for (i, op) in ops.iter().enumerate() {
            order.push((op.call, false, i));
            order.push((op.ret.unwrap_or(u64::MAX), true, i));
        }
        order.sort();
        // Node 0 is the head sentinel; events are 1..=2n.
        let mut ev: Vec<Event> = Vec::with_capacity(2 * n + 1);
        ev.push(Event { op: usize::MAX, is_call: false, prev: HEAD, next: if n == 0 { usize::MAX } else { 1 } });
        let mut call_of = vec![0usize; n];
        let mut ret_of = vec![0usize; n];
        for (k, (_, is_ret, i)) in order.iter().enumerate() {
            let id = k + 1;
            ev.push(Event { op: *i, is_call: !is_ret, prev: id - 1, next: if id == 2 * n { usize::MAX } else { id + 1 } });
            if *is_ret {
                ret_of[*i] = id;
            } else {
                call_of[*i] = id;
            }
        }
        debug_assert!((0..n).all(|i| call_of[i] < ret_of[i]), "a call precedes its return");
        let cur = ev[HEAD].next;
        Search {
            model,
            ops,
            ev,
            call_of,
            ret_of,
            linearized: LinSet::default(),
            seen: Seen::default(),
            stack: Vec::with_capacity(n),
            state: model.init(),
            cur,
            deepest: None,
        }
    }

    /// Searches on for at most `budget` steps. Err: not linearizable, with the witness.
    fn advance(&mut self, budget: u64) -> Result<Progress, Witness> {
        let mut steps = 0u64;
        while self.ev[HEAD].next != usize::MAX {
            steps += 1;
            if steps > budget {
                return Ok(Progress::OutOfBudget);
            }
            // The last event left is always a return (every operation's return follows its
            // call), so the walk meets a return before it could fall off the end.
            debug_assert!(self.cur != usize::MAX, "walked off the end with events left");
            let e = self.ev[self.cur];
            if e.is_call {
                let op = self.ops[e.op];
                if let Some(next_state) = self.model.step(&self.state, &op.input, op.output.as_ref()) {
                    let old_top = self.linearized.add(e.op);
                    if self.seen.insert(&self.linearized, &next_state) {
                        let before = std::mem::replace(&mut self.state, next_state);
                        self.stack.push((self.cur, before, old_top));
                        unlink(&mut self.ev, self.call_of[e.op]);
                        unlink(&mut self.ev, self.ret_of[e.op]);
                        self.cur = self.ev[HEAD].next;
                        continue;
                    }
                    self.linearized.remove(e.op, old_top);
                }
                self.cur = e.next;
            } else {
                // A return whose operation is not linearized: what came before must change.
                if self.deepest.as_ref().is_none_or(|(d, _)| self.stack.len() > *d) {
                    let w = self.witness(e.op);
                    self.deepest = Some((self.stack.len(), w));
                }
                // Undo the latest choice. A read (an operation that changes no state, with a
                // known output) taken as soon as the state allowed it needs no alternative:
                // every order that places it later, at a state giving the same output, stays
                // valid with it moved to this earlier point (all that returned before its call
                // is linearized already, and moving it earlier only relaxes real time). So
                // when it failed, the choice before it failed too: undo that one as well.
                loop {
                    let Some((call, before, old_top)) = self.stack.pop() else {
                        return Err(self.deepest.take().map(|(_, w)| w).expect("recorded above"));
                    };
                    let op = self.ev[call].op;
                    self.state = before;
                    self.linearized.remove(op, old_top);
                    relink(&mut self.ev, self.ret_of[op]);
                    relink(&mut self.ev, self.call_of[op]);
                    self.cur = self.ev[call].next;
                    let o = self.ops[op];
                    if !(o.output.is_some() && self.model.read_only(&o.input)) {
                        break;
                    }
                }
            }
        }
        Ok(Progress::Linearizable)
    }

    /// The witness at a return of `stuck` that nothing linearized so far explains.
    fn witness(&self, stuck: usize) -> Witness {
        let mut pending = Vec::new();
        let mut k = self.ev[HEAD].next;
        while k != usize::MAX && pending.len() < 10 {
            if self.ev[k].is_call && self.ev[k].op != stuck {
                pending.push(describe(self.ops[self.ev[k].op]));
            }
            k = self.ev[k].next;
        }
        let prefix = self.stack.iter().rev().take(10).rev().map(|(c, _, _)| describe(self.ops[self.ev[*c].op])).collect();
        Witness { part: String::new(), prefix, stuck: describe(self.ops[stuck]), pending, state: format!("{:?}", self.state) }
    }
}

#[cfg(test)]
mod tests {
    use super::models::{Register, RegisterInput, RegisterOutput};
    use super::*;

    fn op(client: u64, input: RegisterInput, output: Option<RegisterOutput>, call: u64, ret: Option<u64>) -> Operation<RegisterInput, RegisterOutput> {
        Operation { client, input, output, call, ret, line: call as usize }
    }

    // Two overlapping writes and a read after both: the read may see either (Herlihy & Wing's
    // definition: overlapping operations may take effect in either order).
    #[test]
    fn overlapping_writes_may_order_either_way() {
        let h = vec![
            op(0, RegisterInput::Write(1), Some(RegisterOutput::Ok), 0, Some(10)),
            op(1, RegisterInput::Write(2), Some(RegisterOutput::Ok), 1, Some(11)),
            op(2, RegisterInput::Read, Some(RegisterOutput::Value(Some(1))), 20, Some(21)),
        ];
        assert_eq!(check(&Register, &h), Verdict::Linearizable);
    }

    // A read that returns a value overwritten before it was called is stale: not linearizable,
    // and the witness names the read.
    #[test]
    fn a_stale_read_is_caught_with_a_witness() {
        let h = vec![
            op(0, RegisterInput::Write(1), Some(RegisterOutput::Ok), 0, Some(1)),
            op(0, RegisterInput::Write(2), Some(RegisterOutput::Ok), 2, Some(3)),
            op(1, RegisterInput::Read, Some(RegisterOutput::Value(Some(1))), 4, Some(5)),
        ];
        let Verdict::NotLinearizable(w) = check(&Register, &h) else { panic!("stale read accepted") };
        assert!(w.stuck.contains("Read"), "{w}");
    }

    // The compact linearized set: adds and their undos in stack order give back each set
    // exactly, and two routes to the same set give the same key.
    #[test]
    fn linearized_set_adds_and_undoes_in_stack_order() {
        let mut a = LinSet::default();
        let t0 = a.add(2);
        assert_eq!(a, LinSet { top: 3, holes: vec![0, 1] });
        let t1 = a.add(0);
        let t2 = a.add(5);
        assert_eq!(a, LinSet { top: 6, holes: vec![1, 3, 4] });
        let mut b = LinSet::default();
        for x in [0, 5, 2] {
            b.add(x);
        }
        assert_eq!(a, b, "the key depends on the set, not on the order");
        a.remove(5, t2);
        a.remove(0, t1);
        a.remove(2, t0);
        assert_eq!(a, LinSet::default());
    }

    // A write whose outcome is unknown may take effect late, or never.
    #[test]
    fn unknown_outcomes_may_happen_late_or_never() {
        let late = vec![
            op(0, RegisterInput::Write(1), None, 0, None),
            op(1, RegisterInput::Read, Some(RegisterOutput::Value(None)), 5, Some(6)),
            op(1, RegisterInput::Read, Some(RegisterOutput::Value(Some(1))), 7, Some(8)),
        ];
        assert_eq!(check(&Register, &late), Verdict::Linearizable);
        let never = vec![op(0, RegisterInput::Write(1), None, 0, None), op(1, RegisterInput::Read, Some(RegisterOutput::Value(None)), 5, Some(6))];
        assert_eq!(check(&Register, &never), Verdict::Linearizable);
    }
}

/// What [`check_file`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVerdict {
    pub operations: usize,
    pub verdict: Verdict,
}

/// Reads a history file in `format` (None: detected from its first operation line) and
/// checks it. Err: a malformed file (with its line) or an unreadable one.
pub fn check_file(path: &str, format: Option<parse::Format>) -> Result<FileVerdict, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let format = format
        .or_else(|| parse::detect(&text))
        .ok_or_else(|| format!("{path}: no operation found: give a Jepsen register log or EDN key-value lines (--model register|kv|objects)"))?;
    let at = |e: parse::ParseError| format!("{path}:{e}");
    Ok(match format {
        parse::Format::Register => {
            let ops = parse::register(&text).map_err(at)?;
            FileVerdict { operations: ops.len(), verdict: check(&models::Register, &ops) }
        }
        parse::Format::Kv => {
            let ops = parse::kv(&text).map_err(at)?;
            FileVerdict { operations: ops.len(), verdict: check(&models::Kv, &ops) }
        }
        parse::Format::Objects => {
            let ops = parse::objects(&text).map_err(at)?;
            FileVerdict { operations: ops.len(), verdict: check(&models::Objects, &ops) }
        }
    })
}
