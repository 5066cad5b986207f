//! The directory task secrets and configs are written to before their containers bind-mount
//! them (`/run/shoal/secrets/<node id>`, or `SHOAL_SECRETS_DIR`).
//!
//! It should be a tmpfs, so a secret never reaches a disk. The daemon does not mount one
//! itself: the engine resolves bind mounts in its own mount namespace, and a tmpfs the daemon
//! mounted in another one (a daemon in a container, `ip netns exec`) would hide the files from
//! the engine and break every secret. Instead the daemon says at start, at WARN, when the
//! directory is not on a tmpfs, and how to fix that. What a crashed daemon left there (files
//! of tasks whose containers are gone) is wiped at start.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Creates `dir` (0711) and removes every task directory (a directory named like a task id)
/// but those named in `keep` (the tasks that still have a container on this engine, of any
/// node sharing it); nothing else in `dir` is touched. Returns how many it removed, and
/// a warning when `dir` is not on a tmpfs.
pub fn prepare(dir: &Path, keep: &BTreeSet<String>) -> Result<(usize, Option<String>), String> {
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(dir)
            .map_err(|e| format!("secrets: cannot create {}: {e} (set SHOAL_SECRETS_DIR to a writable tmpfs directory)", dir.display()))?;
    }
    let mut removed = 0;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("secrets: cannot list {}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        // Only what Shoal writes there: a directory per task, named by the task's id (25
        // base-36 characters). SHOAL_SECRETS_DIR may name a directory that holds other
        // things (/dev/shm); those are never touched.
        if keep.contains(&name) || !is_task_id(&name) || !e.path().is_dir() {
            continue;
        }
        let path = e.path();
        let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        match gone {
            Ok(()) => removed += 1,
            Err(err) => tracing::warn!(target: "shoal", "secrets: cannot remove the stale {}: {err}", path.display()),
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let warning = match fs_type_of(&mounts, &canonical) {
        Some(t) if t == "tmpfs" || t == "ramfs" => None,
        t => Some(format!(
            "secrets: {} is on {} rather than a tmpfs, so the secrets of this node's tasks reach the disk: \
             mount a tmpfs there (mount -t tmpfs -o mode=0711 tmpfs {}) or point SHOAL_SECRETS_DIR at one",
            dir.display(),
            t.unwrap_or_else(|| "an unknown file system".into()),
            dir.display()
        )),
    };
    Ok((removed, warning))
}

/// Whether `name` has the shape of a task id (swarmkit's: 25 lower-case base-36 characters).
fn is_task_id(name: &str) -> bool {
    name.len() == 25 && name.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// The file system type of the mount holding `path`, from `/proc/self/mountinfo` text: the
/// longest mount point that is `path` or one of its ancestors.
fn fs_type_of(mountinfo: &str, path: &Path) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER-OPTIONS
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(point), Some(dash)) = (fields.get(4), fields.iter().position(|f| *f == "-")) else { continue };
        let Some(fs) = fields.get(dash + 1) else { continue };
        let point = PathBuf::from(unescape(point));
        if path.starts_with(&point) {
            let depth = point.components().count();
            if best.as_ref().is_none_or(|(d, _)| depth >= *d) {
                best = Some((depth, fs.to_string()));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = u16::from(b[i + 1] - b'0') * 64 + u16::from(b[i + 2] - b'0') * 8 + u16::from(b[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 0:21 / / rw,relatime - overlay overlay rw
30 22 0:25 / /run rw,nosuid - tmpfs tmpfs rw,mode=755
31 30 0:26 / /run/shoal\\040x rw - ext4 /dev/sda1 rw
";

    #[test]
    fn the_deepest_mount_names_the_file_system() {
        assert_eq!(fs_type_of(MOUNTINFO, Path::new("/run/shoal/secrets/n1")).as_deref(), Some("tmpfs"));
        assert_eq!(fs_type_of(MOUNTINFO, Path::new("/run/shoal x/s")).as_deref(), Some("ext4"));
        assert_eq!(fs_type_of(MOUNTINFO, Path::new("/tmp/s")).as_deref(), Some("overlay"));
        assert_eq!(fs_type_of(MOUNTINFO, Path::new("/running")).as_deref(), Some("overlay"), "a prefix of a name is no ancestor");
    }

    proptest::proptest! {
        /// mountinfo is the kernel's, but a parser that panics on a line it did not expect
        /// would stop the daemon at start.
        #[test]
        fn any_mountinfo_text_is_read_without_a_panic(text in "[ -~\\\n]{0,400}", path in "/[a-z/ ]{0,20}") {
            let _ = fs_type_of(&text, Path::new(&path));
            let _ = unescape(&text);
        }
    }

    #[test]
    fn stale_entries_go_and_live_tasks_stay() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("secrets");
        let (live, dead) = ("a".repeat(25), "0123456789abcdefghijklmno".to_string());
        std::fs::create_dir_all(dir.join(&live)).unwrap();
        std::fs::write(dir.join(&live).join("secret-0"), "pw").unwrap();
        std::fs::create_dir_all(dir.join(&dead)).unwrap();
        std::fs::write(dir.join(&dead).join("secret-0"), "pw").unwrap();
        // Not Shoal's: a file and a directory of another shape stay (the directory may be
        // /dev/shm).
        std::fs::write(dir.join("docker.sock"), "x").unwrap();
        std::fs::create_dir_all(dir.join("Other-Dir")).unwrap();
        std::fs::write(dir.join("b".repeat(25)), "a file, not a task's directory").unwrap();
        let keep = BTreeSet::from([live.clone()]);
        let (removed, _) = prepare(&dir, &keep).unwrap();
        assert_eq!(removed, 1);
        assert!(dir.join(&live).join("secret-0").exists());
        assert!(!dir.join(&dead).exists());
        assert!(dir.join("docker.sock").exists() && dir.join("Other-Dir").exists() && dir.join("b".repeat(25)).exists());
    }
}
