//! The report: rows the scenarios fill, and the markdown tables made of them.

use std::fmt::Write as _;
use std::time::Duration;

use crate::api::cp_workers;
use crate::fanout;
use crate::stats::Summary;
use crate::RunArgs;

/// One row of the API table.
pub(crate) struct ApiRow {
    pub(crate) name: String,
    pub(crate) ursa: Summary,
    pub(crate) ceiling: Summary,
    pub(crate) goal: Goal,
}

#[derive(Clone, Copy)]
pub(crate) enum Goal {
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

pub(crate) struct XdsRow {
    pub(crate) n: usize,
    /// 6a. One TrafficRoute reaching few proxies.
    pub(crate) narrow: fanout::Change,
    /// 6b. 99 TrafficRoute PUTs in a burst.
    pub(crate) burst: fanout::Change,
    /// 6c. A Dataplane PUT: proxies that reach its service, proxies regenerated.
    pub(crate) dataplane_put: (usize, Option<u64>),
    /// 6d. The Mesh enabling mTLS (builtin CA): one certificate per proxy.
    pub(crate) mtls: MtlsRow,
    /// Regenerations of scenario 6.
    pub(crate) fanout_regenerated: Option<u64>,
    pub(crate) full_config: Option<Duration>,
    pub(crate) full_config_p50: Option<Duration>,
    pub(crate) fanout: Option<Duration>,
    pub(crate) affected: usize,
    pub(crate) rss_before: u64,
    pub(crate) rss_after: u64,
    pub(crate) connect_cpu: Duration,
    pub(crate) fanout_cpu: Duration,
    pub(crate) fleet_connect_cpu: Duration,
    pub(crate) fleet_fanout_cpu: Duration,
    pub(crate) check: String,
}

/// Scenario 6d: every proxy of the fleet gets a certificate at once.
pub(crate) struct MtlsRow {
    /// From the Mesh PUT to the last proxy's new clusters (TLS on them, its identity issued).
    pub(crate) change: fanout::Change,
    /// The control plane's CPU meanwhile (root, issuance, regeneration, encoding).
    pub(crate) cpu: Duration,
    /// The slowest and the median `GET /meshes/default` made every 20 ms meanwhile.
    pub(crate) api_max: Duration,
    pub(crate) api_p50: Duration,
    pub(crate) api_samples: usize,
}

pub(crate) struct MemoryRow {
    pub(crate) dataplanes: usize,
    pub(crate) rss_before: u64,
    pub(crate) rss_after: u64,
    pub(crate) load_time: Duration,
}

pub(crate) fn machine() -> String {
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
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

/// A count the control plane may not report (`—`: it has no `/metrics`).
pub(crate) fn count(n: Option<u64>) -> String {
    n.map_or("—".into(), |n| n.to_string())
}

pub(crate) fn secs(d: Option<Duration>) -> String {
    d.map_or("timeout".into(), |d| format!("{:.3} s", d.as_secs_f64()))
}

pub(crate) fn report(
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
