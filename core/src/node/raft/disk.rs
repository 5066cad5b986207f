use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

/// Durable storage of one node, as named files. The raft log store and the state machine
/// reach the disk only through this trait: the simulator implements it in memory with crash
/// semantics, production on real files with fsync.
///
/// Contract: `append` may buffer; only `sync` makes appended bytes durable (a crash before it
/// may lose them, or keep a torn prefix). `replace` is atomic and durable when it returns
/// (write a temporary file, fsync, rename, fsync the directory).
pub trait Disk: Send + Sync + 'static {
    /// The file's content (including appended but unsynced bytes), `None` if it does not exist.
    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>>;
    fn append(&self, file: &str, bytes: &[u8]) -> io::Result<()>;
    fn sync(&self, file: &str) -> io::Result<()>;
    fn replace(&self, file: &str, bytes: &[u8]) -> io::Result<()>;
    /// How long a sync takes. The simulator returns a virtual latency, slept before each sync,
    /// so that a crash can land between a write and its sync; real disks return zero (the
    /// fsync itself takes the time).
    fn sync_latency(&self) -> Duration {
        Duration::ZERO
    }
    /// A crash point: the storage code reached `point` (e.g. a vote became durable: openraft
    /// has been told so). The simulator may crash the node right after it and checks the
    /// promise across restarts; real disks ignore it (FoundationDB's buggify idea, off outside
    /// simulation).
    fn crash_point(&self, _point: CrashPoint) {}
    /// Autolock: wrap the data key this disk encrypts with under `unlock` (none: keep it
    /// plain), as the Cluster change at raft index `index` asks (an older index than the last
    /// one followed is ignored). The state machine calls it whenever it applies a change of the
    /// swarm's unlock key; disks that encrypt nothing have nothing to wrap.
    fn set_unlock_key(&self, _unlock: Option<&crate::ca::unlock_key::UnlockKey>, _index: u64) -> io::Result<()> {
        Ok(())
    }
}

/// Where the storage code may be crashed, with what it just made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// A vote was saved and openraft was told so.
    VoteSaved { term: u64, voted_for: Option<u64> },
}

/// Wraps a whole-file payload with a crc32 so a corrupted `vote` or `snapshot` file is
/// detected on open instead of being trusted: `[crc32 u32 LE][payload]`.
pub fn seal(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Checks and strips [`seal`]'s checksum; `what` names the file in the error.
pub fn unseal<'a>(what: &str, bytes: &'a [u8]) -> io::Result<&'a [u8]> {
    if bytes.len() < 4 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{what}: file too short")));
    }
    let (crc, payload) = bytes.split_at(4);
    if u32::from_le_bytes(crc.try_into().expect("4 bytes")) != crc32fast::hash(payload) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what}: checksum mismatch: the file is corrupted; refusing to use it"),
        ));
    }
    Ok(payload)
}

/// A disk that lives in memory and never crashes: for unit tests of the storage code.
#[derive(Default)]
pub struct MemDisk {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl Disk for MemDisk {
    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.files.lock().unwrap().get(file).cloned())
    }
    fn append(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        self.files.lock().unwrap().entry(file.to_string()).or_default().extend_from_slice(bytes);
        Ok(())
    }
    fn sync(&self, _file: &str) -> io::Result<()> {
        Ok(())
    }
    fn replace(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        self.files.lock().unwrap().insert(file.to_string(), bytes.to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_detects_any_flipped_bit() {
        let sealed = seal(b"{\"term\":3}");
        assert_eq!(unseal("vote", &sealed).unwrap(), b"{\"term\":3}");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            let e = unseal("vote", &bad).unwrap_err();
            assert!(e.to_string().contains("checksum mismatch"), "{e}");
        }
        assert!(unseal("vote", b"ab").is_err());
    }
}
