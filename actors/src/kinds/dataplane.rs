//! `Dataplane`: one proxied workload — its address, inbound and outbound interfaces, or a
//! gateway.

use serde::{Deserialize, Serialize};

use super::mesh::MetricsBackend;
use crate::gostd;
use crate::proto::{self, is_default, Tags};
use crate::selector::{is_tag_name, PROTOCOL_TAG, SERVICE_TAG};
use crate::validation::{go_quote, Path, Violations};

/// Spec of a `Dataplane`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DataplaneSpec {
    /// Network interfaces of the dataplane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networking: Option<Networking>,
    /// Metrics backend override for this dataplane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsBackend>,
}

/// `networking` section of a Dataplane.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Networking {
    /// IP address of the dataplane.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// Present on a gateway dataplane instead of inbounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Gateway>,
    /// Services this dataplane exposes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inbound: Vec<Inbound>,
    /// Services this dataplane consumes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outbound: Vec<Outbound>,
    /// Transparent-proxying settings.
    #[serde(
        alias = "transparent_proxying",
        skip_serializing_if = "Option::is_none"
    )]
    pub transparent_proxying: Option<TransparentProxying>,
}

/// A gateway dataplane's tags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Gateway {
    /// Tags of the gateway (must include `service`).
    #[serde(
        deserialize_with = "proto::tags",
        skip_serializing_if = "Tags::is_empty"
    )]
    pub tags: Tags,
}

/// An inbound interface: traffic to `address:port` is forwarded to the workload's `servicePort`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Inbound {
    /// Legacy form `DATAPLANE_IP:DATAPLANE_PORT:WORKLOAD_PORT`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub interface: String,
    /// Port the dataplane listens on.
    #[serde(deserialize_with = "proto::u32", skip_serializing_if = "is_default")]
    pub port: u32,
    /// Port of the workload behind the dataplane.
    #[serde(
        alias = "service_port",
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub service_port: u32,
    /// Address of this inbound (defaults to `networking.address`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// Tags of the service (must include `service`).
    #[serde(
        deserialize_with = "proto::tags",
        skip_serializing_if = "Tags::is_empty"
    )]
    pub tags: Tags,
}

/// An outbound interface: a local port that reaches a service of the mesh.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Outbound {
    /// Legacy form `[DATAPLANE_IP]:DATAPLANE_PORT`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub interface: String,
    /// Local address to listen on (default 127.0.0.1).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// Local port to listen on.
    #[serde(deserialize_with = "proto::u32", skip_serializing_if = "is_default")]
    pub port: u32,
    /// Service reached through this outbound.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service: String,
}

/// Transparent-proxying settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TransparentProxying {
    /// Port iptables redirects outbound traffic to.
    #[serde(
        alias = "redirect_port",
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub redirect_port: u32,
}

impl DataplaneSpec {
    /// Validation of §6.3: the networking-level rules, the address, the gateway, then each
    /// inbound and outbound. A missing `networking` is one violation (Ursa's D9).
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        let root = Path::root("networking");
        let Some(networking) = &self.networking else {
            v.add(&root, NO_INBOUND);
            return v;
        };
        if networking.inbound.is_empty() && networking.gateway.is_none() {
            v.add(&root, NO_INBOUND);
        }
        if !networking.inbound.is_empty() && networking.gateway.is_some() {
            v.add(&root, "inbound cannot be defined both with gateway");
        }
        // Backwards compatibility: the address is only required when no inbound is legacy.
        if (!networking.address.is_empty() || !networking.has_legacy_inbound())
            && !gostd::is_ip(&networking.address)
        {
            v.add(root.field("address"), INVALID_IP);
        }
        if let Some(tp) = &networking.transparent_proxying {
            if tp.redirect_port > 65535 {
                v.add(
                    root.field("transparentProxying").field("redirectPort"),
                    "redirectPort has to be in range of [0, 65535]",
                );
            }
        }
        if let Some(gateway) = &networking.gateway {
            let tags = root.field("gateway").field("tags");
            if !gateway.tags.contains_key(SERVICE_TAG) {
                v.add(tags.key(SERVICE_TAG), "tag has to exist");
            }
            check_tags(&tags, &gateway.tags, &mut v);
        }
        // D24: past the cap only the cap is reported, so an oversized list costs no more.
        if networking.inbound.len() > MAX_INBOUNDS {
            v.add(
                root.field("inbound"),
                format!(
                    "has {} inbound interfaces; at most {MAX_INBOUNDS} are allowed",
                    networking.inbound.len()
                ),
            );
        } else {
            for (i, inbound) in networking.inbound.iter().enumerate() {
                inbound.check(&root.field("inbound").index(i), &networking.address, &mut v);
            }
        }
        if networking.outbound.len() > MAX_OUTBOUNDS {
            v.add(
                root.field("outbound"),
                format!(
                    "has {} outbound interfaces; at most {MAX_OUTBOUNDS} are allowed",
                    networking.outbound.len()
                ),
            );
        } else {
            for (i, outbound) in networking.outbound.iter().enumerate() {
                outbound.check(&root.field("outbound").index(i), &mut v);
            }
        }
        if let Some(metrics) = &self.metrics {
            if metrics.type_.is_empty() || metrics.type_ == super::mesh::PROMETHEUS {
                let conf = metrics.conf.clone().unwrap_or_default();
                if let Err(e) =
                    super::mesh::prometheus_conf(&conf, &Path::root("metrics").field("conf"))
                {
                    v.extend(e);
                }
            }
        }
        v
    }
}

/// Most inbound interfaces a Dataplane may have (D24).
pub const MAX_INBOUNDS: usize = 1_000;
/// Most outbound interfaces a Dataplane may have (D24).
pub const MAX_OUTBOUNDS: usize = 1_000;

const NO_INBOUND: &str = "has to contain at least one inbound interface or gateway";
const INVALID_IP: &str = "address has to be valid IP address";

impl Networking {
    /// True when some inbound uses only the legacy `interface` form.
    fn has_legacy_inbound(&self) -> bool {
        self.inbound.iter().any(|i| {
            !i.interface.is_empty() && i.port == 0 && i.service_port == 0 && i.address.is_empty()
        })
    }
}

impl Inbound {
    fn check(&self, path: &Path, dataplane_address: &str, v: &mut Violations) {
        let interface = path.field("interface");
        if !self.interface.is_empty() {
            const REPLACE: &str = "Replace it with port, servicePort and networking.address";
            if self.port != 0 {
                v.add(
                    &interface,
                    format!("interface cannot be defined with port. {REPLACE}"),
                );
            }
            if self.service_port != 0 {
                v.add(
                    &interface,
                    format!("interface cannot be defined with servicePort. {REPLACE}"),
                );
            }
            if !self.address.is_empty() {
                v.add(
                    &interface,
                    format!("interface cannot be defined with address. {REPLACE}"),
                );
            }
            if !dataplane_address.is_empty() {
                v.add(
                    &interface,
                    format!("interface cannot be defined with networking.address. {REPLACE}"),
                );
            }
            if parse_inbound_interface(&self.interface).is_none() {
                v.add(
                    &interface,
                    "invalid format: expected format is DATAPLANE_IP:DATAPLANE_PORT:WORKLOAD_PORT , e.g. 192.168.0.100:9090:8080 or [2001:db8::1]:7070:6060",
                );
            }
        } else {
            if !(1..=65535).contains(&self.port) {
                v.add(path.field("port"), "port has to be in range of [1, 65535]");
            }
            if self.service_port > 65535 {
                v.add(
                    path.field("servicePort"),
                    "servicePort has to be in range of [0, 65535]",
                );
            }
            if !self.address.is_empty() && !gostd::is_ip(&self.address) {
                v.add(path.field("address"), INVALID_IP);
            }
        }
        let tags = path.field("tags");
        if !self.tags.contains_key(SERVICE_TAG) {
            v.add(tags.key(SERVICE_TAG), "tag has to exist");
        }
        if let Some(protocol) = self.tags.get(PROTOCOL_TAG) {
            if !matches!(protocol.to_lowercase().as_str(), "http" | "tcp") {
                v.add(
                    tags.key(PROTOCOL_TAG),
                    format!(
                        "tag \"protocol\" has an invalid value {}. Allowed values: http, tcp",
                        go_quote(protocol)
                    ),
                );
            }
        }
        check_tags(&tags, &self.tags, v);
    }
}

impl Outbound {
    fn check(&self, path: &Path, v: &mut Violations) {
        if !self.interface.is_empty() {
            let interface = path.field("interface");
            if self.port != 0 {
                v.add(
                    &interface,
                    "interface cannot be defined with port. Replace it with port and address",
                );
            }
            if !self.address.is_empty() {
                v.add(
                    &interface,
                    "interface cannot be defined with address. Replace it with port and address",
                );
            }
            if parse_outbound_interface(&self.interface).is_none() {
                v.add(
                    &interface,
                    "invalid format: expected format is DATAPLANE_IP:DATAPLANE_PORT where DATAPLANE_IP is optional. E.g. 127.0.0.1:9090, :9090, [::1]:8080",
                );
            }
        } else {
            if !(1..=65535).contains(&self.port) {
                v.add(path.field("port"), "port has to be in range of [1, 65535]");
            }
            if !self.address.is_empty() && !gostd::is_ip(&self.address) {
                v.add(path.field("address"), INVALID_IP);
            }
        }
        if self.service.is_empty() {
            v.add(path.field("service"), "cannot be empty");
        }
    }
}

/// Tag checks of inbounds and gateways, keys in ascending byte order (Kuma 0.5.0 iterates a
/// Go map, so its order is random; ours is deterministic). No `*` here.
fn check_tags(path: &Path, tags: &Tags, v: &mut Violations) {
    for (key, value) in tags {
        if value.is_empty() {
            v.add(path.key(key), "tag value cannot be empty");
        }
        if !is_tag_name(key) {
            v.add(
                path.key(key),
                "tag name must consist of alphanumeric characters, dots, dashes and underscores",
            );
        }
        if !is_tag_name(value) {
            v.add(
                path.key(key),
                "tag value must consist of alphanumeric characters, dots, dashes and underscores",
            );
        }
    }
}

/// A legacy inbound `interface` parsed: `IP:DATAPLANE_PORT:WORKLOAD_PORT`, IPv6 in brackets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundInterface {
    /// The dataplane's IP as written (without brackets).
    pub dataplane_ip: String,
    /// The port the dataplane listens on.
    pub dataplane_port: u32,
    /// The workload's port.
    pub workload_port: u32,
}

/// A legacy outbound `interface` parsed: `[IP]:PORT`, the IP defaulting to `127.0.0.1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundInterface {
    /// The local IP as written (without brackets).
    pub dataplane_ip: String,
    /// The local port.
    pub dataplane_port: u32,
}

/// Kuma's `ParseInboundInterface`; `None` when the text is not in the legacy format.
pub fn parse_inbound_interface(text: &str) -> Option<InboundInterface> {
    let wp = text.rfind(':')?;
    text[..wp].rfind(':')?;
    let (host, port) = gostd::split_host_port(&text[..wp]).ok()?;
    if !gostd::is_ip(host) {
        return None;
    }
    Some(InboundInterface {
        dataplane_ip: host.to_string(),
        dataplane_port: gostd::parse_port(port)?,
        workload_port: gostd::parse_port(&text[wp + 1..])?,
    })
}

/// Kuma's `ParseOutboundInterface`; `None` when the text is not in the legacy format.
pub fn parse_outbound_interface(text: &str) -> Option<OutboundInterface> {
    let wp = text.rfind(':')?;
    let (ip, port) = if wp == 0 {
        ("127.0.0.1", &text[1..])
    } else {
        let (host, port) = gostd::split_host_port(text).ok()?;
        if !gostd::is_ip(host) {
            return None;
        }
        (host, port)
    };
    Some(OutboundInterface {
        dataplane_ip: ip.to_string(),
        dataplane_port: gostd::parse_port(port)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, Cases};
    use serde_json::json;

    fn case(name: &str, spec: serde_json::Value, want: &[(&str, &str)]) {
        check(name, spec, DataplaneSpec::validate, want);
    }

    const PORT_RANGE: &str = "port has to be in range of [1, 65535]";

    #[test]
    fn valid_dataplanes() {
        for (name, spec) in [
            (
                "legacy",
                json!({"networking": {
                "inbound": [{"interface": "127.0.0.1:8080:9090", "tags": {"service": "backend", "version": "1"}}],
                "outbound": [{"interface": ":3333", "service": "redis"}]}}),
            ),
            (
                "legacy ipv6",
                json!({"networking": {
                "inbound": [{"interface": "[2001:db8::1]:7070:6060", "tags": {"service": "backend"}}],
                "outbound": [{"interface": "[::1]:8080", "service": "redis"}, {"interface": "127.0.0.1:9090", "service": "db"}]}}),
            ),
            (
                "new format",
                json!({"networking": {"address": "192.168.0.1",
                "inbound": [{"port": 8080, "tags": {"service": "backend", "protocol": "HTTP"}}],
                "outbound": [{"port": 3333, "service": "redis"}]}}),
            ),
            (
                "full inbound and outbound",
                json!({"networking": {"address": "192.168.0.1",
                "inbound": [{"port": 8080, "servicePort": 7777, "address": "192.168.0.2", "tags": {"service": "backend", "protocol": "tcp"}}],
                "outbound": [{"port": 3333, "address": "127.0.0.1", "service": "redis"}]}}),
            ),
            (
                "gateway",
                json!({"networking": {"address": "::1",
                "gateway": {"tags": {"service": "gateway", "valid": "abc.0123-789.under_score:90"}},
                "outbound": [{"port": 3333, "service": "redis"}]}}),
            ),
            (
                "docs",
                json!({
                "type": "Dataplane", "name": "backend-1", "mesh": "mesh-1",
                "networking": {
                    "address": "127.0.0.1",
                    "inbound": [{"port": 11011, "servicePort": 11012,
                                 "tags": {"service": "backend", "version": "2.0", "env": "production"}}],
                    "outbound": [{"port": 33033, "service": "database"}, {"port": 44044, "service": "user"}]
                }}),
            ),
        ] {
            case(name, spec, &[]);
        }
    }

    #[test]
    fn invalid_dataplanes() {
        let inbound = |extra: serde_json::Value| {
            let mut i = json!({"port": 8080, "tags": {"service": "backend"}});
            for (k, v) in extra.as_object().into_iter().flatten() {
                i[k] = v.clone();
            }
            json!({"networking": {"address": "192.168.0.1", "inbound": [i]}})
        };
        let cases: Cases<'_> = vec![
            ("missing networking (D9)", json!({}),
             vec![("networking", "has to contain at least one inbound interface or gateway")]),
            ("empty networking", json!({"networking": {}}),
             vec![("networking", "has to contain at least one inbound interface or gateway"),
                  ("networking.address", "address has to be valid IP address")]),
            ("no inbound nor gateway", json!({"networking": {"address": "192.168.0.1",
                "outbound": [{"port": 3333, "service": "redis"}]}}),
             vec![("networking", "has to contain at least one inbound interface or gateway")]),
            ("inbound and gateway", json!({"networking": {"address": "192.168.0.1",
                "gateway": {"tags": {"service": "gateway"}},
                "inbound": [{"port": 8080, "tags": {"service": "backend"}}]}}),
             vec![("networking", "inbound cannot be defined both with gateway")]),
            ("invalid address", json!({"networking": {"address": "invalid",
                "inbound": [{"port": 8080, "tags": {"service": "backend"}}]}}),
             vec![("networking.address", "address has to be valid IP address")]),
            ("inbound ports", json!({"networking": {"address": "192.168.0.1", "inbound": [
                {"tags": {"service": "backend"}}, {"port": 65536, "tags": {"service": "backend"}}]}}),
             vec![("networking.inbound[0].port", PORT_RANGE), ("networking.inbound[1].port", PORT_RANGE)]),
            ("servicePort", inbound(json!({"servicePort": 65536})),
             vec![("networking.inbound[0].servicePort", "servicePort has to be in range of [0, 65535]")]),
            ("inbound address", inbound(json!({"address": "invalid-address"})),
             vec![("networking.inbound[0].address", "address has to be valid IP address")]),
            ("inbound without service", inbound(json!({"tags": {"version": "1"}})),
             vec![("networking.inbound[0].tags[\"service\"]", "tag has to exist")]),
            ("empty tag value", inbound(json!({"tags": {"service": "backend", "version": ""}})),
             vec![("networking.inbound[0].tags[\"version\"]", "tag value cannot be empty")]),
            ("empty protocol", inbound(json!({"tags": {"service": "backend", "protocol": ""}})),
             vec![("networking.inbound[0].tags[\"protocol\"]", "tag \"protocol\" has an invalid value \"\". Allowed values: http, tcp"),
                  ("networking.inbound[0].tags[\"protocol\"]", "tag value cannot be empty")]),
            ("unsupported protocol", inbound(json!({"tags": {"service": "backend", "protocol": "not-yet-supported-protocol"}})),
             vec![("networking.inbound[0].tags[\"protocol\"]", "tag \"protocol\" has an invalid value \"not-yet-supported-protocol\". Allowed values: http, tcp")]),
            ("gateway without service", json!({"networking": {"address": "192.168.0.1", "gateway": {"tags": {"version": "1"}}}}),
             vec![("networking.gateway.tags[\"service\"]", "tag has to exist")]),
            ("gateway empty tag value", json!({"networking": {"address": "192.168.0.1", "gateway": {"tags": {"service": "gw", "version": ""}}}}),
             vec![("networking.gateway.tags[\"version\"]", "tag value cannot be empty")]),
            ("outbound without service", json!({"networking": {"address": "192.168.0.1",
                "inbound": [{"port": 8080, "tags": {"service": "backend"}}], "outbound": [{"port": 3333}]}}),
             vec![("networking.outbound[0].service", "cannot be empty")]),
            ("outbound ports", json!({"networking": {"address": "192.168.0.1",
                "inbound": [{"port": 8080, "tags": {"service": "backend"}}],
                "outbound": [{"service": "redis"}, {"port": 65536, "service": "redis"}]}}),
             vec![("networking.outbound[0].port", PORT_RANGE), ("networking.outbound[1].port", PORT_RANGE)]),
            ("outbound address", json!({"networking": {"address": "192.168.0.1",
                "inbound": [{"port": 8080, "tags": {"service": "backend"}}],
                "outbound": [{"port": 3333, "address": "invalid", "service": "redis"}]}}),
             vec![("networking.outbound[0].address", "address has to be valid IP address")]),
            ("legacy outbound interface", json!({"networking": {
                "inbound": [{"interface": "127.0.0.1:8080:9090", "tags": {"service": "backend"}}],
                "outbound": [{"interface": "invalid", "service": "redis"}]}}),
             vec![("networking.outbound[0].interface", "invalid format: expected format is DATAPLANE_IP:DATAPLANE_PORT where DATAPLANE_IP is optional. E.g. 127.0.0.1:9090, :9090, [::1]:8080")]),
            ("legacy inbound interface", json!({"networking": {
                "inbound": [{"interface": "invalid", "tags": {"service": "backend"}}],
                "outbound": [{"interface": ":3333", "service": "redis"}]}}),
             vec![("networking.inbound[0].interface", "invalid format: expected format is DATAPLANE_IP:DATAPLANE_PORT:WORKLOAD_PORT , e.g. 192.168.0.100:9090:8080 or [2001:db8::1]:7070:6060")]),
            ("networking.address with legacy inbounds", json!({"networking": {"address": "192.168.0.1",
                "inbound": [{"interface": "192.168.0.1:1234:5678", "tags": {"service": "backend", "version": "v1"}}],
                "outbound": [{"interface": ":3333", "service": "elastic"}]}}),
             vec![("networking.inbound[0].interface", "interface cannot be defined with networking.address. Replace it with port, servicePort and networking.address")]),
            ("legacy mixed with new", json!({"networking": {"address": "192.168.0.1",
                "inbound": [{"interface": "192.168.0.1:1234:5678", "address": "192.168.0.1", "port": 1234, "servicePort": 5678,
                             "tags": {"service": "backend", "version": "v1"}}],
                "outbound": [{"port": 3333, "service": "elastic"}]}}),
             vec![("networking.inbound[0].interface", "interface cannot be defined with port. Replace it with port, servicePort and networking.address"),
                  ("networking.inbound[0].interface", "interface cannot be defined with servicePort. Replace it with port, servicePort and networking.address"),
                  ("networking.inbound[0].interface", "interface cannot be defined with address. Replace it with port, servicePort and networking.address"),
                  ("networking.inbound[0].interface", "interface cannot be defined with networking.address. Replace it with port, servicePort and networking.address")]),
            ("legacy outbound mixed with new", json!({"networking": {"address": "192.168.0.1",
                "inbound": [{"port": 8080, "tags": {"service": "backend"}}],
                "outbound": [{"interface": ":3333", "port": 3333, "address": "127.0.0.1", "service": "elastic"}]}}),
             vec![("networking.outbound[0].interface", "interface cannot be defined with port. Replace it with port and address"),
                  ("networking.outbound[0].interface", "interface cannot be defined with address. Replace it with port and address")]),
            ("invalid tag name", inbound(json!({"tags": {"service": "backend", "inv@lidT/gN%me": "value"}})),
             vec![("networking.inbound[0].tags[\"inv@lidT/gN%me\"]", "tag name must consist of alphanumeric characters, dots, dashes and underscores")]),
            ("invalid tag value", inbound(json!({"tags": {"service": "backend", "invalidTagValue": "inv@lid+t@g"}})),
             vec![("networking.inbound[0].tags[\"invalidTagValue\"]", "tag value must consist of alphanumeric characters, dots, dashes and underscores")]),
            ("star is not a tag value here", inbound(json!({"tags": {"service": "*"}})),
             vec![("networking.inbound[0].tags[\"service\"]", "tag value must consist of alphanumeric characters, dots, dashes and underscores")]),
        ];
        for (name, spec, want) in cases {
            case(name, spec, &want);
        }
    }

    #[test]
    fn legacy_interfaces_parse_like_kuma() {
        assert_eq!(
            parse_inbound_interface("[2001:db8::1]:7070:6060"),
            Some(InboundInterface {
                dataplane_ip: "2001:db8::1".into(),
                dataplane_port: 7070,
                workload_port: 6060
            })
        );
        assert_eq!(
            parse_outbound_interface(":9090"),
            Some(OutboundInterface {
                dataplane_ip: "127.0.0.1".into(),
                dataplane_port: 9090
            })
        );
        for bad in [
            "",
            "1.2.3.4:1",
            "1.2.3.4:0:1",
            "1.2.3.4:1:65536",
            "::1:1:2",
            "host:1:2",
            ":1:2",
        ] {
            assert_eq!(parse_inbound_interface(bad), None, "{bad}");
        }
        for bad in [
            "",
            "9090",
            ":0",
            ":65536",
            "localhost:80",
            "1.2.3.4:",
            "::1:80",
        ] {
            assert_eq!(parse_outbound_interface(bad), None, "{bad}");
        }
    }
}
