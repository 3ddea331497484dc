//! [`Cluster`] → `envoy.config.cluster.v3.Cluster`: STATIC with inline endpoints, or EDS
//! over ADS.

use envoy_types::pb::envoy::config::cluster::v3 as cluster;
use envoy_types::pb::envoy::config::core::v3 as core;
use envoy_types::pb::google::protobuf::UInt32Value;
use ursa_actors::xds::model::{ActiveHealthCheck, Cluster, Discovery, OutlierDetection};

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
    out.health_checks = c.health.active.iter().map(health_check).collect();
    out.outlier_detection = c.health.outlier_detection.as_ref().map(outlier_detection);
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

/// A TCP connect check: no payload to send or expect.
fn health_check(h: &ActiveHealthCheck) -> core::HealthCheck {
    core::HealthCheck {
        interval: Some(duration(h.interval)),
        timeout: Some(duration(h.timeout)),
        unhealthy_threshold: Some(UInt32Value {
            value: h.unhealthy_threshold,
        }),
        healthy_threshold: Some(UInt32Value {
            value: h.healthy_threshold,
        }),
        health_checker: Some(core::health_check::HealthChecker::TcpHealthCheck(
            core::health_check::TcpHealthCheck::default(),
        )),
        ..Default::default()
    }
}

fn outlier_detection(o: &OutlierDetection) -> cluster::OutlierDetection {
    cluster::OutlierDetection {
        interval: o.interval.map(duration),
        consecutive_5xx: Some(UInt32Value {
            value: o.consecutive_5xx,
        }),
        ..Default::default()
    }
}
