//! Server certificates from the cluster CA for the services a leader runs for clients outside
//! the cluster (`palisade up`'s registry and trust server).
//!
//! Each service gets a fresh key that never leaves memory and a certificate with
//! `OU=palisade-service` and `serverAuth` only, so it can never pass for a node on the cluster
//! port. A background task reissues it (new key) at a random point in the certificate's renewal
//! window, as node certificates are renewed, and as soon as the cluster's trust bundle changes
//! (root rotation), so clients that trust the printed root CA file keep connecting.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use palisade_pki::tls::ReloadableCert;
use palisade_pki::{Clock, NodeKey};

use crate::daemon::Daemon;
use crate::error::{Error, Result};

/// How often the renewal task looks at the clock and the trust bundle.
const CHECK_PERIOD: Duration = Duration::from_secs(15);

/// The names a service certificate carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNames {
    /// `CN`, e.g. `palisade-registry`.
    pub common_name: String,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
}

/// A service's certificate, kept fresh by a background task for as long as this value lives.
pub struct ServiceCertificate {
    cert: Arc<ReloadableCert>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ServiceCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCertificate").finish_non_exhaustive()
    }
}

impl Drop for ServiceCertificate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One issuance: what the renewal task compares against.
struct Current {
    trust_pem: String,
    renew_at: time::OffsetDateTime,
}

async fn issue(daemon: &Daemon, names: &ServiceNames) -> Result<(String, NodeKey, Current)> {
    let trust_pem = daemon.trust_bundle_pem().await.ok_or(Error::NotAManager)?;
    let key = NodeKey::generate().map_err(|e| Error::internal("service key", e))?;
    let csr = key.csr_pem().map_err(|e| Error::internal("service CSR", e))?;
    let issued = daemon.issue_service_certificate(&csr, names).await?;
    let renew_at = palisade_pki::renewal_time_within(issued.not_before, issued.not_after, &mut rand::rngs::OsRng);
    Ok((issued.cert_pem, key, Current { trust_pem, renew_at }))
}

impl ServiceCertificate {
    /// Issues the first certificate (the daemon must be the leader) and starts renewing it.
    pub async fn start(daemon: Arc<Daemon>, names: ServiceNames, clock: Arc<dyn Clock>) -> Result<Self> {
        let (cert_pem, key, mut current) = issue(&daemon, &names).await?;
        let cert = ReloadableCert::new(&cert_pem, &key).map_err(|e| Error::internal("service TLS", e))?;
        let reloadable = cert.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(CHECK_PERIOD).await;
                let rotated = daemon.trust_bundle_pem().await.is_some_and(|pem| pem != current.trust_pem);
                if !rotated && clock.now() < current.renew_at {
                    continue;
                }
                match issue(&daemon, &names).await {
                    Ok((cert_pem, key, next)) => match reloadable.replace(&cert_pem, &key) {
                        Ok(()) => {
                            tracing::info!(service = %names.common_name, rotated, "service certificate renewed");
                            current = next;
                        }
                        Err(e) => tracing::warn!(service = %names.common_name, "renewed certificate unusable: {e}"),
                    },
                    Err(e) => tracing::warn!(service = %names.common_name, "renewing service certificate: {e}"),
                }
            }
        });
        Ok(Self { cert, task })
    }

    /// The certificate to serve (a rustls certificate resolver).
    pub fn cert(&self) -> Arc<ReloadableCert> {
        self.cert.clone()
    }
}
