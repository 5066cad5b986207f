//! Hostile CSRs and certificates (issue 22, item 6): what a joining or renewing machine sends
//! (a CSR) and what a data dir holds (node.crt, ca.crt), mutated as text and as DER. Signing
//! never panics: it signs or says what is wrong, and what it signs names the node and role it
//! was asked for whatever the CSR said; reading a certificate never panics either.
//! Cases: 200 per property (signing is a real ECDSA signature; SHOAL_FUZZ_CASES overrides).

use super::*;
use proptest::prelude::*;
use proptest::sample::Index;

fn cases() -> u32 {
    std::env::var("SHOAL_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
}

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Edit {
    Flip(Index, u8),
    Cut(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Edit::Flip(i, x)),
        any::<Index>().prop_map(Edit::Cut),
        (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Remove(a, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, edits: &[Edit]) {
    for e in edits {
        if bytes.is_empty() {
            return;
        }
        match e {
            Edit::Flip(i, x) => {
                let i = i.index(bytes.len());
                bytes[i] ^= x;
            }
            Edit::Cut(i) => bytes.truncate(i.index(bytes.len())),
            Edit::Insert(i, b) => {
                let i = i.index(bytes.len());
                bytes.splice(i..i, b.iter().copied());
            }
            Edit::Remove(a, b) => {
                let (a, b) = (a.index(bytes.len()), b.index(bytes.len()));
                bytes.drain(a.min(b)..a.max(b));
            }
        }
    }
}

/// `pem` mutated as text, or its DER mutated and wrapped again (which reaches the parsers
/// behind the base64).
fn mutated(pem_text: &str, edits: &[Edit], in_der: bool) -> String {
    if in_der {
        let Ok(p) = pem::parse(pem_text) else { return String::new() };
        let mut der = p.contents().to_vec();
        apply(&mut der, edits);
        pem::encode(&pem::Pem::new(p.tag(), der))
    } else {
        let mut b = pem_text.as_bytes().to_vec();
        apply(&mut b, edits);
        String::from_utf8_lossy(&b).into_owned()
    }
}

/// A root and a valid CSR and node certificate of it, made once.
fn material() -> &'static (RootCa, String, String) {
    static M: std::sync::OnceLock<(RootCa, String, String)> = std::sync::OnceLock::new();
    M.get_or_init(|| {
        install_provider();
        let root = new_root().expect("a root");
        let (_, csr) = new_key_and_csr().expect("a CSR");
        let cert = RootSigner.sign(&root, &csr, "n1", NodeRole::Worker, 86_400).expect("signed");
        (root, csr, cert)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn hostile_csrs_are_signed_for_what_was_asked_or_refused(edits in proptest::collection::vec(edit(), 1..4), in_der in any::<bool>(), manager in any::<bool>()) {
        let (root, csr, _) = material();
        let csr = mutated(csr, &edits, in_der);
        let role = if manager { NodeRole::Manager } else { NodeRole::Worker };
        if let Ok(cert_pem) = RootSigner.sign(root, &csr, "node-7", role, 86_400) {
            // Whatever the CSR named, the certificate names the node and role asked for.
            let c = NodeCerts { ca_pem: root.ca_cert_pem.clone(), cert_pem, key_pem: String::new() };
            prop_assert_eq!(c.role(), Ok(role));
        }
    }

    #[test]
    fn hostile_certificates_read_without_panic(edits in proptest::collection::vec(edit(), 1..4), in_der in any::<bool>(), which in 0usize..2) {
        let (root, _, cert) = material();
        let (cert_pem, ca_pem) = match which {
            0 => (mutated(cert, &edits, in_der), root.ca_cert_pem.clone()),
            _ => (cert.clone(), mutated(&root.ca_cert_pem, &edits, in_der)),
        };
        let c = NodeCerts { ca_pem: ca_pem.clone(), cert_pem: cert_pem.clone(), key_pem: String::new() };
        let _ = c.role();
        let _ = c.validity();
        let _ = c.usable_at(0, std::path::Path::new("/nonexistent"));
        let _ = c.tls_info();
        let _ = roots::issuer_info(&cert_pem);
        let _ = roots::certificates(&ca_pem, "ca.crt");
    }
}
