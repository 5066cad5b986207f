//! The cluster's join tokens (swarmkit's `ca` package, token half; certificates arrive with
//! mTLS in the production runtime).
//!
//! Owns: the token format `SHTKN-1-<digest>-<secret>` (swarm's `SWMTKN-1-…`: the digest names
//! the root CA so a joining node can check it talks to the right cluster, the secret says
//! which role it may join as), generating a root's tokens, rotating one, and deciding which
//! role a presented token grants. Pure: randomness comes from the RNG the caller passes.
//!
//! Invariant: the worker and manager tokens of a cluster differ and share the digest.

pub mod renewal;
pub mod rotation;
pub mod unlock_key;

use crate::model::{NodeRole, RootCa};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub const TOKEN_PREFIX: &str = "SHTKN";
const TOKEN_VERSION: &str = "1";
/// Base-36 digits of the CA digest (256 bits) and of the secret (128 bits), as swarm.
const DIGEST_LEN: usize = 50;
const SECRET_LEN: usize = 25;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("invalid join token {0:?}: expected SHTKN-1-<50 characters>-<25 characters>, as `swarm join-token worker` prints it")]
    Malformed(String),
    #[error("a valid join token is necessary to join this swarm: this token is not the current worker or manager token (rotated? ask `swarm join-token worker` on a manager)")]
    NotCurrent,
}

fn base36(rng: &mut ChaCha8Rng, len: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..len).map(|_| DIGITS[rng.gen_range(0..36)] as char).collect()
}

fn token(digest: &str, rng: &mut ChaCha8Rng) -> String {
    format!("{TOKEN_PREFIX}-{TOKEN_VERSION}-{digest}-{}", base36(rng, SECRET_LEN))
}

/// The digest part of a well-formed token: a joining machine checks the CA it talks to
/// against it before it trusts anything the manager says.
pub fn digest_of(token: &str) -> Option<&str> {
    let mut parts = token.split('-');
    let (p, v, d, s) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let ok = parts.next().is_none()
        && p == TOKEN_PREFIX
        && v == TOKEN_VERSION
        && is_digest(d)
        && s.len() == SECRET_LEN
        && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    ok.then_some(d)
}

/// A CA digest as tokens carry it: 50 base-36 digits.
fn is_digest(d: &str) -> bool {
    d.len() == DIGEST_LEN && d.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// A new root with fresh worker and manager tokens and no certificate (the simulator's: it
/// issues no certificates, so the digest is random, fixed for the cluster).
pub fn new_root(rng: &mut ChaCha8Rng) -> RootCa {
    let digest = base36(rng, DIGEST_LEN);
    root_for_ca(String::new(), String::new(), &digest, rng)
}

/// A root around a real CA (production's `swarm init`): `digest` is [`digest_base36`] of the
/// CA certificate's SHA-256, so a token names the CA it trusts.
pub fn root_for_ca(ca_cert_pem: String, ca_key_pem: String, digest: &str, rng: &mut ChaCha8Rng) -> RootCa {
    debug_assert_eq!(digest.len(), DIGEST_LEN);
    let worker = token(digest, rng);
    let mut manager = token(digest, rng);
    while manager == worker {
        manager = token(digest, rng);
    }
    RootCa { ca_cert_pem, ca_key_pem, join_token_worker: worker, join_token_manager: manager, ..Default::default() }
}

/// A 256-bit digest (big-endian) in the token's 50 base-36 digits, zero-padded.
pub fn digest_base36(sha256: &[u8; 32]) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    // Long division of the 32-byte number by 36, least significant digit first.
    let mut n = *sha256;
    let mut out = Vec::with_capacity(DIGEST_LEN);
    for _ in 0..DIGEST_LEN {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | *b as u32;
            *b = (cur / 36) as u8;
            rem = cur % 36;
        }
        out.push(DIGITS[rem as usize]);
    }
    debug_assert!(n.iter().all(|b| *b == 0), "36^50 > 2^256: every digest fits");
    out.reverse();
    String::from_utf8(out).expect("ascii digits")
}

/// `swarm join-token --rotate ROLE`: a new secret for one role; the other token is kept, and
/// nodes that already joined are unaffected.
pub fn rotate(root: &RootCa, role: NodeRole, rng: &mut ChaCha8Rng) -> RootCa {
    let digest = digest_of(&root.join_token_worker).map(str::to_string).unwrap_or_else(|| base36(rng, DIGEST_LEN));
    let mut next = root.clone();
    loop {
        let t = token(&digest, rng);
        if t != root.join_token_worker && t != root.join_token_manager {
            match role {
                NodeRole::Worker => next.join_token_worker = t,
                NodeRole::Manager => next.join_token_manager = t,
            }
            return next;
        }
    }
}

/// The role `token` lets a node join as.
pub fn role_for(root: &RootCa, token: &str) -> Result<NodeRole, TokenError> {
    let token = token.trim();
    if digest_of(token).is_none() {
        return Err(TokenError::Malformed(token.to_string()));
    }
    if !root.join_token_manager.is_empty() && token == root.join_token_manager {
        Ok(NodeRole::Manager)
    } else if !root.join_token_worker.is_empty() && token == root.join_token_worker {
        Ok(NodeRole::Worker)
    } else {
        Err(TokenError::NotCurrent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn tokens_grant_their_role_until_rotated() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let root = new_root(&mut rng);
        assert_ne!(root.join_token_worker, root.join_token_manager);
        assert!(root.join_token_worker.starts_with("SHTKN-1-"));
        assert_eq!(root.join_token_worker.len(), 6 + 2 + DIGEST_LEN + 1 + SECRET_LEN);
        assert_eq!(role_for(&root, &root.join_token_worker), Ok(NodeRole::Worker));
        assert_eq!(role_for(&root, &format!(" {}\n", root.join_token_manager)), Ok(NodeRole::Manager));

        let rotated = rotate(&root, NodeRole::Worker, &mut rng);
        assert_eq!(rotated.join_token_manager, root.join_token_manager);
        assert_eq!(digest_of(&rotated.join_token_worker), digest_of(&root.join_token_worker));
        assert_eq!(role_for(&rotated, &root.join_token_worker), Err(TokenError::NotCurrent));
        assert_eq!(role_for(&rotated, &rotated.join_token_worker), Ok(NodeRole::Worker));
        assert_eq!(role_for(&rotated, &root.join_token_manager), Ok(NodeRole::Manager));
    }

    #[test]
    fn digests_are_fifty_base36_digits() {
        assert_eq!(digest_base36(&[0; 32]), "0".repeat(50));
        let mut one = [0u8; 32];
        one[31] = 37;
        assert_eq!(digest_base36(&one), format!("{}11", "0".repeat(48)));
        // 2^256 - 1 in base 36 has 50 digits and starts with "6dp5".
        let max = digest_base36(&[0xff; 32]);
        assert_eq!(max.len(), 50);
        assert!(max.starts_with("6dp5"), "{max}");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let root = root_for_ca("CERT".into(), "KEY".into(), &max, &mut rng);
        assert_eq!(digest_of(&root.join_token_worker), Some(max.as_str()));
        assert_eq!(role_for(&root, &root.join_token_manager), Ok(NodeRole::Manager));
    }

    #[test]
    fn malformed_tokens_say_what_a_token_looks_like() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let root = new_root(&mut rng);
        for bad in ["", "SWMTKN-1-abc-def", "hunter2", &root.join_token_worker.replace("SHTKN-1", "SHTKN-2"), &root.join_token_worker.to_uppercase()] {
            let e = role_for(&root, bad).unwrap_err();
            assert!(matches!(e, TokenError::Malformed(_)), "{bad}: {e}");
            assert!(e.to_string().contains("SHTKN-1-"), "{e}");
        }
        // Empty tokens in the store (a cluster written before tokens existed) grant nothing.
        let empty = RootCa::default();
        assert_eq!(role_for(&empty, &root.join_token_worker), Err(TokenError::NotCurrent));
    }
}
