//! The device client pool: plain-HTTP check-ins and status reports with the device id in
//! `X-Device-Id`, spread over a fixed set of connections, with what each request saw.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ota_protocol::device::{CheckinRequest, CheckinResponse, StatusReport};

/// What one worker saw.
#[derive(Debug, Default)]
pub struct Rec {
    pub checkins: Vec<Duration>,
    pub reports: Vec<Duration>,
    pub errors: usize,
    pub first_error: Option<String>,
    pub offers: usize,
    pub offers_with_patch: usize,
}

impl Rec {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }

    pub fn merge(&mut self, o: Rec) {
        self.checkins.extend(o.checkins);
        self.reports.extend(o.reports);
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        self.offers += o.offers;
        self.offers_with_patch += o.offers_with_patch;
    }
}

/// Request bodies, serialised once.
#[derive(Debug)]
pub struct Bodies {
    pub v1: bytes::Bytes,
    pub v2: bytes::Bytes,
}

/// The device endpoints and the check-in bodies.
#[derive(Debug)]
pub struct Ctx {
    base: String,
    checkin_url: String,
    status_url: String,
    pub bodies: Bodies,
}

impl Ctx {
    /// Against the server at `base`; devices running v1 (`v1_digest`) or v2 (`v2_digest`).
    pub fn new(base: &str, v1_digest: &str, v2_digest: &str) -> Self {
        let body = |digest: &str, version: &str, sequence| {
            let request = CheckinRequest::new(digest.to_owned(), Some(version.into()), sequence);
            bytes::Bytes::from(serde_json::to_vec(&request).unwrap())
        };
        Self {
            base: base.to_owned(),
            checkin_url: format!("{base}/api/v1/device/checkin"),
            status_url: format!("{base}/api/v1/device/status"),
            bodies: Bodies {
                v1: body(v1_digest, "1.0.0", 1),
                v2: body(v2_digest, "2.0.0", 2),
            },
        }
    }
}

/// One check-in; the offered release id and image path, if any.
pub async fn checkin(
    ctx: &Ctx,
    client: &reqwest::Client,
    id: &str,
    body: &bytes::Bytes,
    rec: &mut Rec,
) -> Option<(i64, String)> {
    let t = Instant::now();
    let r = client
        .post(&ctx.checkin_url)
        .header("x-device-id", id)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await;
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            rec.error(format!("check-in {id}: {e}"));
            return None;
        }
    };
    let status = r.status();
    let bytes = r.bytes().await.unwrap_or_default();
    rec.checkins.push(t.elapsed());
    if !status.is_success() {
        rec.error(format!("check-in {id}: {status} {}", String::from_utf8_lossy(&bytes)));
        return None;
    }
    let update = match serde_json::from_slice::<CheckinResponse>(&bytes) {
        Ok(r) => r.update?,
        Err(e) => {
            rec.error(format!("check-in {id}: {e}"));
            return None;
        }
    };
    rec.offers += 1;
    if update.patch.is_some() {
        rec.offers_with_patch += 1;
    }
    Some((update.release_id, update.image.url))
}

/// Downloads an offered image (what a commit needs before it is counted).
pub async fn download(ctx: &Ctx, client: &reqwest::Client, id: &str, path: &str, rec: &mut Rec) {
    let r = client
        .get(format!("{}{path}", ctx.base))
        .header("x-device-id", id)
        .send()
        .await;
    match r {
        Ok(r) if r.status().is_success() => {
            if let Err(e) = r.bytes().await {
                rec.error(format!("download of {id}: {e}"));
            }
        }
        Ok(r) => rec.error(format!("download of {id}: {}", r.status())),
        Err(e) => rec.error(format!("download of {id}: {e}")),
    }
}

/// One status report.
pub async fn report(ctx: &Ctx, client: &reqwest::Client, id: &str, report: &StatusReport, rec: &mut Rec) {
    let status = report.name();
    let body = serde_json::to_vec(report).unwrap_or_default();
    let t = Instant::now();
    let r = client
        .post(&ctx.status_url)
        .header("x-device-id", id)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match r {
        Ok(r) => {
            let code = r.status();
            let _ = r.bytes().await;
            rec.reports.push(t.elapsed());
            if !code.is_success() {
                rec.error(format!("status {status} of {id}: {code}"));
            }
        }
        Err(e) => rec.error(format!("status {status} of {id}: {e}")),
    }
}

/// Runs `work(ctx, client, item)` for every item, one worker per connection of `conns`; what
/// they saw and how long it took.
pub async fn pool<W, Fut>(ctx: Arc<Ctx>, conns: &[reqwest::Client], items: Arc<Vec<usize>>, work: W) -> (Rec, Duration)
where
    W: Fn(Arc<Ctx>, reqwest::Client, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Rec> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in conns {
        let client = client.clone();
        let (ctx, items, next, work) = (ctx.clone(), items.clone(), next.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            let mut all = Rec::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&item) = items.get(i) else { break };
                all.merge(work(ctx.clone(), client.clone(), item).await);
            }
            all
        }));
    }
    let mut rec = Rec::default();
    for t in tasks {
        rec.merge(t.await.unwrap());
    }
    (rec, start.elapsed())
}
