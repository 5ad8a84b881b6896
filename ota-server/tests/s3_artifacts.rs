//! Artifacts on S3 (an S3-compatible server, moto, started by `.ci/s3-up.sh`): replicas share
//! one bucket, so a release ingested through one replica downloads, whole and by range, from
//! another, and survives every replica's restart; a bucket that does not answer fails the start
//! with a message that says what to check.

mod cluster_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use cluster_support::{bucket_keys, device_link, s3_env, v2, Cluster};
use fleet_sim::net::Checkin;
use ota_protocol::rollouts::{NewRollout, PlanInput, StageInput};

fn sha(b: &[u8]) -> String {
    fleet_sim::sha256_hex(b)
}

async fn offer(link: &fleet_sim::net::Link) -> ota_protocol::device::UpdateOffer {
    let v1 = cluster_support::v1();
    for _ in 0..100 {
        if let Checkin::Offer(o) = link.checkin(&sha(&v1), "1.0.0", 1).await.unwrap().0 {
            return *o;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no offer");
}

/// A plain HTTPS client with device `id`'s certificate, talking to replica `replica`.
fn device_client(cluster: &Cluster, id: &str, replica: usize) -> reqwest::Client {
    let issued = cluster.fleet_ca.issue_device(id, Some(cluster_support::CLASS)).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cluster.ca.cert_pem().as_bytes()).unwrap())
        .identity(reqwest::Identity::from_pem(format!("{}{}", issued.cert_pem, issued.key_pem).as_bytes()).unwrap())
        .resolve("localhost", cluster.addrs[replica])
        .build()
        .unwrap()
}

/// Files under a replica's own artifact directory (there should be none: S3 holds them).
fn local_artifacts(dir: &std::path::Path) -> usize {
    let sha = dir.join("artifacts/sha256");
    std::fs::read_dir(sha).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_bucket_serves_every_replica_whole_and_ranged_across_restarts() {
    let mut cluster = Cluster::start(2).await;
    let release = cluster.upload_v2(0).await;
    let image = v2();
    // The ingesting replica stored the image in the bucket, under its digest.
    let keys = bucket_keys(&cluster.bucket).await;
    assert!(keys.contains(&format!("artifacts/sha256/{}", sha(&image))), "{keys:?}");
    for i in 0..2 {
        assert_eq!(
            local_artifacts(&cluster.replica_dir(i)),
            0,
            "replica {i} kept a local copy"
        );
    }
    cluster
        .admin(1)
        .create_rollout(&NewRollout {
            plan: PlanInput {
                stages: Some(vec![StageInput::percent(100.0)]),
                ..PlanInput::default()
            },
            ..NewRollout::of(release)
        })
        .await
        .unwrap();

    // Replica 1 never saw the upload: it serves the whole image from the bucket...
    let link = device_link(&cluster, "s3-device", 1);
    let offered = offer(&link).await;
    assert_eq!(offered.image.sha256, sha(&image));
    let whole = link.download(&offered.image, None).await.unwrap();
    assert_eq!(whole.bytes, image);
    assert_eq!(whole.resumes, 0);
    // ...a range of it (a ranged GET on S3), byte for byte...
    let r = device_client(&cluster, "s3-device", 1)
        .get(format!(
            "https://localhost:{}{}",
            cluster.addrs[1].port(),
            offered.image.url
        ))
        .header("range", "bytes=1000-4999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes 1000-4999/{}", image.len())
    );
    assert_eq!(&r.bytes().await.unwrap()[..], &image[1000..5000]);
    // ...and a transfer cut after 10,000 bytes resumes where it stopped.
    let cut = link.download(&offered.image, Some(10_000)).await.unwrap();
    assert_eq!(cut.bytes, image);
    assert_eq!(cut.resumes, 1);

    // Every replica dies; one comes back and still serves it (nothing was on its disk).
    cluster.kill(0);
    cluster.kill(1);
    cluster.restart(1).await;
    let after = link
        .download(&offered.image, Some(image.len() as u64 / 2))
        .await
        .unwrap();
    assert_eq!(after.bytes, image);
    assert_eq!(after.resumes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_bucket_fails_the_start_with_a_hint() {
    let cluster = Cluster::start(0).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut env = s3_env();
    for (k, v) in &mut env {
        if *k == "AWS_ENDPOINT_URL" {
            *v = format!("http://{dead}");
        }
    }
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_ota-server"))
            .args(["serve", "--config"])
            .arg(cluster.config_path())
            .env("OTA_LISTEN", "127.0.0.1:0")
            .env("OTA_DATA_DIR", cluster.replica_dir(0))
            .envs(env)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("the bucket does not answer"), "{stderr}");
    assert!(stderr.contains("AWS_ENDPOINT_URL"), "{stderr}");
}
