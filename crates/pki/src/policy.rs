//! Certificate policy values, with their units and reasons (swarmkit `ca/certificates.go`).

use std::time::Duration;

use crate::{Error, Result};

/// Default lifetime of a node certificate: 90 days, as Docker documents.
pub const DEFAULT_NODE_CERT_EXPIRY: Duration = Duration::from_secs(90 * 24 * 3600);

/// Shortest node certificate lifetime an operator may ask for. Shorter lifetimes would make
/// renewal traffic dominate the cluster.
pub const MIN_NODE_CERT_EXPIRY: Duration = Duration::from_secs(3600);

/// Node certificates are valid from this long before issuance, to tolerate clock drift
/// between the issuing manager and the nodes that verify the certificate.
pub const CERT_BACKDATE: Duration = Duration::from_secs(3600);

/// Lifetime of a generated root CA: 20 years, as swarmkit.
pub const ROOT_CA_LIFETIME: Duration = Duration::from_secs(20 * 365 * 24 * 3600);

/// A node certificate lifetime that respects [`MIN_NODE_CERT_EXPIRY`].
///
/// Invariant: the wrapped duration is at least [`MIN_NODE_CERT_EXPIRY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertExpiry(Duration);

impl CertExpiry {
    /// Checks `lifetime` against policy.
    pub fn new(lifetime: Duration) -> Result<Self> {
        if lifetime < MIN_NODE_CERT_EXPIRY {
            return Err(Error::ExpiryOutOfPolicy(
                "minimum certificate expiry time is: 1h0m0s".to_owned(),
            ));
        }
        Ok(Self(lifetime))
    }

    /// The lifetime.
    pub fn duration(self) -> Duration {
        self.0
    }
}

impl Default for CertExpiry {
    fn default() -> Self {
        Self(DEFAULT_NODE_CERT_EXPIRY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_below_one_hour_is_refused() {
        assert!(CertExpiry::new(Duration::from_secs(1800)).is_err());
        assert_eq!(CertExpiry::new(Duration::from_secs(3600)).unwrap().duration().as_secs(), 3600);
    }
}
