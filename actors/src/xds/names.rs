//! Kuma's names and small conversions that generation phases share: interface resolution,
//! cluster and stat names, the `x-kuma-tags` serialisation and the protocol of a tag set.

use std::time::Duration;

use crate::kinds::dataplane::{
    parse_inbound_interface, parse_outbound_interface, DataplaneSpec, Inbound, Networking, Outbound,
};
use crate::proto::Tags;
use crate::selector::{PROTOCOL_TAG, SERVICE_TAG};

use super::policy;

/// The Dataplane's identifying service (xDS §3.3): the first, in sorted order, of the
/// `service` tags of its inbounds and gateway, else `unknown`. Its SPIFFE id and the
/// bootstrap's `node.cluster` name it.
pub fn identifying_service(dataplane: &DataplaneSpec) -> String {
    policy::tag_sets(dataplane)
        .filter_map(|t| t.get(SERVICE_TAG))
        .min()
        .cloned()
        .unwrap_or_else(|| "unknown".into())
}

/// Connect timeout of every generated cluster.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The header carrying the calling Dataplane's tags from outbound to inbound.
pub const TAGS_HEADER: &str = "x-kuma-tags";

/// An application protocol as Kuma infers it from `protocol` tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `protocol: http`.
    Http,
    /// `protocol: tcp`.
    Tcp,
    /// Absent or anything else; handled as TCP.
    Unknown,
}

impl Protocol {
    /// The protocol named by a tag set's `protocol` tag (case-insensitive).
    pub fn of(tags: &Tags) -> Protocol {
        match tags.get(PROTOCOL_TAG).map(|p| p.to_ascii_lowercase()) {
            Some(p) if p == "http" => Protocol::Http,
            Some(p) if p == "tcp" => Protocol::Tcp,
            _ => Protocol::Unknown,
        }
    }

    /// Kuma's fold: same → same, anything with unknown → unknown, http + tcp → tcp.
    pub fn combine(self, other: Protocol) -> Protocol {
        match (self, other) {
            (a, b) if a == b => a,
            (Protocol::Unknown, _) | (_, Protocol::Unknown) => Protocol::Unknown,
            _ => Protocol::Tcp,
        }
    }
}

/// An inbound interface resolved from the legacy `interface` or the explicit fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundIface {
    /// IP the Dataplane listens on.
    pub ip: String,
    /// Port the Dataplane listens on.
    pub dataplane_port: u32,
    /// Port of the workload.
    pub workload_port: u32,
}

impl InboundIface {
    /// Kuma's `GetInboundInterfaceByIdx`; `None` when the interface cannot be resolved.
    pub fn resolve(networking: &Networking, inbound: &Inbound) -> Option<InboundIface> {
        let iface = if inbound.interface.is_empty() {
            let ip = if inbound.address.is_empty() {
                &networking.address
            } else {
                &inbound.address
            };
            InboundIface {
                ip: ip.clone(),
                dataplane_port: inbound.port,
                workload_port: if inbound.service_port == 0 {
                    inbound.port
                } else {
                    inbound.service_port
                },
            }
        } else {
            let legacy = parse_inbound_interface(&inbound.interface)?;
            InboundIface {
                ip: legacy.dataplane_ip,
                dataplane_port: legacy.dataplane_port,
                workload_port: legacy.workload_port,
            }
        };
        (!iface.ip.is_empty() && iface.dataplane_port != 0 && iface.workload_port != 0)
            .then_some(iface)
    }
}

/// Resolves an outbound: the legacy `interface` or `address` (default `127.0.0.1`) + `port`.
pub fn resolve_outbound(outbound: &Outbound) -> Option<(String, u32)> {
    let (ip, port) = if outbound.interface.is_empty() {
        let ip = if outbound.address.is_empty() {
            "127.0.0.1".to_string()
        } else {
            outbound.address.clone()
        };
        (ip, outbound.port)
    } else {
        let legacy = parse_outbound_interface(&outbound.interface)?;
        (legacy.dataplane_ip, legacy.dataplane_port)
    };
    (port != 0).then_some((ip, port))
}

/// Kuma's `SanitizeMetric`: every character outside `[a-zA-Z0-9_-]` becomes `_`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The sanitized stats name of a cluster, when it differs from the name.
pub fn alt_stat_name(name: &str) -> Option<String> {
    let sanitized = sanitize(name);
    (sanitized != name).then_some(sanitized)
}

/// Kuma's cluster name of a route destination: `<service>` alone, or
/// `<service>{k1=v1,k2=v2}` with the other tags as sorted `k=v` strings.
pub fn cluster_name(destination: &Tags) -> String {
    let service = destination.get(SERVICE_TAG).map_or("", String::as_str);
    let mut pairs: Vec<String> = destination
        .iter()
        .filter(|(k, _)| *k != SERVICE_TAG)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if pairs.is_empty() {
        return service.to_string();
    }
    pairs.sort_unstable();
    format!("{service}{{{}}}", pairs.join(","))
}

/// Kuma's tag serialization for `x-kuma-tags`: `&key=v1,v2&` per key, keys and values sorted.
pub fn serialize_tags(dataplane: &DataplaneSpec) -> String {
    policy::dataplane_tags(dataplane)
        .into_iter()
        .map(|(k, vs)| format!("&{k}={}&", vs.join(",")))
        .collect()
}
