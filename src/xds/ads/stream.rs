//! One ADS stream: learns its proxy from the first request, then answers requests and
//! follows its mesh's snapshots until Envoy or Ursa ends it.

use super::proxy::{fill_secrets, generate_in, node_of};
use super::*;

/// What one type has seen on this stream.
#[derive(Default)]
pub(super) struct TypeState {
    /// Envoy asked for this type.
    pub(super) subscribed: bool,
    /// Version last sent.
    pub(super) sent_version: Option<String>,
    /// Nonce of the last response of this type.
    pub(super) nonce: String,
    /// Resource names of Envoy's last request (EDS/RDS ask by name).
    pub(super) names: Vec<String>,
    /// Nonces sent and not yet answered: each response is counted ACKed or rejected once,
    /// however often Envoy repeats a nonce (it does while warming clusters). With each, when
    /// the change it delivers was committed (for the delivery time).
    pub(super) unanswered: Vec<(String, Option<std::time::Instant>)>,
    /// A version not sent for being over [`MAX_RESPONSE_BYTES`] (logged once).
    pub(super) oversized: Option<String>,
}

/// Unanswered nonces remembered per type; older ones are forgotten (Envoy answers in order).
pub(super) const UNANSWERED_KEPT: usize = 16;

pub(super) struct AdsStream {
    pub(super) _slot: Slot,
    pub(super) registry: MeshRegistry,
    pub(super) instance_id: Arc<str>,
    pub(super) out: Outbound,
    /// Set once `node.id` is known.
    pub(super) proxy: Option<Proxy>,
    pub(super) subscription: Subscription,
    pub(super) types: PerType<TypeState>,
    pub(super) nonces: u64,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) encoder: Arc<Encoder>,
    pub(super) stats: Arc<XdsMetrics>,
    /// When the pending (coalesced) report of the subscription is due.
    pub(super) report_due: Option<Instant>,
    /// Until when a change is coalesced instead of reported at once.
    pub(super) quiet_until: Instant,
    /// The dataplane token's claims, or why there are none; `None` when tokens are off.
    pub(super) token: Option<Result<crate::dataplane_token::DataplaneClaims, DataplaneTokenError>>,
    /// The proxy's identity (mTLS).
    pub(super) identity: Option<StreamIdentity>,
    /// Clusters were sent and no endpoints since: Envoy warms an updated EDS cluster (a TLS
    /// context added, say) until an EDS response arrives, even an unchanged one, so its next
    /// EDS request is answered whatever its version (without, the old cluster serves on for
    /// Envoy's 15 s initial fetch timeout).
    pub(super) eds_after_cds: bool,
}

/// Why a stream stops.
pub(super) enum End {
    /// Envoy closed it or the connection broke.
    Closed,
    /// Ursa ends it with this status.
    Refused(Status),
}

impl AdsStream {
    pub(super) fn new(
        slot: Slot,
        registry: MeshRegistry,
        instance_id: Arc<str>,
        out: Outbound,
        shutdown: watch::Receiver<bool>,
        encoder: Arc<Encoder>,
        stats: Arc<XdsMetrics>,
    ) -> AdsStream {
        let subscription = Subscription {
            id: uuid::Uuid::new_v4().to_string(),
            control_plane_instance_id: instance_id.to_string(),
            connect_time: Some(Timestamp::now()),
            disconnect_time: None,
            status: Some(SubscriptionStatus {
                last_update_time: None,
                total: Some(Stats::default()),
                cds: Some(Stats::default()),
                eds: Some(Stats::default()),
                lds: Some(Stats::default()),
                rds: Some(Stats::default()),
            }),
        };
        AdsStream {
            _slot: slot,
            registry,
            instance_id,
            out,
            proxy: None,
            subscription,
            types: Default::default(),
            nonces: 0,
            shutdown,
            encoder,
            stats,
            report_due: None,
            quiet_until: Instant::now(),
            token: None,
            identity: None,
            eds_after_cds: false,
        }
    }

    pub(super) async fn run(mut self, mut requests: Streaming<DiscoveryRequest>) {
        self.stats.streams.inc();
        let end = loop {
            let changed = async {
                match &mut self.proxy {
                    Some(p) => p.snapshots.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            let shutdown = stopped(self.shutdown.clone());
            let report_due = self.report_due;
            let report = async move {
                match report_due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let renew_due = self.identity.as_ref().and_then(|i| i.due);
            let renew = async move {
                match renew_due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown => {
                    break End::Refused(Status::unavailable("the control plane is shutting down"));
                }
                _ = report => self.report_now(),
                _ = renew => {
                    if let Err(end) = self.on_renew().await {
                        break end;
                    }
                }
                request = requests.message() => match request {
                    Ok(Some(req)) => {
                        if let Err(end) = self.on_request(req).await {
                            break end;
                        }
                    }
                    Ok(None) => break End::Closed,
                    Err(status) => match unreadable(&status) {
                        Some(refusal) => {
                            tracing::warn!(error = %status.message(), "refusing an unreadable DiscoveryRequest");
                            break End::Refused(refusal);
                        }
                        None => {
                            tracing::debug!(%status, "stream broke");
                            break End::Closed;
                        }
                    },
                },
                alive = changed => {
                    if !alive {
                        // The mesh actor is gone: the mesh was deleted.
                        break End::Refused(Status::unavailable("the mesh of this dataplane was deleted"));
                    }
                    if let Err(end) = self.on_config().await {
                        break end;
                    }
                }
            }
        };
        self.stats.streams.dec();
        if let Some(proxy) = &self.proxy {
            self.stats
                .connected
                .get_or_create(&MeshLabel {
                    mesh: proxy.mesh.clone(),
                })
                .dec();
        }
        if let End::Refused(status) = end {
            tracing::info!(message = status.message(), "ending stream");
            let _ = self.out.send(Err(status)).await;
        }
        if let Some(proxy) = &self.proxy {
            self.subscription.disconnect_time = Some(Timestamp::now());
            proxy.actor.do_send(UnsubscribeProxy {
                dataplane: proxy.dataplane.clone(),
                subscription: self.subscription.clone(),
            });
            tracing::info!(mesh = %proxy.mesh, dataplane = %proxy.dataplane, "dataplane disconnected");
        }
    }

    /// Learns the node on the first request that carries one.
    pub(super) async fn identify(&mut self, req: &DiscoveryRequest) -> Result<(), End> {
        if self.proxy.is_some() {
            return Ok(());
        }
        let id = req.node.as_ref().map(|n| n.id.as_str()).unwrap_or("");
        let (mesh, dataplane) =
            parse_node_id(id).map_err(|m| End::Refused(Status::invalid_argument(m)))?;
        self.authenticate(&mesh, &dataplane)?;
        let actor = self.registry.get(&mesh).ok_or_else(|| {
            End::Refused(Status::not_found(format!("mesh {mesh:?} does not exist")))
        })?;
        let mut snapshots = actor
            .send(SubscribeProxy {
                dataplane: dataplane.clone(),
                subscription: self.subscription.clone(),
            })
            .await
            .map_err(|_| {
                End::Refused(Status::unavailable(format!(
                    "mesh {mesh:?} is being deleted"
                )))
            })?;
        // Generate from a clone of the Arc: holding the channel's read lock while generating
        // would block the mesh actor's next publication.
        let snapshot = snapshots.borrow_and_update().clone();
        let started = std::time::Instant::now();
        let node = node_of(req);
        let (source, mut generated) = generate_in(&snapshot, &dataplane, &node);
        self.stats
            .generation_seconds
            .observe(started.elapsed().as_secs_f64());
        self.stats.generations.inc();
        fill_secrets(
            self.identity.as_mut(),
            &snapshot.state.mesh,
            &actor,
            &dataplane,
            &mut generated,
        )
        .await;
        let encoded = self.encoder.encode(&generated.config);
        tracing::info!(%mesh, %dataplane, subscription = %self.subscription.id, "dataplane connected");
        self.stats
            .connected
            .get_or_create(&MeshLabel { mesh: mesh.clone() })
            .inc();
        self.proxy = Some(Proxy {
            mesh,
            dataplane,
            node,
            actor,
            snapshots,
            seen: snapshot.version,
            source,
            generated,
            encoded,
        });
        Ok(())
    }

    pub(super) async fn on_request(&mut self, req: DiscoveryRequest) -> Result<(), End> {
        if req.type_url.is_empty() {
            return Err(End::Refused(Status::invalid_argument(
                "type_url is required on an ADS stream",
            )));
        }
        self.identify(&req).await?;
        let Some(t) = TypeUrl::parse(&req.type_url) else {
            tracing::debug!(type_url = %req.type_url, "request for a type Ursa does not serve");
            return Ok(());
        };
        let nack = req.error_detail.as_ref();
        let unanswered = &mut self.types[t].unanswered;
        if let Some(i) = unanswered.iter().position(|n| n.0 == req.response_nonce) {
            let (_, since) = unanswered.remove(i);
            let label = TypeLabel { r#type: t.short() };
            if nack.is_some() {
                self.stats.nacks.get_or_create(&label).inc();
            } else {
                self.stats.acks.get_or_create(&label).inc();
                if let Some(since) = since {
                    self.stats
                        .delivery_seconds
                        .observe(since.elapsed().as_secs_f64());
                }
            }
            self.count_reply(t, nack.is_some());
            if let Some(detail) = nack {
                tracing::warn!(
                    type_url = %req.type_url,
                    version = %req.version_info,
                    error = %detail.message,
                    "Envoy rejected a configuration"
                );
            }
        }
        let state = &mut self.types[t];
        let mut names = req.resource_names.clone();
        names.sort();
        // A reply to an older response: the newer one is on its way or answered already.
        if !req.response_nonce.is_empty() && req.response_nonce != state.nonce {
            // Its names are what Envoy watches now, and the newer response (every resource of
            // the type) reaches those watches: an ACK of it naming them needs no resend. This is
            // Envoy asking EDS for the clusters of a CDS update whose EDS update is in flight.
            state.names = names;
            return Ok(());
        }
        state.subscribed = true;
        let names_changed = names != state.names;
        state.names = names;
        if nack.is_some() {
            // X4: never resend what Envoy rejected; the next change brings a new version.
            return Ok(());
        }
        let current = self.proxy.as_ref().map(|p| p.encoded[t].version.clone());
        let state = &mut self.types[t];
        if req.response_nonce.is_empty()
            && state.sent_version.is_none()
            && current.as_deref() == Some(req.version_info.as_str())
        {
            // Envoy reconnected already holding exactly this content (versions are content hashes).
            state.sent_version = current;
            return Ok(());
        }
        // Envoy asking for other names (a new EDS cluster warming, a new RDS route) must be
        // answered even when the version did not change.
        let warming = t == TypeUrl::Endpoint && self.eds_after_cds;
        let due = state.sent_version != current
            || ((names_changed || warming) && !req.response_nonce.is_empty());
        if due || req.response_nonce.is_empty() {
            self.send(t, None).await?;
        }
        Ok(())
    }

    /// A new snapshot: regenerate if its changes reach this proxy, then send what changed.
    pub(super) async fn on_config(&mut self) -> Result<(), End> {
        let mut since = None;
        if let Some(proxy) = &mut self.proxy {
            let snapshot = proxy.snapshots.borrow_and_update().clone();
            if !proxy.affected_by(&snapshot) {
                proxy.seen = snapshot.version;
                self.stats.skipped.inc();
                return Ok(());
            }
            // Delivery counts from the oldest change this configuration brings.
            since = snapshot
                .changes_since(proxy.seen)
                .and_then(|changes| changes.filter_map(|c| c.since).min());
            let started = std::time::Instant::now();
            let (source, mut generated) = generate_in(&snapshot, &proxy.dataplane, &proxy.node);
            self.stats
                .generation_seconds
                .observe(started.elapsed().as_secs_f64());
            self.stats.generations.inc();
            fill_secrets(
                self.identity.as_mut(),
                &snapshot.state.mesh,
                &proxy.actor,
                &proxy.dataplane,
                &mut generated,
            )
            .await;
            proxy.replace(&self.encoder, generated);
            proxy.seen = snapshot.version;
            proxy.source = source;
        }
        self.send_changed(since).await
    }

    /// Sends each subscribed type whose version differs from the one sent, in push order.
    pub(super) async fn send_changed(
        &mut self,
        since: Option<std::time::Instant>,
    ) -> Result<(), End> {
        for t in TypeUrl::ALL {
            let current = self.proxy.as_ref().map(|p| p.encoded[t].version.clone());
            if self.types[t].subscribed && self.types[t].sent_version != current {
                self.send(t, since).await?;
            }
        }
        Ok(())
    }

    /// The identity is due for renewal (or a failed issuance for a retry): issue it and send
    /// the secrets that changed.
    pub(super) async fn on_renew(&mut self) -> Result<(), End> {
        let (Some(proxy), Some(identity)) = (&mut self.proxy, &mut self.identity) else {
            return Ok(());
        };
        let snapshot = proxy.snapshots.borrow().clone();
        let mut generated = proxy.generated.clone();
        fill_secrets(
            Some(identity),
            &snapshot.state.mesh,
            &proxy.actor,
            &proxy.dataplane,
            &mut generated,
        )
        .await;
        proxy.replace(&self.encoder, generated);
        self.send_changed(None).await
    }

    /// Checks the stream's dataplane token against the node it names (X11): nothing is sent
    /// to a refused stream, and the log names the node, never the token.
    pub(super) fn authenticate(&self, mesh: &str, dataplane: &str) -> Result<(), End> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let refusal = match token {
            Ok(claims) if claims.mesh == mesh && claims.name == dataplane => return Ok(()),
            Ok(claims) => {
                let e = DataplaneTokenError::OtherDataplane {
                    mesh: claims.mesh.clone(),
                    name: claims.name.clone(),
                };
                Status::permission_denied(e.to_string())
            }
            Err(e) => Status::unauthenticated(e.to_string()),
        };
        self.stats.refused_streams.inc();
        tracing::warn!(node = %format!("{mesh}.{dataplane}"), reason = %refusal.message(), "refused an ADS stream: bad dataplane token");
        Err(End::Refused(refusal))
    }

    /// Sends the current configuration of type `t`; `since`: when the change it delivers was
    /// committed.
    pub(super) async fn send(
        &mut self,
        t: TypeUrl,
        since: Option<std::time::Instant>,
    ) -> Result<(), End> {
        let Some(proxy) = &self.proxy else {
            return Ok(());
        };
        let encoded = &proxy.encoded[t];
        let bytes = encoded.size();
        if bytes > MAX_RESPONSE_BYTES {
            let state = &mut self.types[t];
            if state.oversized.as_ref() != Some(&encoded.version) {
                tracing::error!(
                    mesh = %proxy.mesh,
                    dataplane = %proxy.dataplane,
                    type_url = encoded.type_url.as_str(),
                    bytes,
                    limit = MAX_RESPONSE_BYTES,
                    "configuration too large to send; the proxy keeps its last one"
                );
                state.oversized = Some(encoded.version.clone());
            }
            return Ok(());
        }
        self.nonces += 1;
        let nonce = self.nonces.to_string();
        let response = Box::new(DiscoveryResponse {
            version_info: encoded.version.clone(),
            resources: encoded.resources.clone(),
            type_url: encoded.type_url.as_str().to_string(),
            nonce: nonce.clone(),
            control_plane: Some(ControlPlane {
                identifier: self.instance_id.to_string(),
            }),
            ..Default::default()
        });
        let version = encoded.version.clone();
        self.out.send(Ok(response)).await.map_err(|_| End::Closed)?;
        self.stats
            .responses
            .get_or_create(&TypeLabel { r#type: t.short() })
            .inc();
        let state = &mut self.types[t];
        state.unanswered.push((nonce.clone(), since));
        if state.unanswered.len() > UNANSWERED_KEPT {
            state.unanswered.remove(0);
        }
        state.nonce = nonce;
        state.sent_version = Some(version);
        match t {
            TypeUrl::Cluster => self.eds_after_cds = true,
            TypeUrl::Endpoint => self.eds_after_cds = false,
            _ => {}
        }
        self.count_sent(t);
        Ok(())
    }
}
