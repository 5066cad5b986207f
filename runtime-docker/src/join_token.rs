//! The join token of `shoal swarm join`: where it comes from, and keeping it out of sight.
//!
//! A token is the swarm's admission secret. `--token T` is docker's flag, but `shoal swarm join`
//! runs the daemon in the foreground, so a token on its command line would stay in `ps` output
//! (world-readable) for the daemon's whole life. The token may come from `--token T`,
//! `--token -` (standard input), `--token-file FILE`, or the environment (`SHOAL_JOIN_TOKEN`);
//! when it came on the command line or from the environment, the process re-executes itself
//! once, same pid, with `--token -` in its place and the token on a pipe as standard input.

use std::io::{Read, Write};
use std::path::Path;

/// The environment variable a token may come from.
pub const TOKEN_ENV: &str = "SHOAL_JOIN_TOKEN";
/// A token is ~90 bytes; a file or pipe longer than this is not one.
const TOKEN_BYTES_MAX: u64 = 4096;

/// Re-executes this program when its command line (`--token T`, `--token=T`) or environment
/// holds the join token: the new image gets `--token -` and reads the token from a pipe.
/// Returns only when there is nothing to hide; Err when the re-exec failed.
pub fn hide_from_argv() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--token" || a.starts_with("--token="));
    let (token, span) = match at {
        Some(i) if args[i] == "--token" => match args.get(i + 1) {
            Some(t) => (t.clone(), 2),
            None => return Ok(()), // clap reports the missing value
        },
        Some(i) => (args[i]["--token=".len()..].to_string(), 1),
        None => match std::env::var(TOKEN_ENV) {
            Ok(t) if !args.iter().any(|a| a == "--token-file" || a.starts_with("--token-file=")) => (t, 0),
            _ => return Ok(()),
        },
    };
    if token == "-" {
        return Ok(());
    }
    if token.len() as u64 > TOKEN_BYTES_MAX {
        // Nobody reads the pipe before the exec: a write past its buffer would block.
        return Err(format!("the join token given is longer than {TOKEN_BYTES_MAX} bytes: that is not a join token"));
    }
    let mut argv = args.clone();
    match at {
        Some(i) => {
            argv.splice(i..i + span, ["--token".to_string(), "-".to_string()]);
        }
        None => argv.extend(["--token".to_string(), "-".to_string()]),
    }
    let (reader, mut writer) = std::io::pipe().map_err(|e| format!("cannot hide the join token: pipe: {e}"))?;
    // Far below a pipe's buffer: the write cannot block with nobody reading yet.
    writer.write_all(token.trim().as_bytes()).and_then(|_| writer.write_all(b"\n")).map_err(|e| format!("cannot hide the join token: {e}"))?;
    drop(writer);
    let exe = std::env::current_exe().map_err(|e| format!("cannot hide the join token: {e}"))?;
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(exe).arg0(&argv[0]).args(&argv[1..]).env_remove(TOKEN_ENV).stdin(reader).exec();
    Err(format!("cannot hide the join token: re-exec failed: {err}"))
}

/// The token `swarm join` was given: `--token T`, `--token -` (standard input, to its end),
/// `--token-file FILE`, else `SHOAL_JOIN_TOKEN`.
pub fn resolve(token: Option<&str>, token_file: Option<&Path>) -> Result<String, String> {
    let text = match (token, token_file) {
        (Some(_), Some(_)) => return Err("give the join token once: --token or --token-file, not both".into()),
        (Some("-"), None) => read_bounded(std::io::stdin().lock(), "standard input")?,
        (Some(t), None) => t.to_string(),
        (None, Some(f)) => {
            let file = std::fs::File::open(f).map_err(|e| format!("--token-file {}: {e}", f.display()))?;
            read_bounded(file, &f.display().to_string())?
        }
        (None, None) => std::env::var(TOKEN_ENV).map_err(|_| {
            format!("swarm join needs the swarm's join token: --token TOKEN, --token - (standard input), --token-file FILE or {TOKEN_ENV}")
        })?,
    };
    let t = text.trim();
    if t.is_empty() {
        return Err("the join token is empty: give the token `shoal swarm join-token worker` prints on a manager".into());
    }
    Ok(t.to_string())
}

fn read_bounded(r: impl Read, what: &str) -> Result<String, String> {
    let mut s = String::new();
    r.take(TOKEN_BYTES_MAX + 1).read_to_string(&mut s).map_err(|e| format!("cannot read the join token from {what}: {e}"))?;
    if s.len() as u64 > TOKEN_BYTES_MAX {
        return Err(format!("{what} holds more than {TOKEN_BYTES_MAX} bytes: that is not a join token"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_comes_from_the_flag_a_file_or_nowhere_with_a_clear_error() {
        assert_eq!(resolve(Some(" SWMTKN-1-abc \n"), None).unwrap(), "SWMTKN-1-abc");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "SHTKN-1-x-y\n").unwrap();
        assert_eq!(resolve(None, Some(&f)).unwrap(), "SHTKN-1-x-y");
        assert!(resolve(Some("a"), Some(&f)).unwrap_err().contains("not both"));
        std::fs::write(&f, "\n").unwrap();
        assert!(resolve(None, Some(&f)).unwrap_err().contains("empty"));
        std::fs::write(&f, vec![b'x'; 5000]).unwrap();
        assert!(resolve(None, Some(&f)).unwrap_err().contains("not a join token"));
        assert!(resolve(None, Some(&dir.path().join("absent"))).unwrap_err().contains("--token-file"));
    }
}
