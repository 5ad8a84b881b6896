//! A device's link to the server: mutual TLS with its own certificate, check-in, status reports
//! and resumable downloads (HTTP `Range` + `If-Range`), with an optional bandwidth cap and an
//! injected mid-transfer disconnect.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use ota_protocol::device::{
    CheckinRequest, CheckinResponse, DeviceCommand, Link as Artifact, NoUpdateReason, StatusReport, UpdateOffer,
    CHECKIN_PATH, EST_SIMPLEREENROLL_PATH, STATUS_PATH,
};
use reqwest::header;

use super::ca::Issued;
use super::plan::FleetOptions;

/// Longest `no_update_reason` kept (the server's are short snake_case names; one this
/// simulator does not know, from a newer server, is kept as given up to this length).
const MAX_REASON: usize = 64;

/// What a check-in returned.
#[derive(Debug)]
pub enum Checkin {
    Offer(Box<UpdateOffer>),
    /// Nothing offered, with the server's `no_update_reason` (absent from older servers).
    NoUpdate(Option<NoUpdateReason>),
    /// Rate limited: retry after this long.
    RetryAfter(Duration),
    /// Decommissioned: the server sent `factory_reset` (erase everything, stop calling).
    FactoryReset,
}

/// A reason this simulator does not know is kept, cut to [`MAX_REASON`] bytes.
fn bounded(reason: NoUpdateReason) -> NoUpdateReason {
    let name = reason.as_str();
    if reason.is_known() || name.len() <= MAX_REASON {
        return reason;
    }
    let mut end = MAX_REASON;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    NoUpdateReason::from(name.get(..end).unwrap_or_default())
}

/// The first certificate of an EST answer (base64 of a DER CMS certs-only message), as PEM.
fn certificate_from_est(body: &str) -> Result<String, String> {
    use base64::Engine as _;
    use x509_cert::der::{Decode as _, EncodePem as _};
    let text: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("reenroll: answer is not base64: {e}"))?;
    let info = cms::content_info::ContentInfo::from_der(&der).map_err(|e| format!("reenroll: answer: {e}"))?;
    let signed = info
        .content
        .decode_as::<cms::signed_data::SignedData>()
        .map_err(|e| format!("reenroll: answer: {e}"))?;
    let cert = signed
        .certificates
        .and_then(|set| {
            set.0.into_vec().into_iter().find_map(|c| match c {
                cms::cert::CertificateChoices::Certificate(c) => Some(c),
                _ => None,
            })
        })
        .ok_or("reenroll: the answer holds no certificate")?;
    cert.to_pem(x509_cert::der::pem::LineEnding::LF)
        .map_err(|e| format!("reenroll: {e}"))
}

/// A finished download.
#[derive(Debug)]
pub struct Download {
    pub bytes: Vec<u8>,
    /// Bytes received, including any discarded by a server that ignored `Range`.
    pub on_wire: u64,
    /// Times the transfer was resumed with `Range`.
    pub resumes: u32,
}

/// One device's HTTPS client.
#[derive(Debug)]
pub struct Link {
    /// One client per replica (each resolving the server's name to its address) and the base
    /// URL that reaches it.
    clients: Vec<(reqwest::Client, String)>,
    /// xorshift state: which replica the next request goes to.
    pick: std::sync::atomic::AtomicU64,
    bytes_per_s: Option<u64>,
}

/// Attempts of a request whose connection is refused (a replica down), each on a replica
/// picked afresh.
const CONNECT_ATTEMPTS: usize = 4;

/// Attempts at a status report whose answer never arrived.
const STATUS_ATTEMPTS: usize = 5;

/// An error with its causes ("error sending request ...: connection closed ..."): reqwest's
/// own message names only the request.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Resumes allowed per download (real drops, not only injected ones).
const MAX_RESUMES: u32 = 8;

impl Link {
    pub fn new(opts: &FleetOptions, identity: &Issued) -> Result<Self, String> {
        let seed = {
            use std::hash::{BuildHasher as _, Hasher as _};
            std::collections::hash_map::RandomState::new().build_hasher().finish() | 1
        };
        Ok(Self {
            clients: Self::clients(opts, identity)?,
            pick: std::sync::atomic::AtomicU64::new(seed),
            bytes_per_s: opts.link_bytes_per_s,
        })
    }

    /// One client per replica, presenting `identity`.
    fn clients(opts: &FleetOptions, identity: &Issued) -> Result<Vec<(reqwest::Client, String)>, String> {
        let pem = format!("{}{}", identity.cert_pem, identity.key_pem);
        let ca =
            reqwest::Certificate::from_pem(opts.server_ca_pem.as_bytes()).map_err(|e| format!("server CA: {e}"))?;
        let identity = reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| format!("identity: {e}"))?;
        let url = reqwest::Url::parse(&opts.server_url).map_err(|e| format!("server url: {e}"))?;
        let addrs: Vec<Option<SocketAddr>> = if opts.replicas.is_empty() {
            vec![opts.connect_addr]
        } else {
            opts.replicas.iter().copied().map(Some).collect()
        };
        let mut clients = Vec::with_capacity(addrs.len());
        let base = opts.server_url.trim_end_matches('/');
        for addr in addrs {
            // The URL's port is the one dialled (a resolve override sets only the address),
            // so each replica gets a base URL with its own port.
            let base = match (addr, opts.replicas.is_empty()) {
                (Some(addr), false) => {
                    let mut u = url.clone();
                    u.set_port(Some(addr.port()))
                        .map_err(|()| "server url: no port".to_owned())?;
                    u.as_str().trim_end_matches('/').to_owned()
                }
                _ => base.to_owned(),
            };
            let mut b = reqwest::Client::builder()
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .add_root_certificate(ca.clone())
                .identity(identity.clone())
                .timeout(Duration::from_secs(120));
            if let (Some(addr), Some(host)) = (addr, url.host_str()) {
                b = b.resolve(host, addr);
            }
            clients.push((b.build().map_err(|e| format!("client: {e}"))?, base));
        }
        Ok(clients)
    }

    /// EST re-enrolment (RFC 7030 §4.2.2) with the current certificate: a new key, a PKCS#10
    /// request for it, and from then on the certificate the server answers with. `break_proof`:
    /// the request's signature is spoiled (the injected fault), so the server must refuse it.
    pub async fn reenroll(&mut self, opts: &FleetOptions, id: &str, break_proof: bool) -> Result<Issued, String> {
        use base64::Engine as _;
        let key = rcgen::KeyPair::generate().map_err(|e| format!("reenroll: key: {e}"))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| format!("reenroll: {e}"))?;
        params.distinguished_name.push(rcgen::DnType::CommonName, id);
        let mut csr = params
            .serialize_request(&key)
            .map_err(|e| format!("reenroll: request: {e}"))?
            .der()
            .to_vec();
        if break_proof {
            // The last byte is inside the signature.
            if let Some(b) = csr.last_mut() {
                *b ^= 0x01;
            }
        }
        let body = base64::engine::general_purpose::STANDARD.encode(&csr);
        let r = self
            .send(|c, base| {
                c.post(format!("{base}{EST_SIMPLEREENROLL_PATH}"))
                    .header(header::CONTENT_TYPE, "application/pkcs10")
                    .body(body.clone())
            })
            .await
            .map_err(|e| format!("reenroll: {}", with_causes(&e)))?;
        if !r.status().is_success() {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            return Err(format!("reenroll: HTTP {status}: {text}"));
        }
        let text = r.text().await.map_err(|e| format!("reenroll: {}", with_causes(&e)))?;
        let cert_pem = certificate_from_est(&text)?;
        let issued = Issued {
            cert_pem,
            key_pem: key.serialize_pem(),
        };
        self.clients = Self::clients(opts, &issued)?;
        Ok(issued)
    }

    /// The client of a replica picked at random (the only one, with one replica).
    fn client(&self) -> &(reqwest::Client, String) {
        use std::sync::atomic::Ordering;
        let mut x = self.pick.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.pick.store(x, Ordering::Relaxed);
        let i = usize::try_from(x % self.clients.len() as u64).unwrap_or(0);
        &self.clients[i]
    }

    /// Sends a request to a random replica; a refused connection (a replica down) is tried
    /// again on another.
    async fn send(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut attempt = 1;
        loop {
            let (client, base) = self.client();
            match build(client, base).send().await {
                Err(e) if e.is_connect() && self.clients.len() > 1 && attempt < CONNECT_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    /// A check-in; also whether the server asks the device to renew its certificate.
    pub async fn checkin(&self, digest: &str, version: &str, sequence: u64) -> Result<(Checkin, bool), String> {
        let body = CheckinRequest::new(digest, Some(version.to_owned()), sequence);
        let r = self
            .send(|c, base| c.post(format!("{base}{CHECKIN_PATH}")).json(&body))
            .await
            .map_err(|e| format!("checkin: {}", with_causes(&e)))?;
        if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let secs = r
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            return Ok((Checkin::RetryAfter(Duration::from_secs(secs)), false));
        }
        if !r.status().is_success() {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            return Err(format!("checkin: HTTP {status}: {text}"));
        }
        let resp: CheckinResponse = r.json().await.map_err(|e| format!("checkin: {}", with_causes(&e)))?;
        let answer = match (resp.command, resp.update) {
            (Some(c), _) if c == DeviceCommand::FACTORY_RESET => Checkin::FactoryReset,
            (_, Some(o)) => Checkin::Offer(Box::new(o)),
            (_, None) => Checkin::NoUpdate(resp.no_update_reason.map(bounded)),
        };
        Ok((answer, resp.renew_certificate))
    }

    /// `POST /api/v1/device/status`.
    ///
    /// Delivered at least once, as firmware does: a report whose answer never came (the
    /// connection broke, the server died) is sent again, a few times; the server applies a
    /// repeated report once.
    pub async fn status(&self, report: &StatusReport) -> Result<(), String> {
        let mut attempt = 1;
        let r = loop {
            match self
                .send(|c, base| c.post(format!("{base}{STATUS_PATH}")).json(report))
                .await
            {
                Ok(r) => break r,
                Err(_) if attempt < STATUS_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(format!("status: {}", with_causes(&e))),
            }
        };
        if r.status().is_success() {
            Ok(())
        } else {
            Err(format!("status: HTTP {}", r.status()))
        }
    }

    /// Downloads `artifact`, resuming with `Range` after a dropped connection. `drop_at`: cut
    /// the connection once after this many bytes (the injected fault).
    pub async fn download(&self, artifact: &Artifact, mut drop_at: Option<u64>) -> Result<Download, String> {
        let size = usize::try_from(artifact.size).map_err(|_| "download: size".to_owned())?;
        let mut buf: Vec<u8> = Vec::with_capacity(size);
        let mut etag: Option<String> = None;
        let (mut on_wire, mut resumes) = (0u64, 0u32);
        loop {
            let sent = self
                .send(|c, base| {
                    let mut req = c.get(format!("{base}{}", artifact.url));
                    if !buf.is_empty() {
                        req = req.header(header::RANGE, format!("bytes={}-", buf.len()));
                        if let Some(t) = &etag {
                            req = req.header(header::IF_RANGE, t.as_str());
                        }
                    }
                    req
                })
                .await;
            let r = match sent {
                Ok(r) => r,
                // No answer at all (a kept-alive connection to a server that died, a reset):
                // an interruption like a cut transfer, resumed after a pause.
                Err(e) => {
                    resumes += 1;
                    if resumes > MAX_RESUMES {
                        return Err(format!("download: {}", with_causes(&e)));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match r.status().as_u16() {
                200 => buf.clear(),
                206 => {
                    let start = r
                        .headers()
                        .get(header::CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("bytes "))
                        .and_then(|v| v.split('-').next())
                        .and_then(|v| v.parse::<usize>().ok());
                    if start != Some(buf.len()) {
                        return Err(format!("download: unexpected Content-Range {start:?}"));
                    }
                }
                s => return Err(format!("download: HTTP {s}")),
            }
            etag = r
                .headers()
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let started = Instant::now();
            let mut this_leg = 0u64;
            let mut dropped = false;
            let mut stream = r.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else {
                    dropped = true;
                    break;
                };
                let mut take = chunk.len();
                if let Some(at) = drop_at {
                    let at = usize::try_from(at).unwrap_or(usize::MAX);
                    if buf.len() + take >= at {
                        take = at.saturating_sub(buf.len());
                        drop_at = None;
                        dropped = true;
                    }
                }
                buf.extend_from_slice(&chunk[..take]);
                on_wire += chunk.len() as u64;
                this_leg += take as u64;
                if let Some(rate) = self.bytes_per_s.filter(|r| *r > 0) {
                    let due = Duration::from_secs_f64(this_leg as f64 / rate as f64);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                if dropped {
                    break;
                }
            }
            // Leaving the loop early drops the body: the connection is closed mid-transfer.
            drop(stream);
            if buf.len() >= size && !dropped {
                break;
            }
            resumes += 1;
            if resumes > MAX_RESUMES {
                return Err("download: too many interruptions".into());
            }
        }
        Ok(Download {
            bytes: buf,
            on_wire,
            resumes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A newer server's reason is kept as given (bounded); a known one is never touched.
    #[test]
    fn unknown_reasons_are_kept_bounded() {
        assert_eq!(bounded(NoUpdateReason::HELD_OUT), NoUpdateReason::HELD_OUT);
        assert_eq!(bounded(NoUpdateReason::from("quota_wait")), "quota_wait");
        let long = NoUpdateReason::from("é".repeat(MAX_REASON));
        let cut = bounded(long);
        assert!(cut.as_str().len() <= MAX_REASON && !cut.as_str().is_empty());
    }
}
