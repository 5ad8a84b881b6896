//! The fleet summary: devices per end state and per version, devices held back per reason,
//! downloads full vs delta, bytes, failures by reason; as text or JSON.
//!
//! Every `devices`/`by_*` figure counts devices (each once, where it ended); `update_attempts`,
//! `checkins`, downloads and bytes count events. `devices_offered` has the admin API's
//! meaning of `offered`: devices offered an update (at least once).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use ota_protocol::device::NoUpdateReason;
use serde::Serialize;

use super::device::{DeviceReport, EndState, UNSPECIFIED};

/// Device ids listed per held-back reason when that many or fewer devices share it.
pub const MAX_LISTED_IDS: usize = 20;

/// Devices held back for one reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HeldBack {
    pub devices: usize,
    /// Their ids, when at most [`MAX_LISTED_IDS`] (else empty: `--per-device` has them all).
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub devices: usize,
    pub wall_time_s: f64,
    /// Devices per end state (`committed`, `up_to_date`, `held_back`, `rolled_back`, ...).
    pub by_state: BTreeMap<EndState, usize>,
    /// `held_back` devices per the server's `no_update_reason` at their last check-in.
    pub held_back: BTreeMap<String, HeldBack>,
    pub by_version: BTreeMap<String, usize>,
    pub checkins: u64,
    /// Devices offered an update at least once.
    pub devices_offered: usize,
    /// Offers acted on (a device that retried a release counts each attempt).
    pub update_attempts: u64,
    pub downloads_full: u64,
    pub downloads_delta: u64,
    pub bytes: u64,
    pub resumes: u64,
    /// Certificates switched to by EST re-enrolment, and refused re-enrolment attempts.
    pub reenrolled: u64,
    pub reenroll_failures: u64,
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
            held_back: BTreeMap::new(),
            by_version: BTreeMap::new(),
            checkins: 0,
            devices_offered: 0,
            update_attempts: 0,
            downloads_full: 0,
            downloads_delta: 0,
            bytes: 0,
            resumes: 0,
            reenrolled: 0,
            reenroll_failures: 0,
            failures: BTreeMap::new(),
            clock_skew_s,
            reports: vec![],
        };
        let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &reports {
            *s.by_state.entry(r.state).or_default() += 1;
            if r.state == EndState::HeldBack {
                let reason = r.no_update_reason.as_ref().map_or(UNSPECIFIED, NoUpdateReason::as_str);
                held.entry(reason.to_owned()).or_default().push(r.id.clone());
            }
            *s.by_version.entry(r.version.clone()).or_default() += 1;
            s.checkins += r.checkins;
            s.devices_offered += usize::from(r.attempts > 0);
            s.update_attempts += r.attempts;
            s.downloads_full += r.downloads_full;
            s.downloads_delta += r.downloads_delta;
            s.bytes += r.bytes;
            s.resumes += r.resumes;
            s.reenrolled += u64::from(r.reenrolled);
            s.reenroll_failures += u64::from(r.reenroll_failures);
            for f in &r.failures {
                let class = f.split(':').next().unwrap_or(f).trim().to_owned();
                *s.failures.entry(class).or_default() += 1;
            }
        }
        s.held_back = held
            .into_iter()
            .map(|(reason, ids)| {
                let devices = ids.len();
                let ids = if devices <= MAX_LISTED_IDS { ids } else { Vec::new() };
                (reason, HeldBack { devices, ids })
            })
            .collect();
        s.reports = reports;
        s
    }

    pub fn count(&self, state: EndState) -> usize {
        self.by_state.get(&state).copied().unwrap_or(0)
    }

    /// Devices held back for `reason` (a `no_update_reason` name).
    pub fn held_back(&self, reason: &str) -> usize {
        self.held_back.get(reason).map_or(0, |h| h.devices)
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
        let _ = writeln!(t, "devices by end state:");
        for (k, v) in &self.by_state {
            let _ = writeln!(t, "  {:<12} {v}", k.as_str());
        }
        if !self.held_back.is_empty() {
            let _ = writeln!(
                t,
                "held back (the server has something newer but offered nothing), by reason:"
            );
            for (reason, h) in &self.held_back {
                let _ = write!(t, "  {reason:<20} {}", h.devices);
                if h.ids.is_empty() {
                    let _ = writeln!(t, "  (ids: --json --per-device)");
                } else {
                    let _ = writeln!(t, "  {}", h.ids.join(" "));
                }
            }
        }
        let _ = writeln!(t, "devices by version:");
        for (k, v) in &self.by_version {
            let _ = writeln!(t, "  {k:<12} {v}");
        }
        let _ = writeln!(
            t,
            "check-ins: {}  devices offered an update: {}  update attempts: {}",
            self.checkins, self.devices_offered, self.update_attempts
        );
        let _ = writeln!(
            t,
            "downloads: {} delta, {} full  bytes: {}  resumed: {}",
            self.downloads_delta, self.downloads_full, self.bytes, self.resumes
        );
        if self.reenrolled + self.reenroll_failures > 0 {
            let _ = writeln!(
                t,
                "certificates: {} re-enrolled (EST), {} attempts refused",
                self.reenrolled, self.reenroll_failures
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str, state: EndState, reason: Option<&str>) -> DeviceReport {
        DeviceReport {
            id: id.into(),
            class: "c".into(),
            state,
            no_update_reason: reason.map(NoUpdateReason::from),
            version: "1.0.0".into(),
            digest: String::new(),
            sequence: 1,
            statuses: vec![],
            failures: vec![],
            checkins: 1,
            attempts: 0,
            downloads_full: 0,
            downloads_delta: 0,
            bytes: 0,
            resumes: 0,
            reenrolled: 0,
            reenroll_failures: 0,
            certificates: vec![],
        }
    }

    #[test]
    fn held_back_devices_are_listed_by_reason() {
        let mut reports = vec![
            report("a", EndState::UpToDate, Some("up_to_date")),
            report("b", EndState::HeldBack, Some("rollout_paused")),
            report("c", EndState::HeldBack, Some("not_in_cohort")),
            report("d", EndState::HeldBack, Some("not_in_cohort")),
        ];
        for i in 0..=MAX_LISTED_IDS {
            reports.push(report(&format!("x{i}"), EndState::HeldBack, Some("held_out")));
        }
        let s = Summary::new(reports, Duration::from_secs(1), 0);
        assert_eq!(s.count(EndState::UpToDate), 1);
        assert_eq!(s.count(EndState::HeldBack), 3 + MAX_LISTED_IDS + 1);
        assert_eq!(s.held_back["not_in_cohort"].ids, ["c", "d"]);
        assert_eq!(s.held_back("rollout_paused"), 1);
        assert_eq!(s.held_back("held_out"), MAX_LISTED_IDS + 1);
        assert!(s.held_back["held_out"].ids.is_empty(), "large groups list no ids");
        let json = s.to_json(false);
        assert_eq!(json["by_state"]["held_back"], 3 + MAX_LISTED_IDS + 1);
        assert_eq!(json["by_state"]["up_to_date"], 1);
        assert_eq!(json["held_back"]["not_in_cohort"]["devices"], 2);
        let text = s.to_text();
        assert!(text.contains("held_back"), "{text}");
        assert!(text.contains("not_in_cohort        2  c d"), "{text}");
    }
}
