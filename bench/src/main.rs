//! `ursa-bench`: benchmarks of a release `ursa-cp` (issue 5). Starts the control plane as a
//! child process, loads a synthetic mesh through its API, measures API throughput and latency
//! against a ceiling server (actix-web alone, same bodies) in alternating windows, the memory
//! of 10,000 dataplanes, and the xDS fan-out to a fleet of simulated Envoys; prints tables.
//!
//! `bash bench/run.sh` builds and runs it; `ursa-bench --help` lists the knobs.

mod api;
mod ceiling;
mod fanout;
mod fleet;
mod http;
mod mesh;
mod process;
mod report;
mod stats;
mod xds;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use crate::api::api_scenarios;
use crate::fleet::xds_scenario;
use crate::http::Conn;
use crate::process::Server;
use crate::report::{count, loadavg, secs};

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
pub(crate) struct RunArgs {
    /// The ursa-cp binary to measure.
    #[arg(long, default_value = "target/release/ursa-cp")]
    pub(crate) cp: PathBuf,
    /// Dataplanes in the mesh for the API and memory scenarios.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) dataplanes: usize,
    /// Services (S) the dataplanes are spread over.
    #[arg(long, default_value_t = 100)]
    pub(crate) services: usize,
    /// Seconds of each measured window.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) window: f64,
    /// A/B rounds per API scenario (ursa-cp then ceiling, alternating); medians are reported.
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: usize,
    /// Connections for single-resource scenarios (GET, PUT).
    #[arg(long, default_value_t = 16)]
    pub(crate) connections: usize,
    /// Connections for list scenarios.
    #[arg(long, default_value_t = 4)]
    pub(crate) list_connections: usize,
    /// Fleet sizes (N) for the xDS scenarios, comma-separated; `0` skips them.
    #[arg(long, default_value = "1000,10000", value_delimiter = ',')]
    pub(crate) fleet: Vec<usize>,
    /// ADS streams per HTTP/2 connection.
    #[arg(long, default_value_t = 100)]
    pub(crate) streams_per_connection: usize,
    /// Meshes of the multi-mesh scenario (8); `0` skips it.
    #[arg(long, default_value_t = 10)]
    pub(crate) meshes: usize,
    /// Proxies per mesh in the multi-mesh scenario.
    #[arg(long, default_value_t = 1000)]
    pub(crate) per_mesh: usize,
    /// Skip the API and memory scenarios.
    #[arg(long)]
    pub(crate) xds_only: bool,
    /// Diagnostic: the fleet identifies as dataplanes that do not exist, so every stream gets
    /// an empty configuration (measures the per-stream cost of the transport alone).
    #[arg(long)]
    pub(crate) empty_configs: bool,
    /// Skip the xDS scenarios.
    #[arg(long)]
    pub(crate) api_only: bool,
    /// Run only the API scenarios whose name contains this (e.g. `PUT`, `size=1000`).
    #[arg(long)]
    pub(crate) only: Option<String>,
    /// Also write the report (markdown) to this file.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
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

pub(crate) fn progress(msg: impl AsRef<str>) {
    eprintln!("[ursa-bench] {}", msg.as_ref());
}

pub(crate) async fn run(args: RunArgs) -> Result<(), String> {
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
    let mut report = report::report(
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
pub(crate) async fn load_mesh(
    cp: &Server,
    n: usize,
    services: usize,
    insights: bool,
) -> Result<(), String> {
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

pub(crate) async fn fetch(addr: std::net::SocketAddr, path: &str) -> Result<Vec<u8>, String> {
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

pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}
