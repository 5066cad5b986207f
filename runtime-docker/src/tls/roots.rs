//! Root CAs: the one `swarm init` makes, the one a rotation moves to (`swarm ca --rotate`,
//! cross-signed by the current root), and what a node reports about the certificates it
//! holds (docker's `TLSInfo`: its trust roots, and its certificate's issuer).
//!
//! A root's subject names it uniquely (`shoal-root-ca` and a random suffix for every rotated
//! root): during a rotation a node trusts two roots, and certificates of each must name their
//! own issuer for path building (and for an operator reading them) to tell them apart. The
//! cross-signed copy has the new root's subject and key, so it is the same issuer.

use super::{digest, err, now, random_serial, NodeCerts, CA_CERT_DAYS};
use base64::Engine as _;
use shoal_core::ca::rotation::NewRoot;
use shoal_core::model::{IssuerInfo, RootCa, TlsInfo};

/// A root's certificate parameters: a CA that signs node certificates, 20 years.
fn root_params(name: &str) -> Result<rcgen::CertificateParams, String> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err("CA parameters"))?;
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign, rcgen::KeyUsagePurpose::DigitalSignature];
    params.not_before = now() - time::Duration::hours(1);
    params.not_after = now() + time::Duration::days(CA_CERT_DAYS);
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

/// `swarm init`: a new root CA and the root (tokens name its digest).
pub fn new_root() -> Result<RootCa, String> {
    let key = rcgen::KeyPair::generate().map_err(err("cannot make the CA key"))?;
    let cert = root_params("shoal-root-ca")?.self_signed(&key).map_err(err("cannot sign the CA certificate"))?;
    let digest = digest(cert.der());
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(u64::from_le_bytes(random_serial()?.to_bytes()[..8].try_into().expect("16 bytes")));
    let mut root = shoal_core::ca::root_for_ca(cert.pem(), key.serialize_pem(), &digest, &mut rng);
    root.issuer = issuer_info(&root.ca_cert_pem)?;
    Ok(root)
}

/// `swarm ca --rotate`: a new root (new key, new name) and its certificate signed by the
/// current root's key.
pub fn rotation_root(root: &RootCa) -> Result<NewRoot, String> {
    if root.ca_key_pem.is_empty() {
        return Err("this swarm's root has no CA key".into());
    }
    let old_key = rcgen::KeyPair::from_pem(&root.ca_key_pem).map_err(err("the CA key"))?;
    let old = rcgen::Issuer::from_ca_cert_pem(&root.ca_cert_pem, old_key).map_err(err("the CA certificate"))?;
    let key = rcgen::KeyPair::generate().map_err(err("cannot make the new CA key"))?;
    let suffix: [u8; 4] = super::os_random()?;
    let name = format!("shoal-root-ca-{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let mut params = root_params(&name)?;
    let cert = params.self_signed(&key).map_err(err("cannot sign the new CA certificate"))?;
    params.serial_number = Some(random_serial()?);
    params.use_authority_key_identifier_extension = true;
    let cross = params.signed_by(&key, &old).map_err(err("cannot cross-sign the new CA certificate"))?;
    Ok(NewRoot {
        digest: digest(cert.der()),
        issuer: issuer_info(&cert.pem())?,
        ca_cert_pem: cert.pem(),
        ca_key_pem: key.serialize_pem(),
        cross_signed_pem: cross.pem(),
        signed_by_pem: root.ca_cert_pem.clone(),
        token_seed: super::os_random()?,
    })
}

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// Every certificate of a PEM text (a chain, a bundle of roots), DER; `what` names the text.
pub(crate) fn certificates(pem_text: &str, what: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    let all = pem::parse_many(pem_text).map_err(|e| format!("{what}: {e}"))?;
    Ok(all.into_iter().map(|p| rustls::pki_types::CertificateDer::from(p.into_contents())).collect())
}

/// [`certificates`], none when the text is not PEM (what a node reports is then empty).
fn ders(pem_text: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    certificates(pem_text, "").unwrap_or_default()
}

/// A root certificate as an issuer: base64 of its subject and public key (DER).
pub fn issuer_info(cert_pem: &str) -> Result<IssuerInfo, String> {
    let der = ders(cert_pem).into_iter().next().ok_or("the CA certificate is not PEM")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| format!("the CA certificate: {e}"))?;
    Ok(IssuerInfo { subject: b64(cert.subject().as_raw()), public_key: b64(cert.public_key().raw) })
}

impl NodeCerts {
    /// What this node holds, as it reports it: its trust roots and its certificate's issuer
    /// (found among the certificates sent with it and the trusted roots by subject).
    pub fn tls_info(&self) -> TlsInfo {
        let chain = ders(&self.cert_pem);
        let issuer = chain.first().and_then(|leaf| {
            let (_, leaf) = x509_parser::parse_x509_certificate(leaf).ok()?;
            let wanted = leaf.issuer().as_raw();
            chain.iter().skip(1).chain(ders(&self.ca_pem).iter()).find_map(|der| {
                let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
                (c.subject().as_raw() == wanted).then(|| IssuerInfo { subject: b64(wanted), public_key: b64(c.public_key().raw) })
            })
        });
        TlsInfo { trust_root: self.ca_pem.clone(), issuer: issuer.unwrap_or_default() }
    }
}
