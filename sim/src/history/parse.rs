//! History files: Jepsen's etcd register logs and EDN key-value histories (the two formats of
//! Porcupine's test corpus). Time is the line order. Every error names its line.
//!
//! Jepsen register lines: `INFO  jepsen.util - P	:invoke	:read	nil`, `:write V`,
//! `:cas [FROM TO]`; completions `:ok` (done, with a read's value), `:fail :cas` (the compare
//! failed), `:fail :read :timed-out` (outcome unknown, returned there), `:info` (outcome unknown:
//! the operation stays open to the end); any other `:fail` did not happen and is dropped. Other
//! lines (the nemesis, chatter) are not operations.
//!
//! EDN key-value lines: `{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}`
//! with `:f` get, put or append and `:type` invoke, ok, fail (did not happen) or info (unknown).
//!
//! Shoal's own control-API histories (`shoal-sim run --history FILE`, the explorer's
//! `load control` clients): a first line `;; shoal control-API history (objects)`, then EDN
//! maps with `:f` create, update, get or remove on a `:key` (a service name), a `:time` in
//! virtual microseconds, and on `:ok` completions a `:result` (ok, exists, not-found; a get's
//! `:value` is what it read, nil for nothing). `:info` is an unknown outcome.

use super::models::{KvInput, ObjectInput, ObjectOutput, RegisterInput, RegisterOutput};
use super::Operation;
use std::collections::BTreeMap;

/// A malformed history: the line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError { line, message: message.into() })
}

/// Which format a file is in, from its first operation line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Register,
    Kv,
    Objects,
}

/// The first line of Shoal's own histories.
pub const OBJECTS_HEADER: &str = ";; shoal control-API history (objects)";

pub fn detect(text: &str) -> Option<Format> {
    for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if l == OBJECTS_HEADER {
            return Some(Format::Objects);
        }
        if l.starts_with('{') {
            return Some(Format::Kv);
        }
        if l.contains("jepsen.util") {
            return Some(Format::Register);
        }
    }
    None
}

/// Open operations per process while a history is read: (index in the output, its call line).
type Open = BTreeMap<u64, (usize, usize)>;

fn finish<I, O>(ops: Vec<Option<Operation<I, O>>>) -> Vec<Operation<I, O>> {
    ops.into_iter().flatten().collect()
}

pub fn register(text: &str) -> Result<Vec<Operation<RegisterInput, RegisterOutput>>, ParseError> {
    let mut ops: Vec<Option<Operation<RegisterInput, RegisterOutput>>> = Vec::new();
    let mut open: Open = BTreeMap::new();
    for (k, raw) in text.lines().enumerate() {
        let line = k + 1;
        let Some(rest) = raw.split_once("jepsen.util - ").map(|(_, r)| r) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let Some(process) = fields.first().and_then(|p| p.parse::<u64>().ok()) else {
            continue; // the nemesis and other chatter
        };
        let (kind, f, value) = match fields.as_slice() {
            [_, kind, f, value @ ..] => (*kind, *f, value.join(" ")),
            _ => return err(line, format!("expected `P :type :f value`, found {rest:?}")),
        };
        let time = line as u64;
        match kind {
            ":invoke" => {
                if open.contains_key(&process) {
                    return err(line, format!("process {process} invokes again before its last operation completed"));
                }
                let input = match f {
                    ":read" => RegisterInput::Read,
                    ":write" => RegisterInput::Write(int(line, &value)?),
                    ":cas" => {
                        let (from, to) = pair(line, &value)?;
                        RegisterInput::Cas { from, to }
                    }
                    _ => return err(line, format!("unknown operation {f}: use :read, :write or :cas")),
                };
                open.insert(process, (ops.len(), line));
                ops.push(Some(Operation { client: process, input, output: None, call: time, ret: None, line }));
            }
            ":ok" | ":fail" | ":info" => {
                let Some((i, _)) = open.remove(&process) else {
                    return err(line, format!("process {process} completes an operation it never invoked"));
                };
                let Some(op) = ops[i].as_mut() else { unreachable!("open operations are present") };
                let timed_out = value == ":timed-out";
                match (kind, &op.input) {
                    (":info", _) => {} // unknown: open to the end
                    (":ok", RegisterInput::Read) => {
                        let v = if value == "nil" { None } else { Some(int(line, &value)?) };
                        op.output = Some(RegisterOutput::Value(v));
                        op.ret = Some(time);
                    }
                    (":ok", RegisterInput::Write(_)) => {
                        int(line, &value)?;
                        op.output = Some(RegisterOutput::Ok);
                        op.ret = Some(time);
                    }
                    (":ok" | ":fail", RegisterInput::Cas { .. }) if !timed_out => {
                        op.output = Some(RegisterOutput::Cas(kind == ":ok"));
                        op.ret = Some(time);
                    }
                    (":fail", RegisterInput::Read) if timed_out => op.ret = Some(time),
                    (":fail", _) => ops[i] = None, // did not happen
                    _ => return err(line, format!("cannot complete {:?} with {kind} {value}", op.input)),
                }
            }
            _ => return err(line, format!("unknown type {kind}: use :invoke, :ok, :fail or :info")),
        }
    }
    Ok(finish(ops))
}

fn int(line: usize, s: &str) -> Result<i64, ParseError> {
    s.trim().parse().or_else(|_| err(line, format!("{s:?} is not an integer")))
}

fn pair(line: usize, s: &str) -> Result<(i64, i64), ParseError> {
    let inner = s.trim().strip_prefix('[').and_then(|x| x.strip_suffix(']'));
    match inner.map(|x| x.split_whitespace().collect::<Vec<_>>()).as_deref() {
        Some([a, b]) => Ok((int(line, a)?, int(line, b)?)),
        _ => err(line, format!("{s:?} is not a pair [FROM TO]")),
    }
}

/// The fields of one EDN map line: `:key value` pairs, values being keywords, numbers, nil or
/// strings with escapes.
fn edn_map(line: usize, s: &str) -> Result<EdnMap, ParseError> {
    let body = s.trim().strip_prefix('{').and_then(|x| x.strip_suffix('}'));
    let Some(body) = body else { return err(line, "expected an EDN map {…}") };
    let mut out = BTreeMap::new();
    let mut chars = body.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let Some(c) = chars.next() else { break };
        if c != ':' {
            return err(line, format!("expected a :key, found {c:?}"));
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let value = match chars.peek() {
            Some('"') => {
                chars.next();
                let mut v = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some('n') => v.push('\n'),
                            Some('t') => v.push('\t'),
                            Some(c) => v.push(c),
                            None => return err(line, "unterminated string"),
                        },
                        Some('"') => break,
                        Some(c) => v.push(c),
                        None => return err(line, "unterminated string"),
                    }
                }
                Some(v)
            }
            Some(_) => {
                let v: String = std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace() && *c != ',')).collect();
                (v != "nil").then_some(v)
            }
            None => return err(line, format!(":{key} has no value")),
        };
        out.insert(key, value);
    }
    Ok(out)
}

type EdnMap = BTreeMap<String, Option<String>>;

/// A key of an EDN line (its value may be nil).
fn field(m: &EdnMap, line: usize, name: &str) -> Result<Option<String>, ParseError> {
    m.get(name).cloned().ok_or_else(|| ParseError { line, message: format!("missing :{name}") })
}

/// A key of an EDN line that must hold a whole number (a process, a time).
fn whole(m: &EdnMap, line: usize, name: &str) -> Result<u64, ParseError> {
    match field(m, line, name)?.as_deref().map(str::parse) {
        Some(Ok(n)) => Ok(n),
        _ => err(line, format!(":{name} must be a whole number")),
    }
}

pub fn kv(text: &str) -> Result<Vec<Operation<KvInput, Option<String>>>, ParseError> {
    let mut ops: Vec<Option<Operation<KvInput, Option<String>>>> = Vec::new();
    let mut open: Open = BTreeMap::new();
    for (k, raw) in text.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let m = edn_map(line, raw)?;
        let field = |name: &str| field(&m, line, name);
        let process = whole(&m, line, "process")?;
        let kind = field("type")?.unwrap_or_default();
        let time = line as u64;
        match kind.as_str() {
            ":invoke" => {
                if open.contains_key(&process) {
                    return err(line, format!("process {process} invokes again before its last operation completed"));
                }
                let key = field("key")?.ok_or(ParseError { line, message: ":key is nil".into() })?;
                let value = field("value")?;
                let input = match field("f")?.as_deref() {
                    Some(":get") => KvInput::Get(key),
                    Some(":put") => KvInput::Put(key, value.unwrap_or_default()),
                    Some(":append") => KvInput::Append(key, value.unwrap_or_default()),
                    f => return err(line, format!("unknown :f {}: use :get, :put or :append", f.unwrap_or("nil"))),
                };
                open.insert(process, (ops.len(), line));
                ops.push(Some(Operation { client: process, input, output: None, call: time, ret: None, line }));
            }
            ":ok" | ":fail" | ":info" => {
                let Some((i, _)) = open.remove(&process) else {
                    return err(line, format!("process {process} completes an operation it never invoked"));
                };
                match kind.as_str() {
                    ":ok" => {
                        let Some(op) = ops[i].as_mut() else { unreachable!("open operations are present") };
                        op.ret = Some(time);
                        op.output = Some(if matches!(op.input, KvInput::Get(_)) { Some(field("value")?.unwrap_or_default()) } else { None });
                    }
                    ":fail" => ops[i] = None,
                    _ => {}
                }
            }
            t => return err(line, format!("unknown :type {t}: use :invoke, :ok, :fail or :info")),
        }
    }
    Ok(finish(ops))
}

fn edn_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

/// Writes a history of the objects model in Shoal's format (see the module doc).
pub fn objects_edn(ops: &[Operation<ObjectInput, ObjectOutput>]) -> String {
    // (time, 0 = call first at equal times, operation index, line)
    let mut events: Vec<(u64, u8, usize, String)> = Vec::with_capacity(2 * ops.len());
    // One call may hold several operations (a list reads every name): each gets its own
    // process, client + 1000 × k, so no process has two operations open at once.
    let mut lanes: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        let lane = lanes.entry((op.client, op.call)).or_default();
        let process = op.client + 1000 * *lane;
        *lane += 1;
        let (f, key, value) = match &op.input {
            ObjectInput::Create(k, v) => ("create", k, Some(v)),
            ObjectInput::Update(k, v) => ("update", k, Some(v)),
            ObjectInput::Get(k) => ("get", k, None),
            ObjectInput::Remove(k) => ("remove", k, None),
        };
        let base = |kind: &str, value: Option<&String>, time: u64| {
            let v = value.map(|v| edn_str(v)).unwrap_or_else(|| "nil".into());
            format!("{{:process {process}, :type :{kind}, :f :{f}, :key {}, :value {v}, :time {time}", edn_str(key))
        };
        events.push((op.call, 0, i, base("invoke", value, op.call) + "}"));
        match (&op.output, op.ret) {
            (Some(out), Some(ret)) => {
                let (result, value) = match out {
                    ObjectOutput::Ok => ("ok", value.cloned()),
                    ObjectOutput::Exists => ("exists", value.cloned()),
                    ObjectOutput::NotFound => ("not-found", value.cloned()),
                    ObjectOutput::Value(v) => ("ok", v.clone()),
                };
                events.push((ret, 1, i, base("ok", value.as_ref(), ret) + &format!(", :result :{result}}}")));
            }
            // Unknown: open to the end for the checker; written next to its call, since the
            // client moved on to its next call.
            _ => events.push((op.call, 1, i, base("info", value, op.call) + "}")),
        }
    }
    events.sort();
    let mut out = String::from(OBJECTS_HEADER);
    out.push('\n');
    for (_, _, _, l) in events {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

pub fn objects(text: &str) -> Result<Vec<Operation<ObjectInput, ObjectOutput>>, ParseError> {
    let mut ops: Vec<Option<Operation<ObjectInput, ObjectOutput>>> = Vec::new();
    let mut open: Open = BTreeMap::new();
    for (k, raw) in text.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() || raw.trim_start().starts_with(';') {
            continue;
        }
        let m = edn_map(line, raw)?;
        let field = |name: &str| field(&m, line, name);
        let process = whole(&m, line, "process")?;
        let time = whole(&m, line, "time")?;
        match field("type")?.unwrap_or_default().as_str() {
            ":invoke" => {
                if open.contains_key(&process) {
                    return err(line, format!("process {process} invokes again before its last operation completed"));
                }
                let key = field("key")?.ok_or(ParseError { line, message: ":key is nil".into() })?;
                let value = || field("value")?.ok_or(ParseError { line, message: ":value is nil: give the image written".into() });
                let input = match field("f")?.as_deref() {
                    Some(":create") => ObjectInput::Create(key, value()?),
                    Some(":update") => ObjectInput::Update(key, value()?),
                    Some(":get") => ObjectInput::Get(key),
                    Some(":remove") => ObjectInput::Remove(key),
                    f => return err(line, format!("unknown :f {}: use :create, :update, :get or :remove", f.unwrap_or("nil"))),
                };
                open.insert(process, (ops.len(), line));
                ops.push(Some(Operation { client: process, input, output: None, call: time, ret: None, line }));
            }
            ":ok" => {
                let Some((i, _)) = open.remove(&process) else {
                    return err(line, format!("process {process} completes an operation it never invoked"));
                };
                let Some(op) = ops[i].as_mut() else { unreachable!("open operations are present") };
                if time < op.call {
                    return err(line, format!("returns at {time}, before its call at {}", op.call));
                }
                let result = field("result")?;
                op.output = Some(match (&op.input, result.as_deref()) {
                    (ObjectInput::Get(_), Some(":ok")) => ObjectOutput::Value(field("value")?),
                    (_, Some(":ok")) => ObjectOutput::Ok,
                    (ObjectInput::Create(..), Some(":exists")) => ObjectOutput::Exists,
                    (ObjectInput::Update(..) | ObjectInput::Remove(_), Some(":not-found")) => ObjectOutput::NotFound,
                    (input, r) => return err(line, format!("{input:?} cannot end with :result {}", r.unwrap_or("nil"))),
                });
                op.ret = Some(time);
            }
            ":fail" => {
                let Some((i, _)) = open.remove(&process) else {
                    return err(line, format!("process {process} completes an operation it never invoked"));
                };
                ops[i] = None;
            }
            ":info" => {
                if open.remove(&process).is_none() {
                    return err(line, format!("process {process} completes an operation it never invoked"));
                }
            }
            t => return err(line, format!("unknown :type {t}: use :invoke, :ok, :fail or :info")),
        }
    }
    Ok(finish(ops))
}

#[cfg(test)]
mod objects_tests {
    use super::*;

    // Shoal's history dump reads back as the same history, and a bad line names its number.
    #[test]
    fn objects_histories_round_trip_and_bad_lines_are_named() {
        let op = |client, input, output, call, ret| Operation { client, input, output, call, ret, line: 0 };
        let ops = vec![
            op(0, ObjectInput::Create("s".into(), "a \"1\"".into()), Some(ObjectOutput::Ok), 10, Some(20)),
            op(1, ObjectInput::Get("s".into()), Some(ObjectOutput::Value(Some("a \"1\"".into()))), 20, Some(30)),
            op(2, ObjectInput::Update("s".into(), "b".into()), None, 25, None),
            op(0, ObjectInput::Remove("t".into()), Some(ObjectOutput::NotFound), 40, Some(41)),
            op(1, ObjectInput::Get("t".into()), Some(ObjectOutput::Value(None)), 42, Some(43)),
            // A list: two reads of one call.
            op(2, ObjectInput::Get("s".into()), Some(ObjectOutput::Value(None)), 50, Some(60)),
            op(2, ObjectInput::Get("t".into()), Some(ObjectOutput::Value(None)), 50, Some(60)),
        ];
        let text = objects_edn(&ops);
        assert_eq!(detect(&text), Some(Format::Objects));
        let back = objects(&text).unwrap();
        let key = |o: &Operation<ObjectInput, ObjectOutput>| (o.client % 1000, o.input.clone(), o.output.clone(), o.call, o.ret);
        let mut want: Vec<_> = ops.iter().map(key).collect();
        let mut got: Vec<_> = back.iter().map(key).collect();
        want.sort_by_key(|k| (k.3, k.0));
        got.sort_by_key(|k| (k.3, k.0));
        assert_eq!(got, want);
        let bad = format!("{OBJECTS_HEADER}\n{{:process 0, :type :invoke, :f :rename, :key \"s\", :value nil, :time 1}}\n");
        let e = objects(&bad).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains(":rename"), "{e}");
    }
}
