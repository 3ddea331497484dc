//! The cost of a change (issue 15): with a connected fleet, how long a change takes to reach the
//! proxies it concerns, how many configurations the control plane regenerated for it (read
//! from its `/metrics`), and whether meshes are served in parallel.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::http::{self, Conn};
use crate::mesh;
use crate::process::Server;
use crate::xds::{self, Fleet};

/// The generations counter of the control plane's `/metrics` (`None` for a control plane
/// without one, such as a build from before it existed).
pub async fn generations(cp: &Server) -> Option<u64> {
    let text = crate::fetch(cp.try_addr("diagnostics")?, "/metrics")
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .find_map(|l| l.strip_prefix("ursa_xds_generations_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// One change and what it cost.
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// Proxies whose configuration the change concerns.
    pub affected: usize,
    /// From the first request to the last ACK of an affected proxy (`None`: not all arrived).
    pub took: Option<Duration>,
    /// Configurations the control plane generated for it (`None`: it does not count them).
    pub regenerated: Option<u64>,
}

/// PUTs `requests` at once and waits until every client in `affected` received a new CDS
/// version and nothing was sent for half a second.
pub async fn apply(
    cp: &Server,
    fleet: &Fleet,
    affected: &[usize],
    requests: Vec<Vec<u8>>,
) -> Result<Change, String> {
    apply_many(cp, &[(fleet, affected.to_vec())], requests).await
}

/// [`apply`] over several fleets (one per mesh, say).
pub async fn apply_many(
    cp: &Server,
    fleets: &[(&Fleet, Vec<usize>)],
    requests: Vec<Vec<u8>>,
) -> Result<Change, String> {
    let before: Vec<Vec<u32>> = fleets
        .iter()
        .map(|(fleet, _)| {
            fleet
                .clients
                .iter()
                .map(|c| c.cds_versions.load(Ordering::Relaxed))
                .collect()
        })
        .collect();
    let generated_before = generations(cp).await;
    let n = requests.len();
    let put_at = Instant::now();
    let ok = http::send_all(cp.addr("api"), requests, &[200, 201], 16.min(n))
        .await
        .map_err(|e| e.to_string())?;
    if ok != n {
        return Err(format!("only {ok} of {n} PUTs succeeded"));
    }
    let quiet = Duration::from_millis(500).as_micros() as u64;
    let arrived = xds::wait_until(Duration::from_secs(60), || {
        fleets
            .iter()
            .zip(&before)
            .all(|((fleet, affected), before)| {
                let all = affected
                    .iter()
                    .all(|&i| fleet.clients[i].cds_versions.load(Ordering::Relaxed) > before[i]);
                all && fleet.now_us() > fleet.last_response_at.load(Ordering::Relaxed) + quiet
            })
    })
    .await;
    let last_ack = fleets
        .iter()
        .flat_map(|(fleet, affected)| {
            affected.iter().map(|&i| {
                fleet.epoch
                    + Duration::from_micros(fleet.clients[i].last_ack_at.load(Ordering::Relaxed))
            })
        })
        .max()
        .unwrap_or(put_at);
    Ok(Change {
        affected: fleets.iter().map(|(_, a)| a.len()).sum(),
        took: arrived.then(|| last_ack.saturating_duration_since(put_at)),
        regenerated: since(cp, generated_before).await,
    })
}

async fn since(cp: &Server, before: Option<u64>) -> Option<u64> {
    Some(generations(cp).await?.saturating_sub(before?))
}

/// A Dataplane PUT that changes one endpoint of `svc-<target>` (its version tag), and how
/// many configurations the control plane regenerated for it; nothing waits on the fleet.
pub async fn dataplane_change(
    cp: &Server,
    n: usize,
    services: usize,
    target: usize,
) -> Result<(usize, Option<u64>), String> {
    let i = target; // dp-000<target> is an instance of svc-<target>
    let mut dp = mesh::dataplane(i, services);
    dp["networking"]["inbound"][0]["tags"]["version"] = serde_json::json!("v9");
    let before = generations(cp).await;
    let mut conn = Conn::connect(cp.addr("api"))
        .await
        .map_err(|e| e.to_string())?;
    let body = dp.to_string();
    let r = conn
        .call(&http::put(
            &mesh::path("dataplanes", &mesh::name(i)),
            body.as_bytes(),
        ))
        .await
        .map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(format!("PUT Dataplane: {}", r.status));
    }
    // Generation follows within milliseconds of the publication (10 ms coalescing).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let regenerated = since(cp, before).await;
    // The proxies whose configuration holds svc-<target>'s endpoints, and the changed one.
    let reach = (0..n)
        .filter(|k| mesh::reaches(*k, services, target))
        .count()
        + 1;
    Ok((reach, regenerated))
}

/// Scenario 8: `meshes` meshes of `per_mesh` proxies each, all connected; one change in one
/// mesh, then one change in every mesh at once. With mesh actors on every core and streams
/// generating on the xDS runtime, the second should take about as long as the first.
pub struct MultiMesh {
    /// Meshes.
    pub meshes: usize,
    /// Proxies per mesh.
    pub per_mesh: usize,
    /// One change in one mesh.
    pub one: Change,
    /// One change in each mesh at once.
    pub all: Change,
}

/// Runs scenario 8 against a fresh control plane.
pub async fn multi_mesh(
    binary: &std::path::Path,
    meshes: usize,
    per_mesh: usize,
    services: usize,
    streams_per_connection: usize,
) -> Result<MultiMesh, String> {
    let cp = Server::start_cp(binary)?;
    let api = cp.addr("api");
    let names: Vec<String> = (0..meshes).map(|m| format!("mesh-{m}")).collect();
    for name in &names {
        let body = serde_json::json!({"type": "Mesh", "name": name}).to_string();
        let ok = http::send_all(
            api,
            vec![http::put(&format!("/meshes/{name}"), body.as_bytes())],
            &[201],
            1,
        )
        .await
        .map_err(|e| e.to_string())?;
        if ok != 1 {
            return Err(format!("could not create mesh {name}"));
        }
        let puts: Vec<Vec<u8>> = (0..per_mesh)
            .map(|i| {
                let body = mesh::dataplane_in(name, i, services).to_string();
                http::put(
                    &mesh::path_in(name, "dataplanes", &mesh::name(i)),
                    body.as_bytes(),
                )
            })
            .collect();
        let ok = http::send_all(api, puts, &[201], 16)
            .await
            .map_err(|e| e.to_string())?;
        if ok != per_mesh {
            return Err(format!("only {ok} dataplanes in {name}"));
        }
    }
    let dp_names: Vec<String> = (0..per_mesh).map(mesh::name).collect();
    let mut fleets = Vec::new();
    for name in &names {
        fleets.push(Fleet::connect(cp.addr("xds"), name, &dp_names, streams_per_connection).await?);
    }
    let total = meshes * per_mesh;
    let full = xds::wait_until(Duration::from_secs(180), || {
        fleets
            .iter()
            .map(|f| f.full_count() + f.failed_count())
            .sum::<usize>()
            >= total
    })
    .await;
    if !full {
        return Err("the multi-mesh fleet was not fully configured".into());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let affected: Vec<usize> = (0..per_mesh)
        .filter(|i| mesh::uses_svc0(*i, services))
        .collect();
    let path = |mesh: &str| mesh::path_in(mesh, "traffic-routes", "split-svc-0");
    let route = |mesh: &str| {
        let body = mesh::split_route_in(mesh, 0, 90).to_string();
        http::put(&path(mesh), body.as_bytes())
    };
    let one = apply_many(
        &cp,
        &[(&fleets[0], affected.clone())],
        vec![route(&names[0])],
    )
    .await?;
    // The same change everywhere but in mesh-0, whose split is deleted instead: changing only
    // its weights would change no cluster, and clusters are what the wait observes.
    let every: Vec<(&Fleet, Vec<usize>)> = fleets.iter().map(|f| (f, affected.clone())).collect();
    let requests = names
        .iter()
        .enumerate()
        .map(|(m, name)| {
            if m == 0 {
                http::delete(&path(name))
            } else {
                route(name)
            }
        })
        .collect();
    let all = apply_many(&cp, &every, requests).await?;
    Ok(MultiMesh {
        meshes,
        per_mesh,
        one,
        all,
    })
}
