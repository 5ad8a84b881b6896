//! Prometheus text exposition (format 0.0.4) of a few counters and a latency histogram.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the request-duration histogram buckets.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Metric families keyed by their label set.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// Adds `by` to counter `name` with the given labels.
    pub fn add(&self, name: &'static str, labels: &[(&str, &str)], by: u64) {
        let mut rendered = String::with_capacity(48);
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                rendered.push(',');
            }
            rendered.push_str(k);
            rendered.push_str("=\"");
            if v.contains(['\\', '"', '\n']) {
                rendered.push_str(&escape(v));
            } else {
                rendered.push_str(v);
            }
            rendered.push('"');
        }
        if let Ok(mut c) = self.counters.lock() {
            *c.entry((name, rendered)).or_default() += by;
        }
    }

    /// The sum of counter `name` over all its label sets.
    pub fn total(&self, name: &str) -> u64 {
        self.counters
            .lock()
            .map(|c| c.iter().filter(|((n, _), _)| *n == name).map(|(_, v)| v).sum())
            .unwrap_or(0)
    }

    pub fn inc(&self, name: &'static str, labels: &[(&str, &str)]) {
        self.add(name, labels, 1);
    }

    /// Records one HTTP request.
    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        self.inc(
            "ota_http_requests_total",
            &[("route", route), ("method", method), ("status", &status)],
        );
        if let Ok(mut d) = self.durations.lock() {
            let key = format!("route=\"{}\"", escape(route));
            let h = d.entry(key).or_default();
            let secs = elapsed.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += secs;
            h.count += 1;
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(c) = self.counters.lock() {
            let mut last = "";
            for ((name, labels), v) in c.iter() {
                if *name != last {
                    let _ = writeln!(out, "# TYPE {name} counter");
                    last = name;
                }
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        }
        if let Ok(d) = self.durations.lock() {
            let name = "ota_http_request_duration_seconds";
            let _ = writeln!(out, "# TYPE {name} histogram");
            for (labels, h) in d.iter() {
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {}", h.counts[i]);
                }
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
                let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.inc("ota_checkins_total", &[("result", "no_update")]);
        m.request("/x", "GET", 200, Duration::from_millis(2));
        let text = m.render();
        assert!(text.contains("ota_checkins_total{result=\"no_update\"} 1"));
        assert!(text.contains("ota_http_request_duration_seconds_count{route=\"/x\"} 1"));
    }
}
