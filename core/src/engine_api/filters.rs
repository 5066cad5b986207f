//! List filters as docker clients send them: `filters={"name":{"web":true}}` (the docker CLI,
//! API ≥ 1.22) or `{"name":["web"]}` (docker-py and older clients). Values of one key are
//! alternatives (any may match); different keys must all match; `label` filters must all
//! match (`key` = the label exists, `key=value` = it has that value), as moby's `filters.Args`.

use super::ApiError;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    map: BTreeMap<String, BTreeSet<String>>,
}

impl Filters {
    /// Parses the `filters` query parameter (already URL-decoded); None or "" = no filter.
    pub fn parse(raw: Option<&str>) -> Result<Filters, ApiError> {
        let raw = raw.map(str::trim).unwrap_or("");
        if raw.is_empty() {
            return Ok(Filters::default());
        }
        let bad = |e: String| ApiError::BadRequest(format!("invalid filter: {e}: give JSON such as {{\"name\":{{\"web\":true}}}}"));
        let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| bad("not a JSON object".into()))?;
        let mut map = BTreeMap::new();
        for (k, vals) in obj {
            let set: BTreeSet<String> = match vals {
                serde_json::Value::Object(o) => o.iter().filter(|(_, on)| on.as_bool() == Some(true)).map(|(v, _)| v.clone()).collect(),
                serde_json::Value::Array(a) => {
                    a.iter().map(|x| x.as_str().map(str::to_string).ok_or_else(|| bad(format!("values of {k:?} must be strings")))).collect::<Result<_, _>>()?
                }
                _ => return Err(bad(format!("values of {k:?} must be an object or an array"))),
            };
            map.insert(k.clone(), set);
        }
        Ok(Filters { map })
    }

    /// Filters as the docker CLI takes them, `--filter KEY=VALUE` (repeatable; `label=k=v`).
    pub fn from_cli(args: &[String]) -> Result<Filters, ApiError> {
        let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for a in args {
            let (k, v) = a
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| ApiError::BadRequest(format!("bad format of filter (expected name=value): {a:?}, e.g. --filter name=web")))?;
            map.entry(k.trim().to_ascii_lowercase()).or_default().insert(v.to_string());
        }
        Ok(Filters { map })
    }

    /// Refuses keys outside `allowed`, as dockerd does ("invalid filter 'x'").
    pub fn check_keys(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(ApiError::BadRequest(format!("invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|s| !s.is_empty())
    }

    pub fn values(&self, key: &str) -> impl Iterator<Item = &str> {
        self.map.get(key).into_iter().flatten().map(String::as_str)
    }

    /// No value for `key`, or one that `pred` accepts.
    pub fn any(&self, key: &str, mut pred: impl FnMut(&str) -> bool) -> bool {
        !self.contains(key) || self.values(key).any(&mut pred)
    }

    /// Every `key` filter (`name` or `name=value`) matches `labels`.
    pub fn labels_match(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.values(key).all(|f| match f.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(f),
        })
    }

    /// A boolean filter such as `_up-to-date` (set to "true" or "1").
    pub fn flag(&self, key: &str) -> bool {
        self.values(key).any(|v| v == "true" || v == "1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // docker CLI: `--filter name=web --filter label=tier=front`; a flag without `=` is refused.
    #[test]
    fn cli_filters_are_key_value_pairs_and_labels_keep_their_own_equals_sign() {
        let f = Filters::from_cli(&["name=web".into(), "label=tier=front".into(), "NAME=api".into()]).unwrap();
        assert_eq!(f.values("name").collect::<Vec<_>>(), ["api", "web"]);
        let labels: BTreeMap<String, String> = [("tier".to_string(), "front".to_string())].into();
        assert!(f.labels_match("label", &labels));
        let e = Filters::from_cli(&["web".into()]).unwrap_err().to_string();
        assert!(e.contains("expected name=value") && e.contains("--filter name=web"), "{e}");
        assert!(Filters::from_cli(&["=x".into()]).is_err());
        assert!(Filters::from_cli(&[]).unwrap().values("name").next().is_none());
    }

    // Both shapes clients send parse to the same filter (FACTS: docker CLI vs docker-py).
    #[test]
    fn both_shapes() {
        let a = Filters::parse(Some(r#"{"name":{"web":true},"label":{"a=b":true}}"#)).unwrap();
        let b = Filters::parse(Some(r#"{"name":["web"],"label":["a=b"]}"#)).unwrap();
        assert_eq!(a, b);
        assert!(a.any("name", |n| n == "web"));
        assert!(!a.any("name", |n| n == "db"));
        assert!(a.any("id", |_| false), "an absent key matches everything");
    }

    #[test]
    fn labels_all_must_match() {
        let f = Filters::parse(Some(r#"{"label":{"a=b":true,"c":true}}"#)).unwrap();
        let l = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(f.labels_match("label", &l(&[("a", "b"), ("c", "")])));
        assert!(!f.labels_match("label", &l(&[("a", "b")])));
        assert!(!f.labels_match("label", &l(&[("a", "x"), ("c", "1")])));
    }

    #[test]
    fn bad_filters_are_refused_with_what_to_send() {
        assert!(matches!(Filters::parse(Some("{")), Err(ApiError::BadRequest(_))));
        assert!(matches!(Filters::parse(Some(r#"{"name":"web"}"#)), Err(ApiError::BadRequest(_))));
        let f = Filters::parse(Some(r#"{"nope":["x"]}"#)).unwrap();
        assert_eq!(f.check_keys(&["name"]), Err(ApiError::BadRequest("invalid filter 'nope'".into())));
        assert!(Filters::parse(None).unwrap().check_keys(&[]).is_ok());
    }
}
