//! The production [`Disk`]: one file per name in the node's data directory.
//!
//! `append` writes through the OS (buffered by the kernel, not durable), `sync` fsyncs the
//! file, `replace` writes `NAME.tmp`, fsyncs it, renames it over `NAME` and fsyncs the
//! directory, so a crash leaves either the old or the new content. Files are created 0600:
//! the data directory holds keys and the raft log.

use shoal_core::ca::unlock_key::UnlockKey;
use shoal_core::node::raft::{Disk, OpenError};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub struct FileDisk {
    dir: PathBuf,
}

/// The node's raft storage in `dir`: files encrypted at rest with the node's data key
/// (core's `EncryptedDisk`, the key made on the first start), nonces seeded from the OS.
/// `unlock` opens a data key wrapped under autolock; without it such a disk is `Locked`.
pub fn raft_disk(dir: &Path, unlock: Option<&UnlockKey>) -> Result<std::sync::Arc<dyn Disk>, OpenError> {
    let context = |e: String| OpenError::Io(io::Error::other(format!("{}: {e}", dir.display())));
    let files = FileDisk::open(dir).map_err(|e| context(e.to_string()))?;
    let entropy: [u8; 32] = crate::tls::os_random().map_err(context)?;
    match shoal_core::node::raft::encrypted_unlocked(std::sync::Arc::new(files), entropy, unlock) {
        Err(OpenError::Io(e)) => Err(context(e.to_string())),
        other => other,
    }
}

impl FileDisk {
    /// Opens (creating if needed, mode 0700) the data directory `dir`.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<FileDisk> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        Ok(FileDisk { dir })
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        // Names are ours ("raft.log", "vote", "snapshot"), never user input; refuse anything
        // that could leave the directory anyway.
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad file name {name:?}")));
        }
        Ok(self.dir.join(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
}

impl Disk for FileDisk {
    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(file)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn append(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(file)?;
        let existed = path.exists();
        let mut f = OpenOptions::new().create(true).append(true).mode(0o600).open(&path)?;
        f.write_all(bytes)?;
        if !existed {
            // A new file's directory entry must be durable too.
            self.sync_dir()?;
        }
        Ok(())
    }

    fn sync(&self, file: &str) -> io::Result<()> {
        match OpenOptions::new().append(true).open(self.path(file)?) {
            Ok(f) => f.sync_data(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn replace(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(file)?;
        let tmp = self.dir.join(format!("{file}.tmp"));
        {
            let mut f = OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        self.sync_dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn append_sync_replace_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let d = FileDisk::open(dir.path()).unwrap();
        assert_eq!(d.read("raft.log").unwrap(), None);
        d.append("raft.log", b"abc").unwrap();
        d.append("raft.log", b"def").unwrap();
        d.sync("raft.log").unwrap();
        d.replace("vote", b"v1").unwrap();
        d.replace("vote", b"v2").unwrap();
        let d2 = FileDisk::open(dir.path()).unwrap();
        assert_eq!(d2.read("raft.log").unwrap().unwrap(), b"abcdef");
        assert_eq!(d2.read("vote").unwrap().unwrap(), b"v2");
        assert!(!dir.path().join("vote.tmp").exists(), "no temporary file left behind");
        let mode = fs::metadata(dir.path().join("vote")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(d2.read("../etc/passwd").is_err());
    }

    #[test]
    fn raft_log_store_opens_on_real_files() {
        let dir = tempfile::tempdir().unwrap();
        let disk: std::sync::Arc<dyn Disk> = std::sync::Arc::new(FileDisk::open(dir.path()).unwrap());
        let log = shoal_core::node::raft::LogStore::open(disk.clone()).unwrap();
        assert_eq!(log.last_log_id(), None);
        // Garbage that is not a torn tail (a valid-looking header followed by more data) is
        // refused rather than served.
        let mut junk = vec![4u8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        junk.extend_from_slice(&[9u8; 32]);
        disk.append("raft.log", &junk).unwrap();
        assert!(shoal_core::node::raft::LogStore::open(disk).is_err());
    }
}
