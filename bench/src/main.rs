//! `ursa-bench`: benchmarks of a release `ursa-cp` (issue 5). Starts the control plane as a
//! child process, loads a synthetic mesh through its API, measures API throughput and latency
//! against a ceiling server (actix-web alone, same bodies) in alternating windows, the memory
//! of 10,000 dataplanes, and the xDS fan-out to a fleet of simulated Envoys; prints tables.
//!
//! `bash bench/run.sh` builds and runs it; `ursa-bench --help` lists the knobs.

mod ceiling;
mod fanout;
mod http;
mod mesh;
mod process;
mod stats;
mod xds;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use crate::http::{Conn, Load};
use crate::process::Server;
use crate::stats::{summarize, Summary, Window};

/// Benchmarks of ursa-cp: API throughput against an HTTP-stack ceiling, 10k dataplanes, xDS.
#[derive(Parser)]
#[command(name = "ursa-bench")]
struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Internal: the ceiling server (started by the bench itself).
    Ceiling {
        /// Body of every GET.
        #[arg(long)]
        body_file: PathBuf,
        /// HTTP workers (ursa-cp uses one per core).
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// The ursa-cp binary to measure.
    #[arg(long, default_value = "target/release/ursa-cp")]
    cp: PathBuf,
    /// Dataplanes in the mesh for the API and memory scenarios.
    #[arg(long, default_value_t = 10_000)]
    dataplanes: usize,
    /// Services (S) the dataplanes are spread over.
    #[arg(long, default_value_t = 100)]
    services: usize,
    /// Seconds of each measured window.
    #[arg(long, default_value_t = 3.0)]
    window: f64,
    /// A/B rounds per API scenario (ursa-cp then ceiling, alternating); medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Connections for single-resource scenarios (GET, PUT).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Connections for list scenarios.
    #[arg(long, default_value_t = 4)]
    list_connections: usize,
    /// Fleet sizes (N) for the xDS scenarios, comma-separated; `0` skips them.
    #[arg(long, default_value = "1000,10000", value_delimiter = ',')]
    fleet: Vec<usize>,
    /// ADS streams per HTTP/2 connection.
    #[arg(long, default_value_t = 100)]
    streams_per_connection: usize,
    /// Meshes of the multi-mesh scenario (8); `0` skips it.
    #[arg(long, default_value_t = 10)]
    meshes: usize,
    /// Proxies per mesh in the multi-mesh scenario.
    #[arg(long, default_value_t = 1000)]
    per_mesh: usize,
    /// Skip the API and memory scenarios.
    #[arg(long)]
    xds_only: bool,
    /// Diagnostic: the fleet identifies as dataplanes that do not exist, so every stream gets
    /// an empty configuration (measures the per-stream cost of the transport alone).
    #[arg(long)]
    empty_configs: bool,
    /// Skip the xDS scenarios.
    #[arg(long)]
    api_only: bool,
    /// Run only the API scenarios whose name contains this (e.g. `PUT`, `size=1000`).
    #[arg(long)]
    only: Option<String>,
    /// Also write the report (markdown) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(Cmd::Ceiling { body_file, workers }) = args.command {
        return match ceiling::run(&body_file, workers) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ceiling: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    // One thread for the whole load generator and fleet: it competes with the servers for the
    // same cores, so it is kept to at most one of them (its CPU share is reported).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ursa-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args.run)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ursa-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("[ursa-bench] {}", msg.as_ref());
}

/// One row of the API table.
struct ApiRow {
    name: String,
    ursa: Summary,
    ceiling: Summary,
    goal: Goal,
}

#[derive(Clone, Copy)]
enum Goal {
    /// Throughput at least this share of the ceiling.
    Ratio(f64),
    /// p99 at most this many ms.
    P99(f64),
    None,
}

impl Goal {
    fn text(self) -> String {
        match self {
            Goal::Ratio(r) => format!("≥ {r:.2} × ceiling"),
            Goal::P99(ms) => format!("p99 ≤ {ms} ms"),
            Goal::None => "—".into(),
        }
    }

    fn met(self, ursa: &Summary, ceiling: &Summary) -> &'static str {
        match self {
            Goal::Ratio(r) if ursa.rps / ceiling.rps.max(1e-9) >= r => "yes",
            Goal::P99(ms) if ursa.p99_ms <= ms => "yes",
            Goal::None => "",
            _ => "**no**",
        }
    }
}

struct XdsRow {
    n: usize,
    /// 6a. One TrafficRoute reaching few proxies.
    narrow: fanout::Change,
    /// 6b. 99 TrafficRoute PUTs in a burst.
    burst: fanout::Change,
    /// 6c. A Dataplane PUT: proxies that reach its service, proxies regenerated.
    dataplane_put: (usize, Option<u64>),
    /// 6d. The Mesh enabling mTLS (builtin CA): one certificate per proxy.
    mtls: MtlsRow,
    /// Regenerations of scenario 6.
    fanout_regenerated: Option<u64>,
    full_config: Option<Duration>,
    full_config_p50: Option<Duration>,
    fanout: Option<Duration>,
    affected: usize,
    rss_before: u64,
    rss_after: u64,
    connect_cpu: Duration,
    fanout_cpu: Duration,
    fleet_connect_cpu: Duration,
    fleet_fanout_cpu: Duration,
    check: String,
}

/// Scenario 6d: every proxy of the fleet gets a certificate at once.
struct MtlsRow {
    /// From the Mesh PUT to the last proxy's new clusters (TLS on them, its identity issued).
    change: fanout::Change,
    /// The control plane's CPU meanwhile (root, issuance, regeneration, encoding).
    cpu: Duration,
    /// The slowest and the median of the `GET /meshes/default` made every 20 ms meanwhile.
    api_max: Duration,
    api_p50: Duration,
    api_samples: usize,
}

/// GET `path` every 20 ms until `stop`: the latencies.
async fn probe_latency(
    api: std::net::SocketAddr,
    path: &'static str,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Duration> {
    let mut out = Vec::new();
    // Bounded by the scenario's own timeout, which stops it.
    while !*stop.borrow() && out.len() < 100_000 {
        let started = Instant::now();
        if fetch(api, path).await.is_ok() {
            out.push(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out
}

struct MemoryRow {
    dataplanes: usize,
    rss_before: u64,
    rss_after: u64,
    load_time: Duration,
}

async fn run(args: RunArgs) -> Result<(), String> {
    if !args.cp.exists() {
        return Err(format!(
            "{} not found: build it with `cargo build --release` (bash bench/run.sh does)",
            args.cp.display()
        ));
    }
    let tmp = std::env::temp_dir().join(format!("ursa-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let load_before = loadavg();
    let mut api_rows = Vec::new();
    let mut memory = None;
    if !args.xds_only {
        let (rows, mem) = api_scenarios(&args, &tmp).await?;
        api_rows = rows;
        memory = Some(mem);
    }
    let mut xds_rows = Vec::new();
    let mut multi = None;
    if !args.api_only {
        for &n in args.fleet.iter().filter(|n| **n > 0) {
            xds_rows.push(xds_scenario(&args, n).await?);
        }
        if args.meshes > 0 {
            progress(format!(
                "multi-mesh: {} meshes × {} proxies",
                args.meshes, args.per_mesh
            ));
            let m = fanout::multi_mesh(
                &args.cp,
                args.meshes,
                args.per_mesh,
                args.services,
                args.streams_per_connection,
            )
            .await?;
            progress(format!(
                "  one change in one mesh: {:?}; one in each at once: {:?}",
                m.one.took, m.all.took
            ));
            multi = Some(m);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let load = format!("{load_before} before, {} after", loadavg());
    let mut report = report(
        &args,
        &api_rows,
        memory.as_ref(),
        &xds_rows,
        started.elapsed(),
        &load,
    );
    if let Some(m) = &multi {
        let _ = writeln!(report, "\n### Meshes in parallel (scenario 8)\n");
        let _ = writeln!(
            report,
            "| Meshes × proxies | one change in one mesh → last ACK | regenerated | one change in each mesh at once → last ACK | regenerated | goal |"
        );
        let _ = writeln!(report, "|---|---:|---:|---:|---:|---|");
        let _ = writeln!(
            report,
            "| {} × {} | {} ({} affected) | {} | {} ({} affected) | {} | the same time as one mesh |",
            m.meshes,
            m.per_mesh,
            secs(m.one.took),
            m.one.affected,
            count(m.one.regenerated),
            secs(m.all.took),
            m.all.affected,
            count(m.all.regenerated),
        );
    }
    println!("{report}");
    if let Some(out) = &args.out {
        std::fs::write(out, &report).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}

/// Loads `n` dataplanes (and their insights when `insights`) into a running control plane.
async fn load_mesh(cp: &Server, n: usize, services: usize, insights: bool) -> Result<(), String> {
    let api = cp.addr("api");
    let puts: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let body = mesh::dataplane(i, services).to_string();
            http::put(&mesh::path("dataplanes", &mesh::name(i)), body.as_bytes())
        })
        .collect();
    let ok = http::send_all(api, puts, &[201, 200], 16)
        .await
        .map_err(|e| format!("loading dataplanes: {e}"))?;
    if ok != n {
        return Err(format!("only {ok} of {n} dataplanes were created"));
    }
    if insights {
        let puts: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let body = mesh::insight(i).to_string();
                http::put(
                    &mesh::path("dataplane-insights", &mesh::name(i)),
                    body.as_bytes(),
                )
            })
            .collect();
        let ok = http::send_all(api, puts, &[201, 200], 16)
            .await
            .map_err(|e| format!("loading insights: {e}"))?;
        if ok != n {
            return Err(format!("only {ok} of {n} insights were created"));
        }
    }
    Ok(())
}

async fn fetch(addr: std::net::SocketAddr, path: &str) -> Result<Vec<u8>, String> {
    let mut conn = Conn::connect(addr).await.map_err(|e| e.to_string())?;
    let r = conn
        .call(&http::get(path))
        .await
        .map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(format!(
            "GET {path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    Ok(r.body)
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

async fn api_scenarios(args: &RunArgs, tmp: &Path) -> Result<(Vec<ApiRow>, MemoryRow), String> {
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
async fn ab(
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
fn cp_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

async fn xds_scenario(args: &RunArgs, n: usize) -> Result<XdsRow, String> {
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
    progress(format!("  PUT Mesh enabling mTLS: {n} certificates at once"));
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
        vec![http::put(&format!("/meshes/{}", mesh::MESH), mesh_body.as_bytes())],
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
        api_p50: latencies.get(latencies.len() / 2).copied().unwrap_or_default(),
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

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    format!(
        "{} cores (nproc), CPU: {model}, memory: {:.1} GiB, kernel {}",
        cp_workers(),
        mem_kb as f64 / 1024.0 / 1024.0,
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    )
}

/// The 1, 5 and 15 minute load averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

/// A count the control plane may not report (`—`: it has no `/metrics`).
fn count(n: Option<u64>) -> String {
    n.map_or("—".into(), |n| n.to_string())
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("timeout".into(), |d| format!("{:.3} s", d.as_secs_f64()))
}

fn report(
    args: &RunArgs,
    api: &[ApiRow],
    memory: Option<&MemoryRow>,
    xds: &[XdsRow],
    took: Duration,
    load: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## ursa-bench results\n");
    let _ = writeln!(out, "Machine: {}  ", machine());
    let _ = writeln!(
        out,
        "Load average (1, 5, 15 min; other work on the machine skews figures): {load}  "
    );
    let _ = writeln!(
        out,
        "Run: {} dataplanes, {} services, {} s windows, {} A/B rounds (medians), {} connections \
         (lists: {}), {} ADS streams per HTTP/2 connection; took {:.0} s.\n",
        args.dataplanes,
        args.services,
        args.window,
        args.rounds,
        args.connections,
        args.list_connections,
        args.streams_per_connection,
        took.as_secs_f64()
    );
    if !api.is_empty() {
        let _ = writeln!(
            out,
            "### API (ursa-cp vs. the ceiling: actix-web alone, same body sizes)\n"
        );
        let _ = writeln!(
            out,
            "| Scenario | ursa-cp req/s | p50 ms | p99 ms | ceiling req/s | p50 ms | p99 ms | ratio | body | CPU cp / client | goal | met |"
        );
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
        );
        for r in api {
            let errors = if r.ursa.errors + r.ceiling.errors > 0 {
                format!(" ({} errors)", r.ursa.errors + r.ceiling.errors)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {}{errors} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {} B | {:.0}% / {:.0}% | {} | {} |",
                r.name.replace('|', "\\|"),
                r.ursa.rps,
                r.ursa.p50_ms,
                r.ursa.p99_ms,
                r.ceiling.rps,
                r.ceiling.p50_ms,
                r.ceiling.p99_ms,
                r.ursa.rps / r.ceiling.rps.max(1e-9),
                r.ursa.body_bytes,
                r.ursa.server_cpu_pct,
                r.ursa.client_cpu_pct,
                r.goal.text(),
                r.goal.met(&r.ursa, &r.ceiling),
            );
        }
        let _ = writeln!(out);
    }
    if let Some(m) = memory {
        let per = (m.rss_after.saturating_sub(m.rss_before)) as f64 / m.dataplanes.max(1) as f64;
        let _ = writeln!(out, "### Memory (scenario 4)\n");
        let _ = writeln!(
            out,
            "| Dataplanes (+ insight each) | RSS before | RSS after | per dataplane | goal | met | load time |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---|---|---:|");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | ≤ 8 KiB | {} | {:.2} s ({:.0} PUT/s) |\n",
            m.dataplanes,
            mib(m.rss_before),
            mib(m.rss_after),
            kib(per),
            if per <= 8192.0 { "yes" } else { "**no**" },
            m.load_time.as_secs_f64(),
            (2 * m.dataplanes) as f64 / m.load_time.as_secs_f64().max(1e-9),
        );
    }
    if !xds.is_empty() {
        let _ = writeln!(
            out,
            "### xDS (scenarios 5–7; S = {} services)\n",
            args.services
        );
        let _ = writeln!(
            out,
            "| N clients | 5. all fully configured (p50) | cp CPU | 6. PUT TrafficRoute → last ACK | changed | cp CPU | goal ≤ 1 s | 7. RSS per connected dataplane | goal ≤ 64 KiB | fleet CPU (5. / 6.) |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---|---:|---|---:|");
        for x in xds {
            let per = x.rss_after.saturating_sub(x.rss_before) as f64 / x.n.max(1) as f64;
            let fanout_met = match x.fanout {
                Some(d) if d <= Duration::from_secs(1) => "yes",
                _ if x.n < 10_000 => "(N = 10k only)",
                _ => "**no**",
            };
            let _ = writeln!(
                out,
                "| {} | {} ({}) | {:.1} s | {} | {} | {:.1} s | {} | {} ({} → {}) | {} | {:.1} s / {:.1} s |",
                x.n,
                secs(x.full_config),
                secs(x.full_config_p50),
                x.connect_cpu.as_secs_f64(),
                secs(x.fanout),
                x.affected,
                x.fanout_cpu.as_secs_f64(),
                fanout_met,
                kib(per),
                mib(x.rss_before),
                mib(x.rss_after),
                if per <= 65536.0 { "yes" } else { "**no**" },
                x.fleet_connect_cpu.as_secs_f64(),
                x.fleet_fanout_cpu.as_secs_f64(),
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "### The cost of a change (issue 15)\n");
        let _ = writeln!(
            out,
            "| N clients | 6. svc-0 route: regenerated | 6a. one route → last of its affected ACKed | affected | regenerated | goal ≤ 100 ms | 6b. 99 routes → all updated | regenerated | goal ≤ 1 s | 6c. Dataplane PUT: reach its service | regenerated |"
        );
        let _ = writeln!(
            out,
            "|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|"
        );
        for x in xds {
            let met = |d: Option<Duration>, goal: Duration| match d {
                _ if x.n < 10_000 => "(N = 10k only)",
                Some(d) if d <= goal => "yes",
                _ => "**no**",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                x.n,
                count(x.fanout_regenerated),
                secs(x.narrow.took),
                x.narrow.affected,
                count(x.narrow.regenerated),
                met(x.narrow.took, Duration::from_millis(100)),
                secs(x.burst.took),
                count(x.burst.regenerated),
                met(x.burst.took, Duration::from_secs(1)),
                x.dataplane_put.0,
                count(x.dataplane_put.1),
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "mTLS on for the whole mesh (6d): one certificate per proxy, issued off the actors.\n"
        );
        let _ = writeln!(
            out,
            "| N | every proxy's TLS clusters after | control-plane CPU | API GET p50 | API GET max (samples) |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
        for x in xds {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} s | {:.1} ms | {:.1} ms ({}) |",
                x.n,
                secs(x.mtls.change.took),
                x.mtls.cpu.as_secs_f64(),
                x.mtls.api_p50.as_secs_f64() * 1e3,
                x.mtls.api_max.as_secs_f64() * 1e3,
                x.mtls.api_samples,
            );
        }
        let _ = writeln!(out);
        for x in xds {
            let _ = writeln!(out, "Insight check (N = {}): {}  ", x.n, x.check);
        }
    }
    out
}
