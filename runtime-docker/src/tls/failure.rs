//! Why a call failed below gRPC, read from the typed errors in the status's source chain
//! (tonic keeps the transport's error there), never from the message text: the text is
//! hyper's and rustls' to change.
//!
//! Inputs: a failed call's [`tonic::Status`]. Output: [`Failure`], or None when the call
//! reached the other side and its answer is the status itself.

use std::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No connection: nothing listens there, the address is wrong, or the handshake broke
    /// for a reason other than the certificates.
    Connect,
    /// The node answered with a certificate that is not a manager's (a worker's).
    NotAManager,
    /// The two sides' certificates do not share a root: another swarm's node, or a node
    /// this swarm does not recognise.
    OtherSwarm,
}

/// The rustls error inside `e`: itself, or the one an `io::Error` carries (whose `source()`
/// skips what it wraps).
fn rustls_error<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    e.downcast_ref::<rustls::Error>().or_else(|| {
        e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|inner| inner.downcast_ref::<rustls::Error>())
    })
}

/// What broke a call that failed with `s`, if it failed below gRPC.
pub fn failure(s: &tonic::Status) -> Option<Failure> {
    use rustls::{CertificateError, Error as Tls};
    let mut connect = false;
    let mut next: Option<&(dyn Error + 'static)> = s.source();
    // A source chain is finite, but bound the walk anyway: it is someone else's data.
    for _ in 0..32 {
        let Some(e) = next else { break };
        match rustls_error(e) {
            Some(Tls::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => {
                return Some(Failure::NotAManager)
            }
            Some(Tls::InvalidCertificate(_) | Tls::AlertReceived(_)) => return Some(Failure::OtherSwarm),
            Some(_) => connect = true,
            None => connect |= e.is::<tonic::ConnectError>(),
        }
        next = e.source();
    }
    connect.then_some(Failure::Connect)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_status(inner: Box<dyn Error + Send + Sync>) -> tonic::Status {
        tonic::Status::from_error(Box::new(tonic::ConnectError(inner)))
    }

    // The shapes tonic hands back (a connector error inside ConnectError, rustls inside an
    // io::Error); real handshakes are exercised in tls/tests.rs.
    #[test]
    fn failures_are_read_from_the_error_types() {
        let refused = connect_status(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)));
        assert_eq!(refused.code(), tonic::Code::Unavailable);
        assert_eq!(failure(&refused), Some(Failure::Connect));
        let tls = |e: rustls::Error| connect_status(Box::new(std::io::Error::new(std::io::ErrorKind::InvalidData, e)));
        let worker = tls(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName));
        assert_eq!(failure(&worker), Some(Failure::NotAManager));
        let foreign = tls(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer));
        assert_eq!(failure(&foreign), Some(Failure::OtherSwarm));
        let alert = tls(rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA));
        assert_eq!(failure(&alert), Some(Failure::OtherSwarm));
        // An answer from the other side is not a transport failure, whatever its text says.
        assert_eq!(failure(&tonic::Status::unavailable("error trying to connect: invalid peer certificate")), None);
        assert_eq!(failure(&tonic::Status::not_found("service nope not found")), None);
    }
}
