//! What to simulate: the server to talk to, the fleet, and which device suffers which fault.

use std::net::SocketAddr;
use std::time::Duration;

use super::firmware::Provisioning;

/// Fault rates, each a fraction in `0.0..=1.0` of the devices (chosen deterministically from
/// the seed, so a run can be repeated).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultRates {
    /// The new image does not boot: the device reports `rolled-back` and keeps its old image.
    pub boot_fail: f64,
    /// The device's first download is corrupted (one byte flipped): verification must refuse it.
    pub corrupt: f64,
    /// Each download of the device is cut once mid-transfer and resumed with `Range`.
    pub drop: f64,
    /// The device's first re-enrolment request is broken (its signature does not verify, as
    /// after a key-store glitch): the server refuses it and the device tries again.
    pub reenroll_fail: f64,
}

/// Which releases a `boot_fail` device cannot boot: all of them, or only these versions (a bad
/// release in an otherwise healthy fleet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BootFailScope {
    #[default]
    Every,
    Versions(Vec<String>),
}

impl BootFailScope {
    pub fn applies_to(&self, version: &str) -> bool {
        match self {
            Self::Every => true,
            Self::Versions(v) => v.iter().any(|x| x == version),
        }
    }
}

/// The faults one device suffers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceFaults {
    pub boot_fail: bool,
    pub corrupt_first_download: bool,
    pub drop_mid_download: bool,
    pub reenroll_fail_first: bool,
}

/// One virtual device.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    pub id: String,
    /// Device class (certificate OU).
    pub class: String,
    /// What the device is provisioned to trust (its class identity and keys).
    pub provisioning: Provisioning,
    /// The signed image in its boot slot at start.
    pub image: Vec<u8>,
    pub version: String,
    /// Committed SUIT sequence number at start.
    pub sequence: u64,
    pub faults: DeviceFaults,
    pub seed: u64,
}

/// How the fleet reaches the server and behaves.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// e.g. `https://localhost:8443`.
    pub server_url: String,
    /// Connect here instead of resolving the URL's host (the name is still used for TLS).
    pub connect_addr: Option<SocketAddr>,
    /// Several replicas of one server: every request goes to one of them at random (and a
    /// refused connection to another). Empty: `connect_addr` (or the URL's host).
    pub replicas: Vec<SocketAddr>,
    /// PEM of the CA that issued the server certificate.
    pub server_ca_pem: String,
    /// Time between check-ins, plus up to `jitter` at random.
    pub poll_interval: Duration,
    pub jitter: Duration,
    /// Bytes per second per device; `None` = unlimited.
    pub link_bytes_per_s: Option<u64>,
    /// Added to any timestamp the device reports (the device API takes none today; kept for
    /// when it does, and shown in the summary).
    pub clock_skew_s: i64,
    /// Flash slot size (bytes); at least the largest image.
    pub slot_size: usize,
    /// Give up on a release after this many failed attempts.
    pub max_attempts: u32,
    /// A device stops once a check-in returns no update (it is up to date or not targeted).
    /// `false`: devices keep polling until `deadline`.
    pub until_idle: bool,
    /// Stop every device after this long.
    pub deadline: Duration,
    /// Which releases fail to boot on devices with the `boot_fail` fault.
    pub boot_fail_scope: BootFailScope,
    /// Stops every device at its next poll when it turns `true` (a driver ending the run).
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// Devices' first certificates are valid this many days (unset: the issuer's default, far
    /// ahead). Within the server's `renew_before_days`, devices re-enrol over EST.
    pub certificate_days: Option<u32>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            server_url: "https://localhost:8443".into(),
            connect_addr: None,
            replicas: Vec::new(),
            server_ca_pem: String::new(),
            poll_interval: Duration::from_millis(500),
            jitter: Duration::from_millis(250),
            link_bytes_per_s: None,
            clock_skew_s: 0,
            slot_size: 256 * 1024,
            max_attempts: 3,
            until_idle: true,
            deadline: Duration::from_secs(300),
            boot_fail_scope: BootFailScope::Every,
            stop: None,
            certificate_days: None,
        }
    }
}

/// A small deterministic PRNG (SplitMix64): jitter, fault selection, byte positions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0.0..1.0`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// `count` devices of one class, all running `image`, faults drawn from `rates` with `seed`.
#[allow(clippy::too_many_arguments)]
pub fn fleet(
    prefix: &str,
    count: usize,
    class: &str,
    provisioning: &Provisioning,
    image: &[u8],
    version: &str,
    sequence: u64,
    rates: FaultRates,
    seed: u64,
) -> Vec<DeviceSpec> {
    let mut rng = Rng::new(seed);
    // A stream of its own, so adding this fault left every other draw (and seed) as it was.
    let mut reenroll = Rng::new(seed ^ 0x5245_454e_524f_4c4c);
    (0..count)
        .map(|i| {
            let faults = DeviceFaults {
                boot_fail: rng.unit() < rates.boot_fail,
                corrupt_first_download: rng.unit() < rates.corrupt,
                drop_mid_download: rng.unit() < rates.drop,
                reenroll_fail_first: reenroll.unit() < rates.reenroll_fail,
            };
            DeviceSpec {
                id: format!("{prefix}{i:05}"),
                class: class.to_owned(),
                provisioning: provisioning.clone(),
                image: image.to_vec(),
                version: version.to_owned(),
                sequence,
                faults,
                seed: rng.next_u64(),
            }
        })
        .collect()
}
