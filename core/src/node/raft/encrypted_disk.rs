//! Encryption at rest: a [`Disk`] that encrypts every write to the disk below it with the
//! node's data key (DEK), so the raft log, its snapshots and the vote — and with them every
//! secret's and config's data written through raft — never reach the medium in plaintext.
//!
//! Format: each `append` and each `replace` becomes one frame
//! `[magic "SHE1"][len u32 LE][nonce 12][ciphertext][tag 16]` (`len` counts nonce, ciphertext
//! and tag), sealed with AES-256-GCM (ring) under the DEK, with the file's name as associated
//! data (a frame moved to another file does not open). Nonces are random (96 bits from a
//! ChaCha20 stream seeded with fresh entropy at every start), never a counter that a crash
//! could rewind. A read opens every frame and returns the plaintext the layer above wrote, in
//! order. As in the log's own records: a damaged *last* frame is a torn write that was never
//! acknowledged (dropped, and the file rewritten without it); a damaged frame followed by more
//! is corruption, and the read fails.
//!
//! The DEK: 32 random bytes made at the first start and kept in [`DEK_FILE`] on the disk below,
//! in plaintext for now (sealed with a checksum only): it protects copies of the log and
//! snapshot files, not a stolen data directory. Autolock (wrapping the DEK with a key derived
//! from the unlock key) is the next step.
//!
//! A file written before encryption (no magic) is read as plaintext once and rewritten
//! encrypted at once: data directories of earlier versions migrate on their first start.

use super::{seal, unseal, CrashPoint, Disk};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The data key's file on the disk below.
pub const DEK_FILE: &str = "raft.dek";
const MAGIC: &[u8; 4] = b"SHE1";
const HEADER_BYTES: usize = 8;
const TAG_BYTES: usize = 16;
/// A frame longer than this is corrupt (bounds what a bad length field makes us allocate; the
/// log's own records stop at 256 MiB).
const FRAME_BYTES_MAX: usize = (256 << 20) + NONCE_LEN + TAG_BYTES;

pub struct EncryptedDisk {
    inner: Arc<dyn Disk>,
    key: LessSafeKey,
    nonces: Mutex<ChaCha20Rng>,
}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// The disk below `inner`'s files encrypted with its data key (made from `entropy` where it
/// has none yet). `entropy` must be fresh at every start: it also seeds the nonces.
pub fn encrypted(inner: Arc<dyn Disk>, entropy: [u8; 32]) -> io::Result<Arc<dyn Disk>> {
    Ok(Arc::new(EncryptedDisk::open(inner, entropy)?))
}

impl EncryptedDisk {
    pub fn open(inner: Arc<dyn Disk>, entropy: [u8; 32]) -> io::Result<EncryptedDisk> {
        let mut rng = ChaCha20Rng::from_seed(entropy);
        let dek: [u8; 32] = match inner.read(DEK_FILE)? {
            Some(bytes) => unseal(DEK_FILE, &bytes)?
                .try_into()
                .map_err(|_| corrupt(format!("{DEK_FILE}: not a 32-byte key: the data key is damaged")))?,
            None => {
                let dek: [u8; 32] = rng.gen();
                inner.replace(DEK_FILE, &seal(&dek))?;
                inner.sync(DEK_FILE)?;
                dek
            }
        };
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &dek).map_err(|_| corrupt("the data key is unusable".into()))?);
        Ok(EncryptedDisk { inner, key, nonces: Mutex::new(rng) })
    }

    fn frame(&self, file: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = self.nonces.lock().unwrap().gen();
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(file.as_bytes()), &mut body)
            .expect("AES-GCM seals any input below 64 GiB");
        let mut out = Vec::with_capacity(HEADER_BYTES + NONCE_LEN + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&((NONCE_LEN + body.len()) as u32).to_le_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out
    }

    /// The plaintext of `raw` (frames of `file`), and the length of its intact prefix when a
    /// torn last frame follows it.
    fn open_frames(&self, file: &str, raw: &[u8]) -> io::Result<(Vec<u8>, Option<usize>)> {
        let mut out = Vec::with_capacity(raw.len());
        let mut off = 0;
        while off < raw.len() {
            let rest = &raw[off..];
            if rest.len() < HEADER_BYTES {
                return Ok((out, Some(off)));
            }
            if &rest[..4] != MAGIC {
                return Err(corrupt(format!("{file}: frame at byte {off} has no header: the file is corrupted; refusing to use it")));
            }
            let len = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes")) as usize;
            if !(NONCE_LEN + TAG_BYTES..=FRAME_BYTES_MAX).contains(&len) {
                return Err(corrupt(format!("{file}: frame at byte {off} has invalid length {len}: the file is corrupted")));
            }
            if rest.len() < HEADER_BYTES + len {
                return Ok((out, Some(off)));
            }
            let body = &rest[HEADER_BYTES..HEADER_BYTES + len];
            let nonce: [u8; NONCE_LEN] = body[..NONCE_LEN].try_into().expect("12 bytes");
            let mut sealed = body[NONCE_LEN..].to_vec();
            match self.key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(file.as_bytes()), &mut sealed) {
                Ok(plain) => out.extend_from_slice(plain),
                Err(_) if off + HEADER_BYTES + len == raw.len() => return Ok((out, Some(off))),
                Err(_) => {
                    return Err(corrupt(format!(
                        "{file}: frame at byte {off} does not decrypt (followed by more frames): the file is corrupted, \
                         or was written under another data key; refusing to use it"
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
        let Some(raw) = self.inner.read(file)? else { return Ok(None) };
        if raw.is_empty() {
            return Ok(Some(raw));
        }
        if !raw.starts_with(MAGIC) {
            // Written before encryption: migrate it now (a log's length field, at most 256 MiB,
            // can never spell the magic).
            self.inner.replace(file, &self.frame(file, &raw))?;
            self.inner.sync(file)?;
            return Ok(Some(raw));
        }
        let (plain, torn) = self.open_frames(file, &raw)?;
        if let Some(intact) = torn {
            tracing::debug!(target: "shoal::disk", file, offset = intact, "dropping a torn last frame");
            // Rewritten without it, so later appends follow a clean frame.
            self.inner.replace(file, &raw[..intact])?;
        }
        Ok(Some(plain))
    }

    fn append(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        self.inner.append(file, &self.frame(file, bytes))
    }

    fn sync(&self, file: &str) -> io::Result<()> {
        self.inner.sync(file)
    }

    fn replace(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        self.inner.replace(file, &self.frame(file, bytes))
    }

    fn sync_latency(&self) -> Duration {
        self.inner.sync_latency()
    }

    fn crash_point(&self, point: CrashPoint) {
        self.inner.crash_point(point)
    }
}

/// The byte ranges of the bodies (nonce, ciphertext, tag) of the whole frames at the start of
/// an encrypted file, in order. The simulator's disk-corruption fault flips a bit inside one
/// that is not the last, which a read must refuse (a damaged last frame reads as a torn write).
pub fn frame_spans(raw: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut off = 0;
    while raw.len() - off >= HEADER_BYTES && &raw[off..off + 4] == MAGIC {
        let len = u32::from_le_bytes(raw[off + 4..off + 8].try_into().expect("4 bytes")) as usize;
        if !(NONCE_LEN + TAG_BYTES..=FRAME_BYTES_MAX).contains(&len) || raw.len() - off - HEADER_BYTES < len {
            break;
        }
        out.push(off + HEADER_BYTES..off + HEADER_BYTES + len);
        off += HEADER_BYTES + len;
    }
    out
}

#[cfg(test)]
mod tests;
