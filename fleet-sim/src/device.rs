//! One virtual device: poll with jitter, follow offers, download (delta if the base matches),
//! verify and install with `device-verifier`, reboot, commit; report each step like firmware.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ota_protocol::device::{NoUpdateReason, StatusReport, UpdateOffer};
use serde::Serialize;

use super::firmware::{Firmware, Nvm, Payload};
use super::net::{Checkin, Link};
use super::plan::{DeviceSpec, FleetOptions, Rng};

/// The reason recorded when a server says nothing about why it offers nothing (an older server).
pub const UNSPECIFIED: &str = "unspecified";

/// Where a device ended. Serialized in snake_case (`up_to_date`, `held_back`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndState {
    /// Installed at least one update and now runs the newest release there is for it (the
    /// server's last answer: `up_to_date` or `no_release`; or stopped by the driver right after
    /// committing, before the next check-in).
    Committed,
    /// Ran the newest release all along: never offered anything, and the server said
    /// `up_to_date` or `no_release`.
    UpToDate,
    /// The server has something newer for the device but offered nothing at its last check-in,
    /// for the reason in [`DeviceReport::no_update_reason`] (a paused rollout, not in the
    /// current stage's cohort, ...), whether or not the device installed an earlier update.
    HeldBack,
    /// Gave up on a release after repeated failures (last one a failed boot).
    RolledBack,
    /// Gave up on a release after repeated failures.
    Failed,
    /// Still busy at the deadline (or polling until it without an answer to go by).
    Deadline,
    /// Could not talk to the server.
    Unreachable,
    /// Decommissioned: the server sent `factory_reset`; the device erased itself and stopped.
    FactoryReset,
}

impl EndState {
    /// The name in the summary (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Committed => "committed",
            Self::UpToDate => "up_to_date",
            Self::HeldBack => "held_back",
            Self::RolledBack => "rolled_back",
            Self::Failed => "failed",
            Self::Deadline => "deadline",
            Self::Unreachable => "unreachable",
            Self::FactoryReset => "factory_reset",
        }
    }

    /// Where a device ends whose last check-in offered nothing, for `reason`.
    fn idle(reason: Option<&NoUpdateReason>, updated: bool) -> Self {
        match reason {
            Some(r) if r.is_current() && updated => Self::Committed,
            Some(r) if r.is_current() => Self::UpToDate,
            // Anything else (or no reason: an older server) means something is withheld or
            // unknown: never claim the device is current.
            _ => Self::HeldBack,
        }
    }
}

/// What one device did.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    pub id: String,
    pub class: String,
    pub state: EndState,
    /// The server's `no_update_reason` at the device's last check-in, if that check-in offered
    /// nothing (`held_back` devices always have one, or `unspecified` from an older server).
    pub no_update_reason: Option<NoUpdateReason>,
    pub version: String,
    pub digest: String,
    pub sequence: u64,
    /// Every status reported, in order (`failed: reason` for failures).
    pub statuses: Vec<String>,
    pub failures: Vec<String>,
    pub checkins: u64,
    /// Update attempts: offers the device acted on (a retried release counts again).
    pub attempts: u64,
    pub downloads_full: u64,
    pub downloads_delta: u64,
    pub bytes: u64,
    pub resumes: u64,
    /// Certificates the device switched to by re-enrolment (EST), and refused attempts.
    pub reenrolled: u32,
    pub reenroll_failures: u32,
    /// Serial (hex) of each certificate the device used, oldest first.
    pub certificates: Vec<String>,
}

struct Sim<'a> {
    spec: &'a DeviceSpec,
    opts: &'a FleetOptions,
    link: Link,
    fw: Firmware,
    version: String,
    rng: Rng,
    downloads: u32,
    report: DeviceReport,
}

/// Runs one device until it is idle, gives up, or the deadline passes.
pub async fn run(spec: DeviceSpec, opts: FleetOptions, link: Link, link_serial: Option<String>) -> DeviceReport {
    let fw = Firmware::new(
        spec.provisioning.clone(),
        &spec.image,
        opts.slot_size,
        Nvm {
            sequence: spec.sequence,
            security_counter_floor: 0,
        },
    );
    let report = DeviceReport {
        id: spec.id.clone(),
        class: spec.class.clone(),
        state: EndState::Deadline,
        no_update_reason: None,
        version: spec.version.clone(),
        digest: hex::encode(fw.running_digest()),
        sequence: spec.sequence,
        statuses: vec![],
        failures: vec![],
        checkins: 0,
        attempts: 0,
        downloads_full: 0,
        downloads_delta: 0,
        bytes: 0,
        resumes: 0,
        reenrolled: 0,
        reenroll_failures: 0,
        certificates: link_serial.into_iter().collect(),
    };
    let mut sim = Sim {
        rng: Rng::new(spec.seed),
        version: spec.version.clone(),
        spec: &spec,
        opts: &opts,
        link,
        fw,
        downloads: 0,
        report,
    };
    sim.run().await;
    let mut report = sim.report;
    report.version = sim.version;
    report.digest = hex::encode(sim.fw.running_digest());
    report.sequence = sim.fw.nvm.sequence;
    report
}

impl Sim<'_> {
    fn pause(&mut self) -> Duration {
        let jitter = self.opts.jitter.as_millis() as u64;
        self.opts.poll_interval + Duration::from_millis(self.rng.below(jitter + 1))
    }

    async fn run(&mut self) {
        let deadline = Instant::now() + self.opts.deadline;
        // Devices do not all wake at once.
        let first = Duration::from_millis(self.rng.below(self.opts.jitter.as_millis() as u64 + 1));
        tokio::time::sleep(first).await;
        let mut attempts: HashMap<i64, u32> = HashMap::new();
        let (mut updated, mut errors, mut gave_up) = (false, 0u32, None);
        // Set while the last check-in offered nothing: the server's reason.
        let mut idle: Option<Option<NoUpdateReason>> = None;
        while Instant::now() < deadline && !self.stopped() {
            let digest = hex::encode(self.fw.running_digest());
            self.report.checkins += 1;
            let (checkin, renew) = match self.link.checkin(&digest, &self.version, self.fw.nvm.sequence).await {
                Ok((answer, renew)) => (Ok(answer), renew),
                Err(e) => (Err(e), false),
            };
            // Rotation: a new certificate, then at once a check-in with it (its first use, from
            // which the server retires the old one after its grace window).
            let renewal_pending = renew && !self.reenroll().await;
            if renew && !renewal_pending {
                continue;
            }
            match checkin {
                Err(e) => {
                    errors += 1;
                    if errors >= 10 {
                        self.report.failures.push(e);
                        self.report.state = EndState::Unreachable;
                        return;
                    }
                }
                Ok(Checkin::FactoryReset) => {
                    self.report.state = EndState::FactoryReset;
                    return;
                }
                Ok(Checkin::RetryAfter(d)) => {
                    tokio::time::sleep(d).await;
                    continue;
                }
                Ok(Checkin::NoUpdate(reason)) => {
                    errors = 0;
                    self.report.no_update_reason = Some(reason.clone().unwrap_or_else(|| UNSPECIFIED.into()));
                    // Idle, unless a refused renewal is to be tried again.
                    if self.opts.until_idle && !renewal_pending {
                        self.report.state = EndState::idle(reason.as_ref(), updated);
                        return;
                    }
                    idle = Some(reason);
                }
                Ok(Checkin::Offer(offer)) => {
                    errors = 0;
                    idle = None;
                    self.report.no_update_reason = None;
                    let n = attempts.entry(offer.release_id).or_default();
                    if *n >= self.opts.max_attempts {
                        if self.opts.until_idle {
                            self.report.state = gave_up.unwrap_or(EndState::Failed);
                            return;
                        }
                    } else {
                        *n += 1;
                        self.report.attempts += 1;
                        match self.update(&offer).await {
                            Ok(()) => {
                                updated = true;
                                gave_up = None;
                                continue;
                            }
                            Err(rolled_back) => {
                                gave_up = Some(if rolled_back {
                                    EndState::RolledBack
                                } else {
                                    EndState::Failed
                                });
                            }
                        }
                    }
                }
            }
            let pause = self.pause();
            match self.opts.stop.clone() {
                Some(mut stop) => {
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                }
                None => tokio::time::sleep(pause).await,
            }
        }
        // Stopped by the driver: the last outcome stands (a later success clears a failure);
        // otherwise the last check-in's answer says whether the device is current.
        self.report.state = match (self.stopped(), gave_up, idle) {
            (false, _, _) => EndState::Deadline,
            (true, Some(failure), _) => failure,
            (true, None, Some(reason)) => EndState::idle(reason.as_ref(), updated),
            (true, None, None) if updated => EndState::Committed,
            (true, None, None) => EndState::Deadline,
        };
    }

    /// Re-enrols over EST; `false` if refused (tried again at the next check-in).
    async fn reenroll(&mut self) -> bool {
        let break_proof = self.spec.faults.reenroll_fail_first && self.report.reenroll_failures == 0;
        match self.link.reenroll(self.opts, &self.spec.id, break_proof).await {
            Ok(issued) => {
                self.report.reenrolled += 1;
                self.report.certificates.extend(super::ca::serial_of(&issued.cert_pem));
                true
            }
            Err(e) => {
                self.report.reenroll_failures += 1;
                self.report.failures.push(e);
                false
            }
        }
    }

    fn stopped(&self) -> bool {
        self.opts.stop.as_ref().is_some_and(|s| *s.borrow())
    }

    async fn status(&mut self, report: StatusReport) {
        self.report.statuses.push(match report.reason() {
            Some(r) => format!("{}: {r}", report.name()),
            None => report.name().to_owned(),
        });
        // A lost report is not retried (the next check-in says what runs anyway).
        if let Err(e) = self.link.status(&report).await {
            self.report.failures.push(e);
        }
    }

    async fn fail(&mut self, release_id: i64, reason: String) -> Result<(), bool> {
        self.status(StatusReport::Failed {
            release_id: Some(release_id),
            reason: reason.clone(),
        })
        .await;
        self.report.failures.push(reason);
        Err(false)
    }

    /// One attempt at an offer. `Err(true)`: the image did not boot (rolled back).
    async fn update(&mut self, offer: &UpdateOffer) -> Result<(), bool> {
        let id = offer.release_id;
        let envelope = match base64::engine::general_purpose::STANDARD.decode(&offer.envelope) {
            Ok(e) => e,
            Err(e) => return self.fail(id, format!("envelope: base64: {e}")).await,
        };
        if let Err(e) = self.fw.check_envelope(&envelope) {
            return self.fail(id, e).await;
        }
        let running = hex::encode(self.fw.running_digest());
        let patch = offer.patch.as_ref().filter(|p| p.base_sha256 == running);
        let artifact = patch.map_or_else(|| offer.image.clone(), |p| p.link());
        let release_id = Some(id);
        self.status(StatusReport::Downloading { release_id }).await;
        let drop_at = self
            .spec
            .faults
            .drop_mid_download
            .then(|| artifact.size / 10 + self.rng.below(artifact.size * 8 / 10 + 1));
        let download = match self.link.download(&artifact, drop_at).await {
            Ok(d) => d,
            Err(e) => return self.fail(id, e).await,
        };
        self.report.bytes += download.on_wire;
        self.report.resumes += u64::from(download.resumes);
        if patch.is_some() {
            self.report.downloads_delta += 1;
        } else {
            self.report.downloads_full += 1;
        }
        let mut bytes = download.bytes;
        self.downloads += 1;
        if self.spec.faults.corrupt_first_download && self.downloads == 1 && !bytes.is_empty() {
            let at = self.rng.below(bytes.len() as u64) as usize;
            bytes[at] ^= 0x5A;
        }
        self.status(StatusReport::Downloaded { release_id }).await;
        let payload = if patch.is_some() {
            Payload::Patch(&bytes)
        } else {
            Payload::Full(&bytes)
        };
        let staged = match self.fw.stage(&envelope, payload) {
            Ok(s) => s,
            Err(e) => return self.fail(id, e).await,
        };
        self.status(StatusReport::Verified { release_id }).await;
        self.status(StatusReport::Installing { release_id }).await;
        let boots = !(self.spec.faults.boot_fail && self.opts.boot_fail_scope.applies_to(&offer.version));
        match self.fw.reboot(staged, boots) {
            Ok(()) => {
                self.version = offer.version.clone();
                self.status(StatusReport::Rebooted { release_id }).await;
                self.status(StatusReport::Committed { release_id }).await;
                Ok(())
            }
            Err(e) if e == "rolled-back" => {
                self.status(StatusReport::RolledBack { release_id }).await;
                self.report.failures.push("boot: rolled back".into());
                Err(true)
            }
            Err(e) => self.fail(id, e).await,
        }
    }
}
