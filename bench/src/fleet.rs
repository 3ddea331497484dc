//! Scenarios 5-7: a fleet of simulated Envoys connected over ADS, full configuration, fan-out
//! of a change, and the cost of a change.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::process::{self, Server};
use crate::report::{count, MtlsRow, XdsRow};
use crate::{fanout, fetch, http, load_mesh, mesh, progress, settle, xds, RunArgs};

pub(crate) async fn xds_scenario(args: &RunArgs, n: usize) -> Result<XdsRow, String> {
    let s = args.services;
    progress(format!(
        "xDS, N = {n}: starting ursa-cp, loading {n} dataplanes"
    ));
    let cp = Server::start_cp(&args.cp)?;
    let api = cp.addr("api");
    load_mesh(&cp, n, s, false).await?;
    settle().await;
    let rss_before = cp.rss();
    let names: Vec<String> = (0..n)
        .map(|i| {
            if args.empty_configs {
                format!("absent-{i}")
            } else {
                mesh::name(i)
            }
        })
        .collect();

    // 5. Connect; time until every client has its first full configuration.
    progress(format!(
        "  connecting {n} ADS streams ({} per HTTP/2 connection)",
        args.streams_per_connection
    ));
    let cpu0 = cp.cpu();
    let fleet_cpu0 = process::self_cpu();
    let fleet = xds::Fleet::connect(
        cp.addr("xds"),
        mesh::MESH,
        &names,
        args.streams_per_connection,
    )
    .await?;
    let all_full = xds::wait_until(Duration::from_secs(180), || {
        fleet.full_count() + fleet.failed_count() >= n
    })
    .await;
    let mut full_times: Vec<u64> = fleet
        .clients
        .iter()
        .map(|c| c.full_at.load(Ordering::Relaxed))
        .filter(|t| *t > 0)
        .collect();
    full_times.sort_unstable();
    let complete = all_full && full_times.len() == n;
    let full_config = complete.then(|| Duration::from_micros(*full_times.last().unwrap_or(&0)));
    let full_config_p50 =
        (!full_times.is_empty()).then(|| Duration::from_micros(full_times[full_times.len() / 2]));
    let connect_cpu = cp.cpu().saturating_sub(cpu0);
    let fleet_connect_cpu = process::self_cpu().saturating_sub(fleet_cpu0);
    progress(format!(
        "  {} of {n} clients fully configured ({} failed) after {:?}",
        full_times.len(),
        fleet.failed_count(),
        full_config
    ));
    // Let the insight writes the connection caused finish before measuring memory.
    settle().await;
    let rss_after = cp.rss();

    // 6. One TrafficRoute PUT; time until the last affected client ACKed the change.
    let affected: Vec<usize> = (0..n).filter(|i| mesh::uses_svc0(*i, s)).collect();
    progress(format!(
        "  PUT TrafficRoute split-svc-0 (changes {} of {n} configurations)",
        affected.len()
    ));
    let cpu1 = cp.cpu();
    let fleet_cpu1 = process::self_cpu();
    let route = mesh::split_route().to_string();
    let change = fanout::apply(
        &cp,
        &fleet,
        &affected,
        vec![http::put(
            &mesh::path("traffic-routes", "split-svc-0"),
            route.as_bytes(),
        )],
    )
    .await?;
    let fanout = change.took;
    let fanout_regenerated = change.regenerated;
    let fanout_cpu = cp.cpu().saturating_sub(cpu1);
    let fleet_fanout_cpu = process::self_cpu().saturating_sub(fleet_cpu1);
    progress(format!(
        "  last ACK of the change after {fanout:?}, {} configurations regenerated",
        count(fanout_regenerated)
    ));

    // 6a. A route for a service few proxies reach.
    let narrow_svc = s / 2;
    let reach: Vec<usize> = (0..n)
        .filter(|i| mesh::reaches(*i, s, narrow_svc))
        .collect();
    progress(format!(
        "  PUT TrafficRoute split-svc-{narrow_svc} (concerns {} of {n})",
        reach.len()
    ));
    let body = mesh::split_route_in(mesh::MESH, narrow_svc, 80).to_string();
    let narrow = fanout::apply(
        &cp,
        &fleet,
        &reach,
        vec![http::put(
            &mesh::path("traffic-routes", &format!("split-svc-{narrow_svc}")),
            body.as_bytes(),
        )],
    )
    .await?;
    progress(format!(
        "  last affected ACK after {:?}, {} regenerated",
        narrow.took,
        count(narrow.regenerated)
    ));

    // 6b. 99 routes at once (one per service but svc-0): every proxy reaches one of them.
    let requests: Vec<Vec<u8>> = (1..s)
        .map(|svc| {
            let body = mesh::split_route_in(mesh::MESH, svc, 70).to_string();
            http::put(
                &mesh::path("traffic-routes", &format!("split-svc-{svc}")),
                body.as_bytes(),
            )
        })
        .collect();
    progress(format!("  {} TrafficRoute PUTs in a burst", requests.len()));
    let all: Vec<usize> = (0..n).collect();
    let burst = fanout::apply(&cp, &fleet, &all, requests).await?;
    progress(format!(
        "  every stream updated after {:?}, {} regenerated",
        burst.took,
        count(burst.regenerated)
    ));

    // 6c. A Dataplane PUT: who regenerates?
    let dataplane_put = fanout::dataplane_change(&cp, n, s, narrow_svc).await?;
    progress(format!(
        "  Dataplane PUT: {} proxies reach its service (itself included), {} regenerated",
        dataplane_put.0,
        count(dataplane_put.1)
    ));

    // 6d. mTLS on for the whole mesh: N certificates issued at once, off the actors; the API
    // must keep answering meanwhile.
    progress(format!(
        "  PUT Mesh enabling mTLS: {n} certificates at once"
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let probe_api = tokio::spawn(probe_latency(api, "/meshes/default", stop_rx));
    let cpu2 = cp.cpu();
    let mesh_body = serde_json::json!({"type": "Mesh", "name": mesh::MESH,
        "mtls": {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}})
    .to_string();
    let mtls_change = fanout::apply(
        &cp,
        &fleet,
        &all,
        vec![http::put(
            &format!("/meshes/{}", mesh::MESH),
            mesh_body.as_bytes(),
        )],
    )
    .await?;
    let mtls_cpu = cp.cpu().saturating_sub(cpu2);
    let _ = stop_tx.send(true);
    let mut latencies = probe_api.await.map_err(|e| e.to_string())?;
    latencies.sort_unstable();
    let mtls = MtlsRow {
        change: mtls_change,
        cpu: mtls_cpu,
        api_max: latencies.last().copied().unwrap_or_default(),
        api_p50: latencies
            .get(latencies.len() / 2)
            .copied()
            .unwrap_or_default(),
        api_samples: latencies.len(),
    };
    progress(format!(
        "  every stream had TLS clusters after {:?} ({:?} of control-plane CPU); API GET p50 {:?}, max {:?} over {} samples",
        mtls.change.took, mtls.cpu, mtls.api_p50, mtls.api_max, mtls.api_samples
    ));

    // The insight of an affected client counts what that client ACKed.
    settle().await;
    let probe = affected.first().copied().unwrap_or(0);
    let overview = fetch(
        api,
        &format!("/meshes/default/dataplanes+insights/{}", mesh::name(probe)),
    )
    .await?;
    let overview: serde_json::Value =
        serde_json::from_slice(&overview).map_err(|e| e.to_string())?;
    let acked = &overview["dataplaneInsight"]["subscriptions"][0]["status"]["total"]
        ["responsesAcknowledged"];
    let check = format!(
        "{}: the client sent {} ACKs, its insight counts responsesAcknowledged = {}",
        mesh::name(probe),
        fleet.clients[probe].acks.load(Ordering::Relaxed),
        acked.as_str().unwrap_or("?")
    );
    drop(fleet);
    Ok(XdsRow {
        n,
        narrow,
        burst,
        dataplane_put,
        mtls,
        fanout_regenerated,
        full_config,
        full_config_p50,
        fanout,
        affected: affected.len(),
        rss_before,
        rss_after,
        connect_cpu,
        fanout_cpu,
        fleet_connect_cpu,
        fleet_fanout_cpu,
        check,
    })
}

/// GET `path` every 20 ms until `stop`: the latencies.
async fn probe_latency(
    api: std::net::SocketAddr,
    path: &'static str,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<std::time::Duration> {
    let mut out = Vec::new();
    // Stopped by the scenario, which has its own timeout; bounded in samples anyway.
    while !*stop.borrow() && out.len() < 100_000 {
        let started = std::time::Instant::now();
        if fetch(api, path).await.is_ok() {
            out.push(started.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    out
}
