//! Each ADS stream's workload identity (xDS §3.3, X6, X14): generation says which identity a
//! proxy needs ([`Generated::identity`]); the stream issues it, fills the `identity_cert` and
//! `mesh_ca` secrets into the configuration, and issues it again at 4/5 of its lifetime or when
//! the backend, the service or the validity it needs changes. Issuance runs on the blocking
//! threads, at most [`Issuer`]'s permits at once, so 10,000 proxies enabling mTLS together
//! queue for a share of the CPU instead of taking all of it from the API and the actors.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use ursa_actors::ca::{workload, Authorities, CaError, Identity, IdentityRequest};
use ursa_actors::mesh_actor::CertificateReport;
use ursa_actors::proto::Timestamp;
use ursa_actors::resource::Resource;
use ursa_actors::xds::model::Secret;
use ursa_actors::xds::Generated;

/// How long after a failed issuance the stream tries again (a provided CA's file put back).
pub const RETRY_AFTER: Duration = Duration::from_secs(10);

/// Issues identities for every stream of this process.
pub struct Issuer {
    authorities: Arc<Authorities>,
    permits: Semaphore,
}

impl Issuer {
    /// Signs with the CAs of `authorities`, at most `parallel` certificates at once.
    pub fn new(authorities: Arc<Authorities>, parallel: usize) -> Issuer {
        Issuer {
            authorities,
            permits: Semaphore::new(parallel.max(1)),
        }
    }

    /// The CAs it signs with.
    pub fn authorities(&self) -> &Arc<Authorities> {
        &self.authorities
    }

    /// A new identity for `request`, from the enabled CA of `mesh` (a Mesh resource).
    pub async fn issue(
        &self,
        mesh: &Resource,
        request: &IdentityRequest,
    ) -> Result<Arc<Identity>, CaError> {
        let ca = self.authorities.ca(mesh).await?;
        if ca.backend != request.backend {
            return Err(CaError::NoBackend(request.backend.clone()));
        }
        // A closed semaphore cannot happen (it is never closed); go on without a permit then.
        let _permit = self.permits.acquire().await.ok();
        let request = request.clone();
        tokio::task::spawn_blocking(move || workload::issue(&ca, &request, Utc::now()))
            .await
            .map_err(|e| CaError::Issue(format!("issuing stopped: {e}")))?
            .map(Arc::new)
    }
}

/// One stream's identity.
pub struct StreamIdentity {
    issuer: Arc<Issuer>,
    current: Option<Arc<Identity>>,
    /// The last failure, so a repeated one is logged once.
    failed: Option<String>,
    /// When to issue again (renewal or retry).
    pub due: Option<Instant>,
}

impl StreamIdentity {
    /// No identity yet.
    pub fn new(issuer: Arc<Issuer>) -> StreamIdentity {
        StreamIdentity {
            issuer,
            current: None,
            failed: None,
            due: None,
        }
    }

    /// Fills the secrets `generated` needs, issuing an identity when the current one does not
    /// serve it (another backend, service or validity, or due for renewal). Returns what to
    /// report in the insight, if anything happened.
    pub async fn fulfil(
        &mut self,
        mesh: &Resource,
        dataplane: &str,
        generated: &mut Generated,
    ) -> Option<CertificateReport> {
        let Some(request) = &generated.identity else {
            self.current = None;
            self.failed = None;
            self.due = None;
            generated.config.secrets = Vec::new();
            return None;
        };
        let now = Utc::now();
        let mut report = None;
        let serves = self
            .current
            .as_ref()
            .is_some_and(|id| id.serves(request, now));
        if !serves {
            match self.issuer.issue(mesh, request).await {
                Ok(identity) => {
                    tracing::info!(
                        mesh = %request.mesh,
                        %dataplane,
                        service = %request.service,
                        backend = %request.backend,
                        expires = %identity.expires,
                        "issued the dataplane's certificate"
                    );
                    report = Some(CertificateReport::Issued {
                        expires: Timestamp(identity.expires),
                        at: Timestamp(identity.issued),
                    });
                    self.current = Some(identity);
                    self.failed = None;
                }
                Err(e) => {
                    let reason = e.to_string();
                    if self.failed.as_ref() != Some(&reason) {
                        tracing::warn!(mesh = %request.mesh, %dataplane, error = %reason, "could not issue the dataplane's certificate");
                        report = Some(CertificateReport::Failed(reason.clone()));
                    }
                    self.failed = Some(reason);
                }
            }
        }
        // An identity of another backend is not trusted by this one's CA: better none.
        let usable = self
            .current
            .as_ref()
            .filter(|id| id.request.backend == request.backend);
        generated.config.secrets = usable.map(|id| Secret::of_identity(id)).unwrap_or_default();
        self.due = Some(match (&self.failed, usable) {
            (None, Some(id)) => {
                let wait = (id.renew_at() - Utc::now()).to_std().unwrap_or_default();
                Instant::now() + wait
            }
            _ => Instant::now() + RETRY_AFTER,
        });
        report
    }
}
