//! The cluster page's read-only token: `ui-token` in the manager's data directory (mode 0600,
//! beside its key), made on first use, printed by `shoal ui token`, replaced by `shoal ui
//! token --rotate`. One per manager, never in the store: it grants reading this manager's
//! page, nothing else, and whoever reads the file could read the node's key anyway.
//!
//! The server reads the file on every check, so a rotation takes effect at once, without a
//! restart; open pages are cut at their next check (ui/mod.rs).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const TOKEN_FILE: &str = "ui-token";
const PREFIX: &str = "SHUI-1-";
/// 160 bits from the OS's generator.
const TOKEN_BYTES: usize = 20;

fn path(dir: &Path) -> PathBuf {
    dir.join(TOKEN_FILE)
}

fn new_token() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; TOKEN_BYTES];
    ring::rand::SystemRandom::new().fill(&mut b).map_err(|_| "the OS's random generator failed".to_string())?;
    Ok(format!("{PREFIX}{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()))
}

/// Writes a new token (atomically: a reader sees the old one or the new one).
pub fn rotate(dir: &Path) -> Result<String, String> {
    let token = new_token()?;
    let tmp = dir.join(format!("{TOKEN_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(token.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path(dir))
    };
    write().map_err(|e| format!("cannot write {}: {e}", path(dir).display()))?;
    Ok(token)
}

/// The token, made if there is none yet.
pub fn load_or_make(dir: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path(dir)) {
        Ok(t) if t.trim().starts_with(PREFIX) => Ok(t.trim().to_string()),
        Ok(_) => Err(format!("{} does not hold a UI token: run `shoal ui token --rotate` to make a new one", path(dir).display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => rotate(dir),
        Err(e) => Err(format!("cannot read {}: {e}", path(dir).display())),
    }
}

/// Whether `given` is the current token (compared in constant time: the answer's timing says
/// nothing about how much of a guess was right).
pub fn matches(dir: &Path, given: &str) -> bool {
    let Ok(current) = std::fs::read_to_string(path(dir)) else { return false };
    let (a, b) = (current.trim().as_bytes(), given.as_bytes());
    a.len() == b.len() && a.starts_with(PREFIX.as_bytes()) && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_made_once_kept_private_and_replaced_by_rotation() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!matches(dir.path(), "SHUI-1-"), "no file: nothing matches");
        let t = load_or_make(dir.path()).unwrap();
        assert!(t.starts_with(PREFIX) && t.len() == PREFIX.len() + 2 * TOKEN_BYTES, "{t}");
        assert_eq!(load_or_make(dir.path()).unwrap(), t, "kept across calls");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(path(dir.path())).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches(dir.path(), &t));
        assert!(!matches(dir.path(), &t[..t.len() - 1]));
        assert!(!matches(dir.path(), ""));
        let u = rotate(dir.path()).unwrap();
        assert_ne!(u, t);
        assert!(matches(dir.path(), &u) && !matches(dir.path(), &t), "the old token stops working at once");
        std::fs::write(path(dir.path()), "garbage").unwrap();
        assert!(load_or_make(dir.path()).unwrap_err().contains("--rotate"));
        assert!(!matches(dir.path(), "garbage"), "a file that holds no token grants nothing");
    }
}
