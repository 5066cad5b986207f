//! `--format`: `json` (one object per row), or a Go-template subset as the docker CLI takes it:
//! `{{.Field}}`, `{{json .}}`, `{{json .Field}}`, `{{upper .Field}}`, `{{lower .Field}}`, and
//! a leading `table` for headed, aligned columns; `\t` and `\n` in the text are a tab and a
//! newline (docker's rule). Fields are the columns of the list (`.ID`, `.Name`, `.Replicas`,
//! …, the names `--format json` prints).
//!
//! Written here rather than with a template crate: docker's formats are Go's text/template,
//! which no Rust crate implements; this is the part of it that `ls`/`ps` formats use.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// `{{[func] .Field}}`; `.` alone is the whole row.
    Field { func: Option<String>, field: Option<String> },
}

/// A parsed `--format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Json,
    Template { table: bool, pieces: Template },
}

/// A template's text and fields, in order (opaque to callers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

/// Parses `--format`; the error says what is wrong and how to write it.
pub fn parse_format(s: &str) -> Result<Format, String> {
    if s == "json" {
        return Ok(Format::Json);
    }
    let (table, body) = match s.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start()),
        None => (false, s),
    };
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    let mut pieces = Vec::new();
    let mut rest = body.as_str();
    while let Some(i) = rest.find("{{") {
        if i > 0 {
            pieces.push(Piece::Text(rest[..i].to_string()));
        }
        let end = rest[i..].find("}}").ok_or_else(|| format!("invalid --format {s:?}: a {{{{ without its }}}}"))? + i;
        let inner = rest[i + 2..end].trim();
        let words: Vec<&str> = inner.split_whitespace().collect();
        let field = |w: &str| -> Result<Option<String>, String> {
            match w.strip_prefix('.') {
                Some("") => Ok(None),
                Some(f) if f.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(Some(f.to_string())),
                _ => Err(format!("invalid --format {s:?}: {{{{{inner}}}}}: write {{{{.Field}}}} or {{{{json .}}}}")),
            }
        };
        pieces.push(match words.as_slice() {
            [w] => Piece::Field { func: None, field: field(w)? },
            [f @ ("json" | "upper" | "lower"), w] => Piece::Field { func: Some(f.to_string()), field: field(w)? },
            _ => return Err(format!("invalid --format {s:?}: {{{{{inner}}}}} is not supported: use {{{{.Field}}}}, {{{{json .Field}}}}, {{{{upper .Field}}}} or {{{{lower .Field}}}}")),
        });
        rest = &rest[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(Format::Template { table, pieces: Template(pieces) })
}

/// A column's header as docker prints it: `CurrentState` → `CURRENT STATE`, `ID` → `ID`.
fn header(field: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = field.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        if i > 0 && c.is_ascii_uppercase() && (chars[i - 1].is_ascii_lowercase() || next_lower) {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The rows (objects of string fields) as `format` asks; an unknown field is an error naming
/// the fields there are.
pub fn render(format: &Format, rows: &[Map<String, Value>]) -> Result<String, String> {
    let Format::Template { table, pieces } = format else {
        return Ok(rows.iter().map(|r| format!("{}\n", Value::Object(r.clone()))).collect());
    };
    let known: Vec<&String> = rows.first().map(|r| r.keys().collect()).unwrap_or_default();
    // `table` alone: every field, in the list's order, as docker's default table.
    let every: Vec<Piece>;
    let pieces = if *table && pieces.0.is_empty() {
        every = known
            .iter()
            .enumerate()
            .flat_map(|(i, k)| {
                let sep = (i > 0).then(|| Piece::Text("\t".into()));
                sep.into_iter().chain([Piece::Field { func: None, field: Some(k.to_string()) }])
            })
            .collect();
        &every
    } else {
        &pieces.0
    };
    let cell = |row: &Map<String, Value>, func: &Option<String>, field: &Option<String>| -> Result<String, String> {
        let v = match field {
            None => Value::Object(row.clone()),
            Some(f) => row.get(f).cloned().ok_or_else(|| {
                let names: Vec<String> = known.iter().map(|k| format!(".{k}")).collect();
                format!("template: can't evaluate field {f}: use one of {}", names.join(", "))
            })?,
        };
        Ok(match (func.as_deref(), v) {
            (Some("json"), v) => v.to_string(),
            (f, Value::String(s)) => match f {
                Some("upper") => s.to_uppercase(),
                Some("lower") => s.to_lowercase(),
                _ => s,
            },
            (_, v) => v.to_string(),
        })
    };
    let mut lines: Vec<String> = Vec::new();
    if *table {
        lines.push(
            pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.clone(),
                    Piece::Field { field: Some(f), .. } => header(f),
                    Piece::Field { field: None, .. } => String::new(),
                })
                .collect(),
        );
    }
    for r in rows {
        let mut line = String::new();
        for p in pieces {
            match p {
                Piece::Text(t) => line.push_str(t),
                Piece::Field { func, field } => line.push_str(&cell(r, func, field)?),
            }
        }
        lines.push(line);
    }
    if !*table {
        return Ok(lines.iter().map(|l| format!("{l}\n")).collect());
    }
    Ok(align_tabs(&lines))
}

/// Tab-separated cells aligned as docker's tabwriter does: padded to the widest, 3 apart; a
/// line's last cell is not padded.
pub fn align_tabs(lines: &[String]) -> String {
    let split: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = split.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for cells in &split {
        for (i, c) in cells.iter().enumerate() {
            if i + 1 < cells.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for cells in &split {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 < cells.len() {
                l.push_str(&format!("{c:<w$}   ", w = widths[i]));
            } else {
                l.push_str(c);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Map<String, Value>> {
        [("abc", "web", "2/2"), ("def", "api", "1/1")]
            .iter()
            .map(|(id, n, r)| {
                let mut m = Map::new();
                m.insert("ID".into(), Value::String(id.to_string()));
                m.insert("Name".into(), Value::String(n.to_string()));
                m.insert("Replicas".into(), Value::String(r.to_string()));
                m.insert("CurrentState".into(), Value::String("Running".into()));
                m
            })
            .collect()
    }

    #[test]
    fn formats_as_docker_users_write_them() {
        let r = |f: &str| render(&parse_format(f).unwrap(), &rows());
        assert_eq!(r("{{.Name}}").unwrap(), "web\napi\n");
        assert_eq!(r("{{.Name}} {{.Replicas}}").unwrap(), "web 2/2\napi 1/1\n");
        assert_eq!(r("table {{.ID}}\\t{{.Name}}\\t{{.CurrentState}}").unwrap(), "ID    NAME   CURRENT STATE\nabc   web    Running\ndef   api    Running\n");
        assert_eq!(r("{{json .Name}}").unwrap(), "\"web\"\n\"api\"\n");
        assert_eq!(r("{{upper .Name}}").unwrap(), "WEB\nAPI\n");
        assert!(r("{{json .}}").unwrap().starts_with("{\"CurrentState\":\"Running\",\"ID\":\"abc\""));
        assert!(r("{{.Nmae}}").unwrap_err().contains("can't evaluate field Nmae: use one of .CurrentState, .ID, .Name, .Replicas"));
        assert!(parse_format("{{.Name").unwrap_err().contains("without its"));
        assert!(parse_format("{{range .}}").unwrap_err().contains("not supported"));
        assert_eq!(r("json").unwrap().lines().count(), 2);
        assert_eq!(r("table").unwrap().lines().next(), Some("CURRENT STATE   ID    NAME   REPLICAS"));
    }
}
