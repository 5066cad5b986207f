//! Variable interpolation in compose values: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?error}`, `${VAR?error}` and `$$` for a literal `$`, as the docker
//! CLI substitutes them (after YAML parsing, in values only, never in keys).
//!
//! Written here rather than taken from a crate: the crates that exist (envsubst, shellexpand)
//! implement shell semantics that differ from docker's on `:?`, `$$` and unterminated braces.

use std::collections::BTreeMap;

/// Why a value could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    /// A `${` without its `}`, or a name that is not a variable name.
    #[error("invalid interpolation format for {text:?}: you may need to escape any $ with another $")]
    Syntax { text: String },
    /// `${VAR?msg}` / `${VAR:?msg}` with VAR unset (or empty, for `:?`).
    #[error("required variable {name} is missing a value: {message}")]
    Required { name: String, message: String },
    /// `$VAR` / `${VAR}` with VAR unset. The docker CLI substitutes "" without a word, which
    /// deploys an image named `app:` or an empty password; Shoal refuses instead.
    #[error("variable {name} is not set and has no default: set it, or write ${{{name}:-DEFAULT}}")]
    Unset { name: String },
}

/// The variables a compose file sees: the process environment, then `.env` for names the
/// environment does not set (docker's precedence).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables(pub BTreeMap<String, String>);

impl Variables {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// `text` with every variable substituted.
pub fn substitute(text: &str, vars: &Variables) -> Result<String, InterpolateError> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let syntax = || InterpolateError::Syntax { text: text.to_string() };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.chars().next() {
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('{') => {
                let end = after.find('}').ok_or_else(syntax)?;
                let inner = &after[1..end];
                out.push_str(&braced(inner, vars).ok_or_else(syntax)??);
                rest = &after[end + 1..];
            }
            Some(c) if is_name_start(c) => {
                let len = after.find(|c: char| !is_name_char(c)).unwrap_or(after.len());
                out.push_str(&value_of(&after[..len], vars)?);
                rest = &after[len..];
            }
            // A lone `$` (end of text, or before a character that starts no name) is invalid.
            _ => return Err(syntax()),
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn value_of(name: &str, vars: &Variables) -> Result<String, InterpolateError> {
    vars.get(name).map(str::to_string).ok_or_else(|| InterpolateError::Unset { name: name.to_string() })
}

/// The inside of `${…}`: None when it is not a valid form.
fn braced(inner: &str, vars: &Variables) -> Option<Result<String, InterpolateError>> {
    let len = inner.find(|c: char| !is_name_char(c)).unwrap_or(inner.len());
    let (name, op) = inner.split_at(len);
    if name.is_empty() || !name.starts_with(is_name_start) {
        return None;
    }
    let value = vars.get(name);
    let set_and_nonempty = value.is_some_and(|v| !v.is_empty());
    let required = |message: &str| InterpolateError::Required { name: name.to_string(), message: message.to_string() };
    Some(Ok(match op {
        "" => return Some(value_of(name, vars)),
        _ if op.starts_with(":-") => if set_and_nonempty { value.unwrap_or("").to_string() } else { op[2..].to_string() },
        _ if op.starts_with('-') => value.map_or_else(|| op[1..].to_string(), str::to_string),
        _ if op.starts_with(":?") => {
            if !set_and_nonempty {
                return Some(Err(required(&op[2..])));
            }
            value.unwrap_or("").to_string()
        }
        _ if op.starts_with('?') => match value {
            Some(v) => v.to_string(),
            None => return Some(Err(required(&op[1..]))),
        },
        _ => return None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vars() -> Variables {
        Variables([("TAG", "1.2"), ("EMPTY", ""), ("PORT", "8080")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn sub(s: &str) -> Result<String, InterpolateError> {
        substitute(s, &vars())
    }

    #[test]
    fn every_form_docker_knows() {
        assert_eq!(sub("app:${TAG}").unwrap(), "app:1.2");
        assert_eq!(sub("app:$TAG-x").unwrap(), "app:1.2-x");
        assert_eq!(sub("${EMPTY:-d}|${EMPTY-d}|${NOPE-d}|${NOPE:-d}").unwrap(), "d||d|d");
        assert_eq!(sub("${TAG:?need it}").unwrap(), "1.2");
        assert_eq!(sub("$$HOME costs $$5").unwrap(), "$HOME costs $5");
        assert_eq!(
            sub("${NOPE:?set NOPE to the tag}"),
            Err(InterpolateError::Required { name: "NOPE".into(), message: "set NOPE to the tag".into() })
        );
        assert!(sub("${EMPTY?x}").is_ok(), "? only requires the variable to be set");
        assert!(matches!(sub("${EMPTY:?x}"), Err(InterpolateError::Required { .. })));
        for bad in ["${TAG", "$", "cost: 5$", "${}", "${1X}", "${TAG:x}"] {
            assert!(matches!(sub(bad), Err(InterpolateError::Syntax { .. })), "{bad}");
        }
        assert_eq!(sub("x-$NOPE"), Err(InterpolateError::Unset { name: "NOPE".into() }));
        assert_eq!(sub("${NOPE}"), Err(InterpolateError::Unset { name: "NOPE".into() }));
        assert!(sub("${NOPE}").unwrap_err().to_string().contains("${NOPE:-DEFAULT}"));
    }

    proptest! {
        // Text without `$` is left alone, and `$$` always stands for one literal `$`.
        #[test]
        fn plain_text_and_escapes_survive(s in "[^$]{0,40}") {
            prop_assert_eq!(sub(&s).unwrap(), s.clone());
            prop_assert_eq!(sub(&format!("$${s}")).unwrap(), format!("${s}"));
        }
    }
}
