//! When a node certificate is renewed.

use rand::{CryptoRng, Rng, RngCore};
use time::OffsetDateTime;

use crate::{NodeCertInfo, CERT_BACKDATE};

/// Renewal happens at a random point between these fractions of a certificate's issued
/// lifetime, so that a cluster's nodes do not all renew at once (swarmkit: 50–80 %).
pub const RENEW_WINDOW: std::ops::Range<f64> = 0.5..0.8;

/// The instant at which `cert` should be renewed: a random point in [`RENEW_WINDOW`] of its
/// lifetime, measured from issuance (validity starts [`CERT_BACKDATE`] before issuance, which is
/// not lifetime the node can use for renewal).
pub fn renewal_time(cert: &NodeCertInfo, rng: &mut (impl RngCore + CryptoRng)) -> OffsetDateTime {
    renewal_time_within(cert.not_before, cert.not_after, rng)
}

/// [`renewal_time`] for any certificate valid from `not_before` to `not_after`.
pub fn renewal_time_within(not_before: OffsetDateTime, not_after: OffsetDateTime, rng: &mut (impl RngCore + CryptoRng)) -> OffsetDateTime {
    let issued = (not_before + CERT_BACKDATE).min(not_after);
    let lifetime = not_after - issued;
    issued + lifetime * rng.gen_range(RENEW_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{issue_node_certificate, CertExpiry, ClusterId, FixedClock, NodeId, NodeKey, NodeRole, NodeSubject, RootCa};

    #[test]
    fn renewal_falls_between_half_and_four_fifths_of_the_issued_lifetime() {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let clock = FixedClock::new(now);
        let ca = RootCa::generate(&clock).unwrap();
        let mut rng = rand::thread_rng();
        let subject = NodeSubject { node_id: NodeId::generate(&mut rng), role: NodeRole::Worker, cluster_id: ClusterId::generate(&mut rng) };
        let expiry = CertExpiry::new(std::time::Duration::from_secs(3600)).unwrap();
        let issued = issue_node_certificate(&ca, &NodeKey::generate().unwrap().csr_pem().unwrap(), &subject, expiry, &clock, &mut rng).unwrap();
        let cert = NodeCertInfo::from_der(&issued.cert_der).unwrap();
        for _ in 0..200 {
            let at = renewal_time(&cert, &mut rng);
            assert!(at >= now + time::Duration::minutes(30) && at <= now + time::Duration::minutes(48), "{at} vs issued {now}");
        }
    }
}
