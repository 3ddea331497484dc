//! Scenarios 1-4: API throughput and latency against the ceiling, and the memory of a loaded mesh.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::{self, Load};
use crate::mesh;
use crate::process::Server;
use crate::report::{ApiRow, Goal, MemoryRow};
use crate::stats::{summarize, Window};
use crate::{fetch, load_mesh, progress, settle, RunArgs};

pub(crate) async fn api_scenarios(
    args: &RunArgs,
    tmp: &Path,
) -> Result<(Vec<ApiRow>, MemoryRow), String> {
    let n = args.dataplanes;
    let s = args.services;
    progress("starting ursa-cp for the API and memory scenarios");
    let cp = Server::start_cp(&args.cp)?;
    let api = cp.addr("api");
    settle().await;
    let rss_before = cp.rss();
    progress(format!(
        "loading {n} dataplanes and {n} insights (16 concurrent PUTs)"
    ));
    let t = Instant::now();
    load_mesh(&cp, n, s, true).await?;
    let load_time = t.elapsed();
    settle().await;
    let rss_after = cp.rss();
    let memory = MemoryRow {
        dataplanes: n,
        rss_before,
        rss_after,
        load_time,
    };

    let window = Duration::from_secs_f64(args.window);
    let single = Load {
        connections: args.connections,
        warmup: Duration::from_millis(300),
        window,
        max_requests: 5_000_000,
    };
    let list = Load {
        connections: args.list_connections,
        ..single
    };
    let names: Vec<String> = (0..n).map(mesh::name).collect();
    let mid = mesh::name(n / 2);
    let mut rows: Vec<ApiRow> = Vec::new();

    // 1. GET one Dataplane.
    let gets: Vec<Vec<u8>> = names
        .iter()
        .map(|name| http::get(&mesh::path("dataplanes", name)))
        .collect();
    let body = fetch(api, &mesh::path("dataplanes", &mid)).await?;
    rows.extend(
        ab(
            args,
            tmp,
            &cp,
            "1. GET /meshes/default/dataplanes/{name}",
            gets,
            200,
            &body,
            single,
            Goal::Ratio(0.70),
        )
        .await?,
    );

    // 2. PUT an existing Dataplane (update).
    let puts: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let body = mesh::dataplane(i, s).to_string();
            http::put(&mesh::path("dataplanes", &mesh::name(i)), body.as_bytes())
        })
        .collect();
    rows.extend(
        ab(
            args,
            tmp,
            &cp,
            "2. PUT /meshes/default/dataplanes/{name} (update)",
            puts,
            200,
            b"",
            single,
            Goal::Ratio(0.50),
        )
        .await?,
    );

    // 3. List pages.
    for (collection, filter, matching) in [
        ("dataplanes", "", n),
        ("dataplanes+insights", "tag=version:v1&", n / 2),
    ] {
        for size in [100usize, 1000] {
            let pages = matching.div_ceil(size).max(1);
            let requests: Vec<Vec<u8>> = (0..pages)
                .map(|k| {
                    http::get(&format!(
                        "/meshes/default/{collection}?{filter}size={size}&offset={}",
                        k * size
                    ))
                })
                .collect();
            let sample = fetch(
                api,
                &format!(
                    "/meshes/default/{collection}?{filter}size={size}&offset={}",
                    (pages / 2) * size
                ),
            )
            .await?;
            let label =
                format!("3. GET /meshes/default/{collection}?{filter}size={size} (any page)");
            let goal = if size == 1000 {
                Goal::P99(25.0)
            } else {
                Goal::None
            };
            rows.extend(ab(args, tmp, &cp, &label, requests, 200, &sample, list, goal).await?);
        }
    }
    Ok((rows, memory))
}

/// Alternates windows on ursa-cp (A) and on the ceiling (B), `rounds` times each.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn ab(
    args: &RunArgs,
    tmp: &Path,
    cp: &Server,
    name: &str,
    requests: Vec<Vec<u8>>,
    expect: u16,
    ceiling_body: &[u8],
    load: Load,
    goal: Goal,
) -> Result<Option<ApiRow>, String> {
    if args
        .only
        .as_deref()
        .is_some_and(|only| !name.contains(only))
    {
        return Ok(None);
    }
    progress(format!("{name}: {} × (ursa-cp, ceiling)", args.rounds));
    let body_file = tmp.join("ceiling-body.json");
    std::fs::write(&body_file, ceiling_body).map_err(|e| e.to_string())?;
    let ceiling = Server::start_ceiling(&body_file, cp_workers())?;
    let requests = Arc::new(requests);
    let mut a: Vec<Window> = Vec::new();
    let mut b: Vec<Window> = Vec::new();
    for _ in 0..args.rounds {
        a.push(http::run_window(cp, cp.addr("api"), requests.clone(), expect, load).await);
        b.push(
            http::run_window(
                &ceiling,
                ceiling.addr("ceiling"),
                requests.clone(),
                expect,
                load,
            )
            .await,
        );
    }
    let row = ApiRow {
        name: name.to_string(),
        ursa: summarize(&a),
        ceiling: summarize(&b),
        goal,
    };
    progress(format!(
        "  ursa-cp {:.0} req/s p99 {:.2} ms, ceiling {:.0} req/s p99 {:.2} ms",
        row.ursa.rps, row.ursa.p99_ms, row.ceiling.rps, row.ceiling.p99_ms
    ));
    Ok(Some(row))
}

/// HTTP workers of ursa-cp's API (one per core), which the ceiling matches.
pub(crate) fn cp_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
