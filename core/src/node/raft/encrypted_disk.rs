//! Encryption at rest: a [`Disk`] that encrypts every write to the disk below it with the
//! node's data key (DEK), so the raft log, its snapshots and the vote — and with them every
//! secret's and config's data written through raft — never reach the medium in plaintext.
//!
//! Format: each `append` and each `replace` becomes one frame (or several, of at most 64 MiB
//! of plaintext each) `[magic][len u32 LE][nonce 12][ciphertext][tag 16]` (`len` counts
//! nonce, ciphertext and tag; the magic says which of the two wrote it: "SHE1" an append,
//! "SHR1" a replace), sealed with AES-256-GCM (ring) under the DEK, with the file's name as associated
//! data (a frame moved to another file does not open). Nonces are random (96 bits from a
//! ChaCha20 stream seeded with fresh entropy at every start), never a counter that a crash
//! could rewind. A read opens every frame and returns the plaintext the layer above wrote, in
//! order. As in the log's own records: a damaged *last* frame of an append is a torn write that
//! was never acknowledged (dropped, and the file rewritten without it); a damaged frame followed
//! by more, or a damaged frame of a replace (replaces are atomic), is corruption, and the read
//! fails. A missing data key beside encrypted files stops the node rather than making a new one.
//!
//! The DEK: 32 random bytes made at the first start and kept in [`DEK_FILE`] on the disk below,
//! sealed with a checksum, with the raft index of the Cluster change it follows. Without
//! autolock it is there in plaintext (`[DEK 32][index u64 LE]`): that protects copies of the log
//! and snapshot files, not a stolen data directory. With autolock it is wrapped
//! (`[b"SHK1"][index u64 LE][nonce 12][AES-256-GCM of the DEK][tag 16]`, the index bound as
//! associated data) under a key-encryption key derived with HKDF-SHA256 from the swarm's
//! unlock key: a restarted manager cannot open its files ([`OpenError::Locked`]) until `swarm
//! unlock` gives it the key. The state machine re-wraps the DEK ([`Disk::set_unlock_key`])
//! whenever it applies a newer unlock key (autolock turned on or off, or the key rotated), so
//! the previous key stops opening this file from then on; a change older than the one the file
//! follows (a log replayed after a restart) never re-wraps it back. The formats differ in
//! length (32 or 40 bytes plain, 72 wrapped), never by a prefix a random key could spell.
//!
//! A new DEK when autolock turns on (as swarm makes one): a plain `raft.dek` copied before
//! autolock must not open what is written after. Crash-safe in three durable steps: the file
//! first holds both keys wrapped (`[b"SHK2"][index][nonce][AES-256-GCM of new ‖ old][tag]`,
//! 104 bytes), then every raft file is rewritten under the new key (each one atomic replace),
//! then the file holds the new key alone. A start that finds both keys reads each file with
//! whichever opens its first frame and finishes the change before serving. Unlock-key
//! rotations and autolock turned off keep the DEK (they rewrite the key's wrapping only), so
//! a wrapped copy under a retired unlock key still opens later files if that retired key is
//! known too.
//!
//! A file written before encryption (no magic) is read as plaintext once and rewritten
//! encrypted at once: data directories of earlier versions migrate on their first start.

use super::{seal, unseal, CrashPoint, Disk};
use crate::ca::unlock_key::UnlockKey;
use ring::hkdf;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The data key's file on the disk below.
pub const DEK_FILE: &str = "raft.dek";
/// A frame an `append` wrote: the last one may be torn (a crash before its sync).
const MAGIC_APPEND: &[u8; 4] = b"SHE1";
/// A frame a `replace` wrote: replaces are atomic, so a damaged one is never a torn write.
const MAGIC_REPLACE: &[u8; 4] = b"SHR1";
const HEADER_BYTES: usize = 8;
const TAG_BYTES: usize = 16;
/// Plaintext per frame at most: a larger write becomes several frames (reads concatenate
/// them), so every frame is far below what a length field and a read may hold.
const FRAME_PLAINTEXT_MAX: usize = 64 << 20;
const FRAME_BYTES_MAX: usize = FRAME_PLAINTEXT_MAX + NONCE_LEN + TAG_BYTES;
/// The raft files this disk holds, looked at when the data key is missing.
const RAFT_FILES: [&str; 3] = ["raft.log", "vote", "snapshot"];
/// A data key wrapped under an unlock key's KEK (autolock).
const MAGIC_WRAPPED: &[u8; 4] = b"SHK1";
/// A new data key and the one it replaces, wrapped together while the files move to the new.
const MAGIC_REKEYING: &[u8; 4] = b"SHK2";
const DEK_BYTES: usize = 32;
const INDEX_BYTES: usize = 8;
const WRAPPED_BYTES: usize = 4 + INDEX_BYTES + NONCE_LEN + DEK_BYTES + TAG_BYTES;
const REKEYING_BYTES: usize = WRAPPED_BYTES + DEK_BYTES;

/// Why the data key could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("this manager is locked: the swarm is autolocked and its data key is wrapped with the unlock key; run `swarm unlock` and give the unlock key that was current when this manager stopped")]
    Locked,
    #[error("swarm could not be unlocked: invalid key provided (not the unlock key this manager's data was locked with; after a rotation, a manager that was down needs the previous key)")]
    WrongKey,
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<OpenError> for io::Error {
    fn from(e: OpenError) -> io::Error {
        match e {
            OpenError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::PermissionDenied, other.to_string()),
        }
    }
}

pub struct EncryptedDisk {
    inner: Arc<dyn Disk>,
    /// The data key, and while files move to a new one, the key they may still be under.
    /// Every read and write holds it shared; a change of data key holds it alone, so no
    /// append lands between a file's rewrite and the switch.
    keys: std::sync::RwLock<Keys>,
    nonces: Mutex<ChaCha20Rng>,
    /// The unlock key the DEK is wrapped with on the disk below (none: stored plain), and the
    /// raft index of the Cluster change that put it there.
    wrapped_with: Mutex<(Option<UnlockKey>, u64)>,
}

struct Keys {
    dek: [u8; DEK_BYTES],
    key: LessSafeKey,
    old: Option<([u8; DEK_BYTES], LessSafeKey)>,
}

fn aead(dek: &[u8; DEK_BYTES]) -> io::Result<LessSafeKey> {
    Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, dek).map_err(|_| corrupt("the data key is unusable".into()))?))
}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// The disk below `inner`'s files encrypted with its data key (made from `entropy` where it
/// has none yet). `entropy` must be fresh at every start: it also seeds the nonces.
pub fn encrypted(inner: Arc<dyn Disk>, entropy: [u8; 32]) -> io::Result<Arc<dyn Disk>> {
    Ok(Arc::new(EncryptedDisk::open(inner, entropy)?))
}

/// [`encrypted`] for a manager of an autolocked swarm: `unlock` opens a wrapped data key.
pub fn encrypted_unlocked(inner: Arc<dyn Disk>, entropy: [u8; 32], unlock: Option<&UnlockKey>) -> Result<Arc<dyn Disk>, OpenError> {
    Ok(Arc::new(EncryptedDisk::open_with(inner, entropy, unlock)?))
}

/// The key-encryption key an unlock key stands for (HKDF-SHA256; the salt names its use, so
/// the same key bytes used for anything else would give another key).
fn kek(unlock: &UnlockKey) -> LessSafeKey {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"shoal raft.dek kek v1").extract(unlock.bytes());
    let info = [DEK_FILE.as_bytes()];
    let okm = prk.expand(&info, &AES_256_GCM).expect("32 bytes is within HKDF-SHA256's output");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// The associated data of a wrapped DEK: the file's name and the index it follows.
fn wrap_aad(index: u64) -> Vec<u8> {
    [DEK_FILE.as_bytes(), &index.to_le_bytes()].concat()
}

/// The DEK file's content for `dek` (and, while files move to it, the `old` one) following
/// the Cluster change at `index`, wrapped under `unlock` if given (two keys are always
/// wrapped: only autolock turning on makes a new key).
fn dek_file(dek: &[u8; DEK_BYTES], old: Option<&[u8; DEK_BYTES]>, unlock: Option<&UnlockKey>, index: u64, nonce: [u8; NONCE_LEN]) -> Vec<u8> {
    let Some(unlock) = unlock else {
        debug_assert!(old.is_none(), "a change of data key is wrapped");
        return seal(&[&dek[..], &index.to_le_bytes()].concat());
    };
    let mut body = dek.to_vec();
    body.extend_from_slice(old.map_or(&[][..], |o| &o[..]));
    kek(unlock)
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(wrap_aad(index)), &mut body)
        .expect("AES-GCM seals 64 bytes");
    let mut out = Vec::with_capacity(REKEYING_BYTES);
    out.extend_from_slice(if old.is_some() { MAGIC_REKEYING } else { MAGIC_WRAPPED });
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    debug_assert_eq!(out.len(), if old.is_some() { REKEYING_BYTES } else { WRAPPED_BYTES });
    seal(&out)
}

/// Whether a DEK file's (unsealed) content is a wrapped key (or a wrapped pair, while the
/// files move to a new key): by its length and magic.
fn is_wrapped(content: &[u8]) -> bool {
    (content.len() == WRAPPED_BYTES && content.starts_with(MAGIC_WRAPPED)) || (content.len() == REKEYING_BYTES && content.starts_with(MAGIC_REKEYING))
}

/// A DEK file as opened: the key, the one files may still be under (a change of key a crash
/// cut short), whether it was wrapped, and the index it follows.
type OpenedDek = ([u8; DEK_BYTES], Option<[u8; DEK_BYTES]>, bool, u64);

/// The DEK in a DEK file's (unsealed) content, opened with `unlock` if it is wrapped.
fn open_dek(content: &[u8], unlock: Option<&UnlockKey>) -> Result<OpenedDek, OpenError> {
    let damaged = || OpenError::Io(corrupt(format!("{DEK_FILE}: not a data key: the file is damaged")));
    let index_at = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    match content.len() {
        DEK_BYTES => Ok((content.try_into().expect("32 bytes"), None, false, 0)),
        n if n == DEK_BYTES + INDEX_BYTES => Ok((content[..DEK_BYTES].try_into().expect("32 bytes"), None, false, index_at(&content[DEK_BYTES..]))),
        _ if is_wrapped(content) => {
            let unlock = unlock.ok_or(OpenError::Locked)?;
            let index = index_at(&content[4..4 + INDEX_BYTES]);
            let rest = &content[4 + INDEX_BYTES..];
            let nonce: [u8; NONCE_LEN] = rest[..NONCE_LEN].try_into().expect("12 bytes");
            let mut body = rest[NONCE_LEN..].to_vec();
            let plain = kek(unlock)
                .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(wrap_aad(index)), &mut body)
                .map_err(|_| OpenError::WrongKey)?;
            let dek: [u8; DEK_BYTES] = plain.get(..DEK_BYTES).and_then(|k| k.try_into().ok()).ok_or_else(damaged)?;
            let old = match plain.len() {
                DEK_BYTES => None,
                n if n == 2 * DEK_BYTES => Some(plain[DEK_BYTES..].try_into().expect("32 bytes")),
                _ => return Err(damaged()),
            };
            Ok((dek, old, true, index))
        }
        _ => Err(damaged()),
    }
}

/// A frame's header at `off` of `raw`: (written by a replace, body length), once the header
/// is whole; Err when it is not a frame header.
fn header(file: &str, raw: &[u8], off: usize) -> io::Result<Option<(bool, usize)>> {
    let rest = &raw[off..];
    if rest.len() < HEADER_BYTES {
        return Ok(None);
    }
    let replaced = match &rest[..4] {
        m if m == MAGIC_APPEND => false,
        m if m == MAGIC_REPLACE => true,
        _ => return Err(corrupt(format!("{file}: frame at byte {off} has no header: the file is corrupted; refusing to use it"))),
    };
    let len = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes")) as usize;
    if !(NONCE_LEN + TAG_BYTES..=FRAME_BYTES_MAX).contains(&len) {
        return Err(corrupt(format!("{file}: frame at byte {off} has invalid length {len}: the file is corrupted")));
    }
    Ok(Some((replaced, len)))
}

fn is_encrypted(raw: &[u8]) -> bool {
    raw.starts_with(MAGIC_APPEND) || raw.starts_with(MAGIC_REPLACE)
}

impl EncryptedDisk {
    pub fn open(inner: Arc<dyn Disk>, entropy: [u8; 32]) -> io::Result<EncryptedDisk> {
        Ok(EncryptedDisk::open_with(inner, entropy, None)?)
    }

    /// Opens the data key, wrapped or not: a wrapped one needs `unlock` (the key it was
    /// wrapped with), else [`OpenError::Locked`].
    pub fn open_with(inner: Arc<dyn Disk>, entropy: [u8; 32], unlock: Option<&UnlockKey>) -> Result<EncryptedDisk, OpenError> {
        let mut rng = ChaCha20Rng::from_seed(entropy);
        let (dek, old, wrapped, index): OpenedDek = match inner.read(DEK_FILE)? {
            Some(bytes) => open_dek(unseal(DEK_FILE, &bytes)?, unlock)?,
            None => {
                // A new key for files sealed under a lost one would make them unreadable for
                // good (and a torn-tail repair could then drop what it cannot open).
                for f in RAFT_FILES {
                    if inner.read(f)?.is_some_and(|b| is_encrypted(&b)) {
                        return Err(OpenError::Io(corrupt(format!(
                            "{f} is encrypted but the data key {DEK_FILE} is missing: restore it from the backup it was taken with; refusing to start"
                        ))));
                    }
                }
                let dek: [u8; DEK_BYTES] = rng.gen();
                inner.replace(DEK_FILE, &dek_file(&dek, None, None, 0, [0; NONCE_LEN]))?;
                inner.sync(DEK_FILE)?;
                (dek, None, false, 0)
            }
        };
        let old = match old {
            Some(o) => Some((o, aead(&o)?)),
            None => None,
        };
        let keys = std::sync::RwLock::new(Keys { dek, key: aead(&dek)?, old });
        let wrapped_with = Mutex::new((if wrapped { unlock.cloned() } else { None }, index));
        let disk = EncryptedDisk { inner, keys, nonces: Mutex::new(rng), wrapped_with };
        // A change of data key a crash cut short: finished before anything is served.
        if wrapped && disk.keys.read().unwrap().old.is_some() {
            disk.change_data_key(unlock, index)?;
        }
        Ok(disk)
    }

    /// Moves every raft file to a new data key (autolock turned on), wrapped under `unlock`:
    /// both keys in [`DEK_FILE`] first, then each file rewritten under the new key, then the
    /// new key alone. A change a crash cut short is finished with the key it had made.
    fn change_data_key(&self, unlock: Option<&UnlockKey>, index: u64) -> io::Result<()> {
        let Some(unlock) = unlock else { return Ok(()) };
        let mut keys = self.keys.write().unwrap();
        if keys.old.is_none() {
            let new: [u8; DEK_BYTES] = self.nonces.lock().unwrap().gen();
            let nonce: [u8; NONCE_LEN] = self.nonces.lock().unwrap().gen();
            self.inner.replace(DEK_FILE, &dek_file(&new, Some(&keys.dek), Some(unlock), index, nonce))?;
            self.inner.sync(DEK_FILE)?;
            let previous = std::mem::replace(&mut *keys, Keys { dek: new, key: aead(&new)?, old: None });
            keys.old = Some((previous.dek, previous.key));
        }
        for f in RAFT_FILES {
            let Some(raw) = self.inner.read(f)? else { continue };
            if raw.is_empty() || !is_encrypted(&raw) {
                continue;
            }
            let key = self.key_of(&keys, f, &raw);
            let (plain, torn) = self.open_frames(key, f, &raw)?;
            if let Some(intact) = torn {
                tracing::debug!(target: "shoal::disk", file = f, offset = intact, "dropping a torn last frame");
            }
            self.inner.replace(f, &self.frames(&keys.key, f, &plain, MAGIC_REPLACE))?;
            self.inner.sync(f)?;
        }
        let nonce: [u8; NONCE_LEN] = self.nonces.lock().unwrap().gen();
        self.inner.replace(DEK_FILE, &dek_file(&keys.dek, None, Some(unlock), index, nonce))?;
        self.inner.sync(DEK_FILE)?;
        keys.old = None;
        tracing::info!(target: "shoal::disk", "the raft files moved to a new data key (autolock turned on)");
        Ok(())
    }

    /// The key `raw` (frames of `file`) is under: the data key, or during a change of data
    /// key the previous one when only that opens its first frame.
    fn key_of<'k>(&self, keys: &'k Keys, file: &str, raw: &[u8]) -> &'k LessSafeKey {
        let Some((_, old)) = &keys.old else { return &keys.key };
        let opens = |key: &LessSafeKey| -> bool {
            let Ok(Some((_, len))) = header(file, raw, 0) else { return false };
            let Some(body) = raw.get(HEADER_BYTES..HEADER_BYTES + len) else { return false };
            let nonce: [u8; NONCE_LEN] = body[..NONCE_LEN].try_into().expect("12 bytes");
            key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(file.as_bytes()), &mut body[NONCE_LEN..].to_vec()).is_ok()
        };
        if !opens(&keys.key) && opens(old) {
            old
        } else {
            &keys.key
        }
    }

    /// Whether the data key on the disk is wrapped (autolock), and with which key.
    pub fn wrapped_with(&self) -> Option<UnlockKey> {
        self.wrapped_with.lock().unwrap().0.clone()
    }

    /// `plaintext` as frames under `key` (one per [`FRAME_PLAINTEXT_MAX`] bytes, at least one).
    fn frames(&self, key: &LessSafeKey, file: &str, plaintext: &[u8], magic: &[u8; 4]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + HEADER_BYTES + NONCE_LEN + TAG_BYTES);
        let mut chunks: Vec<&[u8]> = plaintext.chunks(FRAME_PLAINTEXT_MAX).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for chunk in chunks {
            let nonce: [u8; NONCE_LEN] = self.nonces.lock().unwrap().gen();
            let mut body = chunk.to_vec();
            key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(file.as_bytes()), &mut body)
                .expect("AES-GCM seals any input below 64 GiB");
            out.extend_from_slice(magic);
            out.extend_from_slice(&((NONCE_LEN + body.len()) as u32).to_le_bytes());
            out.extend_from_slice(&nonce);
            out.extend_from_slice(&body);
        }
        out
    }

    /// The plaintext of `raw` (frames of `file`), and the length of its intact prefix when a
    /// torn last frame follows it. Only an append's frame may be torn: an incomplete one at
    /// the end, or a whole last one that does not open (a real disk may leave garbage in a
    /// write it never finished). A replaced file's frame that does not open is corruption or
    /// the wrong key, and is refused, never dropped.
    fn open_frames(&self, key: &LessSafeKey, file: &str, raw: &[u8]) -> io::Result<(Vec<u8>, Option<usize>)> {
        let mut out = Vec::with_capacity(raw.len());
        let mut off = 0;
        while off < raw.len() {
            let Some((replaced, len)) = header(file, raw, off)? else { return Ok((out, Some(off))) };
            if raw.len() - off - HEADER_BYTES < len {
                return Ok((out, Some(off)));
            }
            let body = &raw[off + HEADER_BYTES..off + HEADER_BYTES + len];
            let nonce: [u8; NONCE_LEN] = body[..NONCE_LEN].try_into().expect("12 bytes");
            let mut sealed = body[NONCE_LEN..].to_vec();
            let last = off + HEADER_BYTES + len == raw.len();
            match key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(file.as_bytes()), &mut sealed) {
                Ok(plain) => out.extend_from_slice(plain),
                Err(_) if last && !replaced => return Ok((out, Some(off))),
                Err(_) => {
                    return Err(corrupt(format!(
                        "{file}: frame at byte {off} does not decrypt{}: the file is corrupted, or was written under \
                         another data key; refusing to use it",
                        if last { "" } else { " (followed by more frames)" }
                    )))
                }
            }
            off += HEADER_BYTES + len;
        }
        Ok((out, None))
    }
}

impl Disk for EncryptedDisk {
    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>> {
        let keys = self.keys.read().unwrap();
        let Some(raw) = self.inner.read(file)? else { return Ok(None) };
        if raw.is_empty() {
            return Ok(Some(raw));
        }
        if !is_encrypted(&raw) {
            // Written before encryption: migrate it now. A log's first record starts with its
            // length (at most 256 MiB), which never spells a magic; `vote` and `snapshot`
            // start with a checksum, which could, once in 2^31.
            self.inner.replace(file, &self.frames(&keys.key, file, &raw, MAGIC_REPLACE))?;
            self.inner.sync(file)?;
            return Ok(Some(raw));
        }
        let (plain, torn) = self.open_frames(self.key_of(&keys, file, &raw), file, &raw)?;
        if let Some(intact) = torn {
            tracing::debug!(target: "shoal::disk", file, offset = intact, "dropping a torn last frame");
            // Rewritten without it, so later appends follow a clean frame.
            self.inner.replace(file, &raw[..intact])?;
        }
        Ok(Some(plain))
    }

    fn append(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        let keys = self.keys.read().unwrap();
        self.inner.append(file, &self.frames(&keys.key, file, bytes, MAGIC_APPEND))
    }

    fn sync(&self, file: &str) -> io::Result<()> {
        self.inner.sync(file)
    }

    fn replace(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        let keys = self.keys.read().unwrap();
        self.inner.replace(file, &self.frames(&keys.key, file, bytes, MAGIC_REPLACE))
    }

    fn sync_latency(&self) -> Duration {
        self.inner.sync_latency()
    }

    fn crash_point(&self, point: CrashPoint) {
        self.inner.crash_point(point)
    }

    /// Re-wraps the data key under `unlock` (or stores it plain) as the Cluster change at raft
    /// index `index` asks: one atomic replace of [`DEK_FILE`], synced before the new key
    /// counts. A change older than the one the file follows is ignored (a replayed log).
    fn set_unlock_key(&self, unlock: Option<&UnlockKey>, index: u64) -> io::Result<()> {
        let mut cur = self.wrapped_with.lock().unwrap();
        // The same key again needs no write: a Cluster change of something else.
        if index < cur.1 || cur.0.as_ref() == unlock {
            return Ok(());
        }
        if cur.0.is_none() && unlock.is_some() {
            // Autolock turned on: a new data key, so a plain copy of the old one opens
            // nothing written from now on.
            self.change_data_key(unlock, index)?;
        } else {
            let nonce: [u8; NONCE_LEN] = self.nonces.lock().unwrap().gen();
            let keys = self.keys.read().unwrap();
            self.inner.replace(DEK_FILE, &dek_file(&keys.dek, None, unlock, index, nonce))?;
            self.inner.sync(DEK_FILE)?;
        }
        *cur = (unlock.cloned(), index);
        Ok(())
    }
}

/// Whether `raw` (a [`DEK_FILE`]'s bytes on the disk below) holds the data key wrapped, not
/// plain: the simulator's autolock check reads it.
pub fn dek_is_wrapped(raw: &[u8]) -> bool {
    unseal(DEK_FILE, raw).is_ok_and(is_wrapped)
}

/// Whether `raw` (a [`DEK_FILE`]'s bytes) holds a data key wrapped under exactly `unlock`:
/// the simulator checks that every manager followed the swarm's latest rotation.
pub fn dek_unwraps_with(raw: &[u8], unlock: &UnlockKey) -> bool {
    unseal(DEK_FILE, raw).is_ok_and(|c| is_wrapped(c) && open_dek(c, Some(unlock)).is_ok())
}

/// The byte ranges of the bodies (nonce, ciphertext, tag) of the whole frames at the start of
/// an encrypted file, in order. The simulator's disk-corruption fault flips a bit inside one
/// that is not the last, which a read must refuse (a damaged last frame reads as a torn write).
pub fn frame_spans(raw: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut off = 0;
    while let Ok(Some((_, len))) = header("", raw, off) {
        if raw.len() - off - HEADER_BYTES < len {
            break;
        }
        out.push(off + HEADER_BYTES..off + HEADER_BYTES + len);
        off += HEADER_BYTES + len;
    }
    out
}

#[cfg(test)]
mod tests;
