//! [`Cluster`] → `envoy.config.cluster.v3.Cluster`: STATIC with inline endpoints, or EDS
//! over ADS.

use envoy_types::pb::envoy::config::cluster::v3 as cluster;
use ursa_actors::xds::model::{Cluster, Discovery};

use super::endpoint::load_assignment;
use super::{ads, duration};

/// The v3 Cluster of `c`.
pub fn cluster(c: &Cluster) -> cluster::Cluster {
    use cluster::cluster::{ClusterDiscoveryType, DiscoveryType, EdsClusterConfig};
    let mut out = cluster::Cluster {
        name: c.name.clone(),
        alt_stat_name: c.alt_stat_name.clone().unwrap_or_default(),
        connect_timeout: Some(duration(c.connect_timeout)),
        ..Default::default()
    };
    out.transport_socket = c.tls.as_ref().map(super::tls::upstream);
    match &c.discovery {
        Discovery::Static(la) => {
            out.cluster_discovery_type =
                Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32));
            out.load_assignment = Some(load_assignment(la));
        }
        Discovery::StrictDns(la) => {
            out.cluster_discovery_type =
                Some(ClusterDiscoveryType::Type(DiscoveryType::StrictDns as i32));
            out.load_assignment = Some(load_assignment(la));
        }
        Discovery::OriginalDst => {
            out.cluster_discovery_type = Some(ClusterDiscoveryType::Type(
                DiscoveryType::OriginalDst as i32,
            ));
            out.lb_policy = cluster::cluster::LbPolicy::ClusterProvided as i32;
        }
        Discovery::Eds => {
            out.cluster_discovery_type =
                Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32));
            out.eds_cluster_config = Some(EdsClusterConfig {
                eds_config: Some(ads()),
                service_name: String::new(),
            });
        }
    }
    out
}
