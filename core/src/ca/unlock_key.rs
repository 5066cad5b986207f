//! The manager unlock key of an autolocked swarm (`swarm init --autolock`,
//! `swarm unlock-key`): 32 random bytes, written for humans as `SWMKEY-1-<base64>` exactly as
//! swarm writes it (standard alphabet, no padding), so a key reads the same in both.
//!
//! Owns parsing and printing only. What the key protects (the data key of each manager's raft
//! files, wrapped under a key derived from this one) is the encrypted disk's
//! (node/raft/encrypted_disk); where it lives (the Cluster object, itself encrypted at rest)
//! is the store's. Pure: the bytes come from the caller (the OS in production, the seed in the
//! simulator).
//!
//! Invariant: a key never prints itself through `Debug`, so it cannot leak into a log line by
//! accident; only `Display` (what `unlock-key` shows) writes it out.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;

pub const UNLOCK_KEY_PREFIX: &str = "SWMKEY-1-";
pub const UNLOCK_KEY_BYTES: usize = 32;

#[derive(Clone, PartialEq, Eq)]
pub struct UnlockKey([u8; UNLOCK_KEY_BYTES]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnlockKeyError {
    #[error("invalid unlock key: a key reads SWMKEY-1- followed by 43 characters, as `swarm unlock-key` printed it")]
    Malformed,
}

impl UnlockKey {
    pub fn from_bytes(bytes: [u8; UNLOCK_KEY_BYTES]) -> UnlockKey {
        UnlockKey(bytes)
    }

    pub fn bytes(&self) -> &[u8; UNLOCK_KEY_BYTES] {
        &self.0
    }

    /// A key as `unlock-key` prints it; blanks around it (a pasted line) are ignored.
    pub fn parse(text: &str) -> Result<UnlockKey, UnlockKeyError> {
        let body = text.trim().strip_prefix(UNLOCK_KEY_PREFIX).ok_or(UnlockKeyError::Malformed)?;
        let bytes = STANDARD_NO_PAD.decode(body).map_err(|_| UnlockKeyError::Malformed)?;
        Ok(UnlockKey(bytes.try_into().map_err(|_| UnlockKeyError::Malformed)?))
    }
}

impl std::fmt::Display for UnlockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{UNLOCK_KEY_PREFIX}{}", STANDARD_NO_PAD.encode(self.0))
    }
}

impl std::fmt::Debug for UnlockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnlockKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_what_it_prints_and_refuses_the_rest() {
        let k = UnlockKey::from_bytes([7; 32]);
        let text = k.to_string();
        assert!(text.starts_with("SWMKEY-1-") && text.len() == 9 + 43, "{text}");
        assert_eq!(UnlockKey::parse(&format!("  {text}\n")), Ok(k.clone()));
        assert_eq!(format!("{k:?}"), "UnlockKey(<redacted>)");
        for bad in ["", "SWMKEY-1-", "SWMKEY-2-AAAA", &text[..text.len() - 1], &format!("{text}AAAA"), "SWMKEY-1-!!!!"] {
            assert_eq!(UnlockKey::parse(bad), Err(UnlockKeyError::Malformed), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn any_key_round_trips(bytes in proptest::array::uniform32(any::<u8>())) {
            let k = UnlockKey::from_bytes(bytes);
            prop_assert_eq!(UnlockKey::parse(&k.to_string()), Ok(k));
        }

        #[test]
        fn any_text_parses_or_fails_cleanly(text in ".{0,80}") {
            let _ = UnlockKey::parse(&text);
        }
    }
}
