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

use super::models::{KvInput, RegisterInput, RegisterOutput};
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
}

pub fn detect(text: &str) -> Option<Format> {
    for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
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
fn edn_map(line: usize, s: &str) -> Result<BTreeMap<String, Option<String>>, ParseError> {
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

pub fn kv(text: &str) -> Result<Vec<Operation<KvInput, Option<String>>>, ParseError> {
    let mut ops: Vec<Option<Operation<KvInput, Option<String>>>> = Vec::new();
    let mut open: Open = BTreeMap::new();
    for (k, raw) in text.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let m = edn_map(line, raw)?;
        let field = |name: &str| -> Result<Option<String>, ParseError> {
            m.get(name).cloned().ok_or_else(|| ParseError { line, message: format!("missing :{name}") })
        };
        let process: u64 = match field("process")?.as_deref().map(str::parse) {
            Some(Ok(p)) => p,
            _ => return err(line, ":process must be a whole number"),
        };
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
