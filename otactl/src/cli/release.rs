//! `otactl release upload|list|show`.

use std::path::PathBuf;

use ota_protocol::admin::ReleaseView;
use ota_protocol::client::ReleaseUpload;

use super::Context;
use crate::error::Result;
use crate::output::{self, Table};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  otactl release upload release-1.1.0
  otactl release list
  otactl release show 1 --json")]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Upload a `signer release` output directory; the server verifies it as a device would (release-manager).
    #[command(after_help = "\
Examples:
  otactl release upload release-1.1.0
  otactl release upload --json release-1.1.0 | jq .id

DIR is what `signer release -o DIR` wrote: release.suit (the signed SUIT envelope), the signed
image, any delta-from-*.patch files and release.json (the files it names are the ones sent). The
server checks both signatures, the device class, the sequence number and every digest before it
stores anything; a refused bundle exits 1 with the failed check's code (e.g.
`error: image_digest_mismatch: ...`).")]
    Upload {
        /// The release bundle directory (`signer release -o DIR`).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// List the stored releases (viewer).
    #[command(after_help = "\
Examples:
  otactl release list
  otactl release list --json | jq '.[] | {id, version}'")]
    List,
    /// Show one stored release with its delta patches (viewer).
    #[command(after_help = "\
Examples:
  otactl release show 1
  otactl release show 1 --json")]
    Show {
        /// Release id (`otactl release list`).
        #[arg(value_name = "ID")]
        id: i64,
    },
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    match args.command {
        Sub::Upload { dir } => upload(ctx, &dir).await,
        Sub::List => list(ctx).await,
        Sub::Show { id } => show(ctx, id).await,
    }
}

async fn upload(ctx: &Context, dir: &std::path::Path) -> Result<()> {
    let client = ctx.client()?;
    let bundle = ReleaseUpload::from_dir(dir)?;
    let size: usize = [&bundle.envelope, &bundle.image, &bundle.summary]
        .into_iter()
        .flatten()
        .chain(&bundle.patches)
        .map(|f| f.bytes.len())
        .sum();
    let spinner = output::spinner(&format!(
        "uploading {} ({}) to {}",
        dir.display(),
        output::bytes(size as u64),
        client.base_url()
    ));
    let result = client.upload_release(&bundle).await;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let release = result?;
    if ctx.json {
        return output::json(&release);
    }
    output::line(&format!(
        "uploaded release {}: {} {} (sequence {}), image {}, {} delta patch{}; verified by the server",
        release.id,
        release.class,
        release.version,
        release.sequence,
        output::bytes(release.image_size),
        release.patches.len(),
        if release.patches.len() == 1 { "" } else { "es" },
    ));
    output::note(&format!(
        "next: otactl rollout create --release {} (devices get it only through a rollout)",
        release.id
    ));
    Ok(())
}

async fn list(ctx: &Context) -> Result<()> {
    let releases = ctx.client()?.releases().await?;
    output::list(
        ctx.json,
        &releases,
        "no releases (upload one with `otactl release upload DIR`)",
        &[
            "ID", "CLASS", "VERSION", "SEQUENCE", "IMAGE", "PATCHES", "UPLOADED", "BY",
        ],
        |r| {
            vec![
                r.id.to_string(),
                r.class.clone(),
                r.version.clone(),
                r.sequence.to_string(),
                output::bytes(r.image_size),
                r.patches.len().to_string(),
                output::time(r.created_ms),
                r.uploaded_by.clone(),
            ]
        },
    )
}

async fn show(ctx: &Context, id: i64) -> Result<()> {
    let release = ctx.client()?.release(id).await?;
    if ctx.json {
        return output::json(&release);
    }
    print_release(&release);
    Ok(())
}

fn print_release(r: &ReleaseView) {
    let mut t = Table::new(&["release", &r.id.to_string()]);
    for (k, v) in [
        ("class", format!("{} ({})", r.class, r.class_id)),
        ("version", r.version.clone()),
        ("sequence", r.sequence.to_string()),
        (
            "image",
            format!("{} sha256:{}", output::bytes(r.image_size), r.image_sha256),
        ),
        ("envelope", format!("sha256:{}", r.envelope_sha256)),
        (
            "uploaded",
            format!("{} by {}", output::time(r.created_ms), r.uploaded_by),
        ),
    ] {
        t.row(vec![k.into(), v]);
    }
    t.print();
    if r.patches.is_empty() {
        output::line("\nno delta patches (devices download the full image)");
        return;
    }
    output::line("\ndelta patches:");
    let mut p = Table::new(&[
        "FROM (BASE SHA-256)",
        "BASE SIZE",
        "PATCH SIZE",
        "FORMAT",
        "PATCH SHA-256",
    ]);
    for patch in &r.patches {
        p.row(vec![
            output::short(&patch.base_sha256),
            output::bytes(patch.base_size),
            output::bytes(patch.size),
            patch.format.to_string(),
            patch.sha256.clone(),
        ]);
    }
    p.print();
}
