//! Latency samples, percentiles and medians.

use std::time::Duration;

/// The outcome of one measurement window against one server.
#[derive(Clone, Debug, Default)]
pub struct Window {
    /// Requests completed with the expected status.
    pub ok: u64,
    /// Requests that failed or had another status.
    pub errors: u64,
    /// Length of the window.
    pub elapsed: Duration,
    /// Latency of every successful request, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// CPU time the server process used during the window (user + system).
    pub server_cpu: Duration,
    /// CPU time the bench process (the load generator) used during the window.
    pub client_cpu: Duration,
    /// Response body bytes of the last successful request.
    pub body_bytes: usize,
}

impl Window {
    /// Successful requests per second.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile(&self.latencies_us, q) as f64 / 1000.0
    }

    /// Share of one core the server used, in percent.
    pub fn server_cpu_pct(&self) -> f64 {
        100.0 * self.server_cpu.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Share of one core the load generator used, in percent.
    pub fn client_cpu_pct(&self) -> f64 {
        100.0 * self.client_cpu.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The `q` quantile of sorted samples (nearest rank); 0 when empty.
pub fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median of some values (mean of the middle two for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The medians, over several windows, of the figures a table row shows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    /// Requests per second.
    pub rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Server CPU, % of one core.
    pub server_cpu_pct: f64,
    /// Load-generator CPU, % of one core.
    pub client_cpu_pct: f64,
    /// Failed requests, summed over the windows.
    pub errors: u64,
    /// Body size of a response.
    pub body_bytes: usize,
}

/// Medians of each figure over `windows`.
pub fn summarize(windows: &[Window]) -> Summary {
    let of = |f: fn(&Window) -> f64| median(&windows.iter().map(f).collect::<Vec<_>>());
    Summary {
        rps: of(Window::rps),
        p50_ms: of(|w| w.quantile_ms(0.50)),
        p99_ms: of(|w| w.quantile_ms(0.99)),
        server_cpu_pct: of(Window::server_cpu_pct),
        client_cpu_pct: of(Window::client_cpu_pct),
        errors: windows.iter().map(|w| w.errors).sum(),
        body_bytes: windows.last().map_or(0, |w| w.body_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_medians() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
