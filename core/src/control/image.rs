//! Image references, checked at the door by docker's reference grammar (distribution's
//! `reference` package): `[domain[:port]/]path[:tag][@algorithm:hex]`, path components
//! lowercase alphanumerics joined by `.`, `_`, `__` or dashes, a tag of at most 128 word
//! characters, dots and dashes, the name at most 255 characters. A reference docker would
//! refuse is refused before a task exists (otherwise every task would be rejected forever).
//!
//! Written by hand rather than with a regex crate: the grammar is a few rules and the core has
//! no regex dependency; the proptests below hold it to the grammar.

/// Why `image` is not a reference, in docker's words, or Ok.
pub fn check_image_reference(image: &str) -> Result<(), String> {
    let invalid = || format!("invalid reference format: {image:?} is not an image reference (e.g. redis:7, registry:5000/team/app:1.2)");
    if image.is_empty() {
        return Err("image reference must be provided: give the service an image, e.g. redis:7".into());
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        if !valid_digest(d) {
            return Err(format!("invalid reference format: digest {d:?} of {image:?} is not ALGORITHM:HEX (e.g. sha256: and 64 hex digits)"));
        }
    }
    // A tag follows the last ':' that comes after the last '/' (a ':' before it is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        if !valid_tag(t) {
            return Err(format!("invalid reference format: tag {t:?} of {image:?}: use up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"));
        }
    }
    if name.is_empty() || name.len() > 255 {
        return Err(invalid());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    // The first part is a domain when it looks like one (docker's rule: it has a '.' or a
    // ':', or is "localhost") and more parts follow.
    if parts.len() > 1 && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost") {
        if !valid_domain(parts[0]) {
            return Err(invalid());
        }
        parts.remove(0);
    }
    for p in &parts {
        if p.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!("invalid reference format: repository name ({name}) must be lowercase"));
        }
        if !valid_path_component(p) {
            return Err(invalid());
        }
    }
    Ok(())
}

fn alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*`, separator `[_.]|__|[-]+`.
fn valid_path_component(p: &str) -> bool {
    let b = p.as_bytes();
    if b.is_empty() || !alnum_lower(b[0] as char) || !alnum_lower(b[b.len() - 1] as char) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if alnum_lower(c) {
            i += 1;
            continue;
        }
        // A separator run, then an alphanumeric must follow (the last byte is one).
        let start = i;
        while i < b.len() && !alnum_lower(b[i] as char) {
            i += 1;
        }
        let sep = &p[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.chars().all(|c| c == '-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !t.is_empty() && t.len() <= 128 && t.chars().next().is_some_and(word) && t.chars().all(|c| word(c) || c == '.' || c == '-')
}

/// `host[:port]`: dot-separated components of alphanumerics and inner dashes.
fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            !c.is_empty() && c.chars().all(|x| x.is_ascii_alphanumeric() || x == '-') && !c.starts_with('-') && !c.ends_with('-')
        })
}

/// `algorithm:hex`: algorithm components `[A-Za-z][A-Za-z0-9]*` joined by `+._-`, at least 32
/// hex digits.
fn valid_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else { return false };
    let alg_ok = !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|c| c.chars().next().is_some_and(|x| x.is_ascii_alphabetic()) && c.chars().all(|x| x.is_ascii_alphanumeric()));
    alg_ok && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn docker_accepts_these_and_refuses_those() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        for ok in [
            "redis",
            "redis:7",
            "shoal-app:1",
            "library/nginx:1.25-alpine",
            "localhost:5000/team/app:v1.2_3",
            "registry.example.com/a/b__c/d-e:latest",
            "my.registry:443/x",
            &format!("shoal-app:1@{digest}"),
            &format!("app@{digest}"),
        ] {
            assert_eq!(check_image_reference(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("Shoal-App:1!!", "tag"),
            ("Shoal-App:1", "must be lowercase"),
            ("app:", "tag"),
            ("app:-x", "tag"),
            ("-app", "invalid reference format"),
            ("app..x", "invalid reference format"),
            ("a/b/", "invalid reference format"),
            ("app@sha256:abc", "digest"),
            ("my app", "invalid reference format"),
            ("", "must be provided"),
        ] {
            let e = check_image_reference(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,5}((\\.|_|__|-{1,2})[a-z0-9]{1,5}){0,2}"
    }

    proptest! {
        // Every reference the grammar makes is accepted.
        #[test]
        fn grammar_references_are_accepted(
            domain in proptest::option::of(("[a-z][a-z0-9]{0,5}\\.[a-z]{2,3}", proptest::option::of(1u16..65535))),
            path in proptest::collection::vec(component(), 1..4),
            tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        ) {
            let mut r = String::new();
            if let Some((host, port)) = domain {
                r += &host;
                if let Some(p) = port {
                    r += &format!(":{p}");
                }
                r += "/";
            }
            let mut path = path;
            if r.is_empty() && path.len() > 1 {
                // Docker reads a first part with a '.' as a registry's domain.
                path[0] = path[0].replace('.', "_");
            }
            r += &path.join("/");
            if let Some(t) = tag {
                r += &format!(":{t}");
            }
            prop_assert_eq!(check_image_reference(&r), Ok(()), "{}", r);
        }

        // An uppercase letter in the repository path is always refused.
        #[test]
        fn uppercase_paths_are_refused(path in component(), at in 0usize..5) {
            let mut chars: Vec<char> = path.chars().collect();
            let i = at % chars.len();
            if chars[i].is_ascii_lowercase() {
                chars[i] = chars[i].to_ascii_uppercase();
                let r: String = chars.into_iter().collect();
                prop_assert!(check_image_reference(&r).is_err(), "{}", r);
            }
        }
    }
}
