//! xDS §3.4: the HealthCheck of each destination service (matcher B over the services the
//! proxy's routes send to) goes on every EDS cluster of that service: active checks become a
//! TCP health check, passive ones outlier detection on consecutive 5xx.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::kinds::health_check::{HealthCheckConf, HealthCheckSpec};
use crate::kinds::Kind;
use crate::proto;
use crate::selector::SERVICE_TAG;
use crate::xds::model::{ActiveHealthCheck, Discovery, Health, OutlierDetection};
use crate::xds::names::cluster_name;
use crate::xds::policy;

use super::{Builder, Input};

/// Adds health checking to the clusters of the destination services a HealthCheck selects.
pub fn apply<'a>(input: &Input<'a>, builder: &mut Builder<'a>) {
    // Every cluster a route can send to, with its service.
    let clusters: BTreeSet<(&str, String)> = builder
        .routes
        .values()
        .flat_map(|route| route.conf.iter())
        .filter_map(|branch| {
            let service = branch.destination.get(SERVICE_TAG)?;
            Some((service.as_str(), cluster_name(&branch.destination)))
        })
        .collect();
    let services: Vec<&str> = clusters
        .iter()
        .map(|(s, _)| *s)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let selected = policy::select_connection_policies(
        input.state.typed::<HealthCheckSpec>(),
        input.spec,
        &services,
    );
    for (service, cluster) in &clusters {
        let Some(&(check, spec)) = selected.get(*service) else {
            continue;
        };
        builder
            .deps
            .policies
            .insert((Kind::HealthCheck, check.meta.name.clone()));
        let Some(cluster) = builder.resources.clusters.get_mut(cluster) else {
            continue;
        };
        if cluster.discovery == Discovery::Eds {
            cluster.health = health(spec.conf.as_ref());
        }
    }
}

fn health(conf: Option<&HealthCheckConf>) -> Health {
    let Some(conf) = conf else {
        return Health::default();
    };
    let active = conf.active_checks.as_ref().and_then(|a| {
        Some(ActiveHealthCheck {
            interval: positive(a.interval?)?,
            timeout: positive(a.timeout?)?,
            unhealthy_threshold: a.unhealthy_threshold,
            healthy_threshold: a.healthy_threshold,
        })
    });
    let outlier_detection = conf
        .passive_checks
        .as_ref()
        .filter(|p| p.unhealthy_threshold > 0 || p.penalty_interval.is_some())
        .map(|p| OutlierDetection {
            interval: p.penalty_interval.and_then(positive),
            consecutive_5xx: p.unhealthy_threshold,
        });
    Health {
        active,
        outlier_detection,
    }
}

/// `d` when it is above zero (Envoy refuses zero intervals and timeouts).
fn positive(d: proto::Duration) -> Option<Duration> {
    u64::try_from(d.as_nanos())
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_nanos)
}
