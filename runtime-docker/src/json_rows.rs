//! `--format json` and `inspect` as the docker CLI prints them, so a user's `jq` scripts work
//! on both: `inspect` prints the Engine API's objects (core's `engine_api::convert`, the
//! schema dockerd serves), `ls`/`ps --format json` one JSON object per row with the table's
//! columns under docker's field names.

use serde_json::{Map, Value};

/// One JSON object per row: `keys[i]` names column `i`; `extra` are added to every row.
pub fn print(keys: &[&str], rows: &[Vec<String>], extra: &[(&str, &str)]) {
    for r in rows {
        let mut o = Map::new();
        for (k, v) in keys.iter().zip(r) {
            o.insert((*k).to_string(), Value::String(v.trim_start().to_string()));
        }
        for (k, v) in extra {
            o.insert((*k).to_string(), Value::String((*v).to_string()));
        }
        println!("{}", Value::Object(o));
    }
}

/// `inspect`: a pretty JSON array, as docker prints it.
pub fn inspect<T: serde::Serialize>(objects: &[T]) {
    println!("{}", serde_json::to_string_pretty(objects).unwrap_or_else(|e| format!("cannot encode: {e}")));
}
