//! The fleet summary: devices per end state and per version, downloads full vs delta, bytes,
//! failures by reason; as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::device::{DeviceReport, EndState};

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub devices: usize,
    pub wall_time_s: f64,
    pub by_state: BTreeMap<EndState, usize>,
    pub by_version: BTreeMap<String, usize>,
    pub checkins: u64,
    pub offers: u64,
    pub downloads_full: u64,
    pub downloads_delta: u64,
    pub bytes: u64,
    pub resumes: u64,
    /// Failures by reason class (the text before the first `:`).
    pub failures: BTreeMap<String, usize>,
    /// Clock skew applied (the device API carries no device timestamps, so it changes nothing).
    pub clock_skew_s: i64,
    #[serde(skip)]
    pub reports: Vec<DeviceReport>,
}

impl Summary {
    pub fn new(reports: Vec<DeviceReport>, wall: Duration, clock_skew_s: i64) -> Self {
        let mut s = Self {
            devices: reports.len(),
            wall_time_s: wall.as_secs_f64(),
            by_state: BTreeMap::new(),
            by_version: BTreeMap::new(),
            checkins: 0,
            offers: 0,
            downloads_full: 0,
            downloads_delta: 0,
            bytes: 0,
            resumes: 0,
            failures: BTreeMap::new(),
            clock_skew_s,
            reports: vec![],
        };
        for r in &reports {
            *s.by_state.entry(r.state).or_default() += 1;
            *s.by_version.entry(r.version.clone()).or_default() += 1;
            s.checkins += r.checkins;
            s.offers += r.offers;
            s.downloads_full += r.downloads_full;
            s.downloads_delta += r.downloads_delta;
            s.bytes += r.bytes;
            s.resumes += r.resumes;
            for f in &r.failures {
                let class = f.split(':').next().unwrap_or(f).trim().to_owned();
                *s.failures.entry(class).or_default() += 1;
            }
        }
        s.reports = reports;
        s
    }

    pub fn count(&self, state: EndState) -> usize {
        self.by_state.get(&state).copied().unwrap_or(0)
    }

    pub fn to_json(&self, with_devices: bool) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if with_devices {
            if let serde_json::Value::Object(m) = &mut v {
                m.insert(
                    "device_reports".into(),
                    serde_json::to_value(&self.reports).unwrap_or_default(),
                );
            }
        }
        v
    }

    pub fn to_text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "devices: {}  wall time: {:.2} s", self.devices, self.wall_time_s);
        let _ = writeln!(t, "by state:");
        for (k, v) in &self.by_state {
            let name = serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_owned));
            let _ = writeln!(t, "  {:<12} {v}", name.unwrap_or_default());
        }
        let _ = writeln!(t, "by version:");
        for (k, v) in &self.by_version {
            let _ = writeln!(t, "  {k:<12} {v}");
        }
        let _ = writeln!(
            t,
            "check-ins: {}  offers: {}  downloads: {} delta, {} full  bytes: {}  resumed: {}",
            self.checkins, self.offers, self.downloads_delta, self.downloads_full, self.bytes, self.resumes
        );
        if self.failures.is_empty() {
            let _ = writeln!(t, "failures: none");
        } else {
            let _ = writeln!(t, "failures by reason:");
            for (k, v) in &self.failures {
                let _ = writeln!(t, "  {k:<16} {v}");
            }
        }
        if self.clock_skew_s != 0 {
            let _ = writeln!(
                t,
                "clock skew: {:+} s (the device API carries no device timestamps: no effect)",
                self.clock_skew_s
            );
        }
        t
    }
}
