//! `--format` and `inspect` as the docker CLI prints them, so a user's `jq` scripts work
//! on both: `inspect` prints the Engine API's objects (core's `engine_api::convert`, the
//! schema dockerd serves), `ls`/`ps --format json` one JSON object per row with the table's
//! columns under docker's field names.

use serde_json::{Map, Value};

/// The rows as `--format` asks (`json`: one object per row; a Go template: core's
/// `cli::format`): `keys[i]` names column `i`; `extra` are added to every row.
pub fn print(format: &str, keys: &[&str], rows: &[Vec<String>], extra: &[(&str, &str)]) -> Result<(), String> {
    // `table` alone is the list's own columns, in their order (docker's default table).
    let default_table = format!("table {}", keys.iter().map(|k| format!("{{{{.{k}}}}}")).collect::<Vec<_>>().join("\\t"));
    let format = shoal_core::cli::format::parse_format(if format == "table" { &default_table } else { format })?;
    let objects: Vec<Map<String, Value>> = rows
        .iter()
        .map(|r| {
            let mut o = Map::new();
            for (k, v) in keys.iter().zip(r) {
                o.insert((*k).to_string(), Value::String(v.trim_start().to_string()));
            }
            for (k, v) in extra {
                o.insert((*k).to_string(), Value::String((*v).to_string()));
            }
            o
        })
        .collect();
    let text = shoal_core::cli::format::render(&format, &objects)?;
    // A closed pipe (`| head`) ends the output quietly.
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

/// `inspect`: a pretty JSON array, as docker prints it.
pub fn inspect<T: serde::Serialize>(objects: &[T]) {
    println!("{}", serde_json::to_string_pretty(objects).unwrap_or_else(|e| format!("cannot encode: {e}")));
}
