//! The proxy a stream serves: its Dataplane, what it told of itself, and the configuration
//! generated for it with the secrets that configuration names.

use super::*;

pub(super) struct Proxy {
    pub(super) mesh: String,
    pub(super) dataplane: String,
    /// What the proxy told of itself on its first request.
    pub(super) node: Node,
    pub(super) actor: actix::Addr<MeshActor>,
    pub(super) snapshots: watch::Receiver<Arc<XdsSnapshot>>,
    /// The snapshot the configuration reflects.
    pub(super) seen: u64,
    /// The Dataplane the configuration was generated from (`None`: it did not exist).
    pub(super) source: Option<Arc<Resource>>,
    /// The configuration `encoded` was made from, and its dependency keys.
    pub(super) generated: Generated,
    /// EDS is shared with every stream that has the same endpoints.
    pub(super) encoded: PerType<Arc<Encoded>>,
}

impl Proxy {
    /// Takes `generated` as the configuration, re-encoding only the types that differ from
    /// the one it replaces (unchanged types keep their encoding, and so their version).
    pub(super) fn replace(&mut self, encoder: &Encoder, generated: Generated) {
        self.encoded = encoder.reencode(
            Some((&self.generated.config, &self.encoded)),
            &generated.config,
        );
        self.generated = generated;
    }

    /// Whether the changes from the snapshot this configuration reflects to `snapshot` can
    /// change it.
    pub(super) fn affected_by(&self, snapshot: &XdsSnapshot) -> bool {
        let Some(mut changes) = snapshot.changes_since(self.seen) else {
            // Too far behind to tell: regenerate and let the comparison decide.
            return true;
        };
        match self.source.as_deref().map(|r| &r.spec) {
            Some(ursa_actors::Spec::Dataplane(spec)) => {
                changes.any(|c| self.generated.deps.affected_by(spec, c))
            }
            // No Dataplane yet (X5): only its creation (or the Mesh) changes an empty config.
            _ => changes.any(|c| c.mesh || c.dataplane_changed(&self.dataplane)),
        }
    }
}

/// The configuration of `dataplane` in `snapshot`, and the Dataplane it came from. A missing
/// Dataplane gets an empty configuration, so a deleted one loses its listeners and a new one
/// gets them the moment it is created (X5).
pub(super) fn generate_in(
    snapshot: &XdsSnapshot,
    dataplane: &str,
    node: &Node,
) -> (Option<Arc<Resource>>, Generated) {
    match snapshot.state.get(Kind::Dataplane, dataplane) {
        Some(dp) => (
            Some(dp.clone()),
            generate_for(&snapshot.state, &snapshot.endpoints, dp, node),
        ),
        None => (None, Generated::default()),
    }
}

/// What generation reads of the node's metadata: the admin port the bootstrap put there
/// (`dataplane.admin.port`, a string), 0 when absent or not a port.
pub(super) fn node_of(req: &DiscoveryRequest) -> Node {
    use envoy_types::pb::google::protobuf::value::Kind as V;
    let admin_port = req
        .node
        .as_ref()
        .and_then(|n| n.metadata.as_ref())
        .and_then(|m| m.fields.get("dataplane.admin.port"))
        .and_then(|v| match &v.kind {
            Some(V::StringValue(s)) => s.parse::<u16>().ok(),
            Some(V::NumberValue(n)) if n.fract() == 0.0 => u16::try_from(*n as i64).ok(),
            _ => None,
        })
        .map_or(0, u32::from);
    Node { admin_port }
}

/// Fills the secrets `generated` needs from the stream's `identity` (issuing or renewing it),
/// and tells the mesh actor what became of the certificate (the insight's mTLS section,
/// xDS §4.5).
pub(super) async fn fill_secrets(
    identity: Option<&mut StreamIdentity>,
    mesh: &Resource,
    actor: &actix::Addr<MeshActor>,
    dataplane: &str,
    generated: &mut Generated,
) {
    let Some(identity) = identity else {
        return;
    };
    if let Some(report) = identity.fulfil(mesh, dataplane, generated).await {
        actor.do_send(ReportCertificate {
            dataplane: dataplane.to_string(),
            report,
        });
    }
}
