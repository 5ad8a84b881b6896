//! `otactl config init` and `otactl config show`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ota_protocol::client::AdminClient;
use serde_json::json;

use super::Context;
use crate::config::{self, FileConfig, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::output;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  otactl config init --url https://localhost:8443 --ca srv/tls/fleet-ca.pem --token-file admin.token
  otactl --config ops.toml config init --url https://ota.example:8443 --ca fleet-ca.pem \\
      --token-file ~/.ota/admin.token
  otactl config show

The config file is TOML: url, ca (CA certificate, PEM), and token_file (a file holding the token)
or token (the token itself); relative paths are relative to the file's directory.")]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Write the config file from --url, --ca and --token-file (mode 0600).
    #[command(after_help = "\
Examples:
  otactl config init --url https://localhost:8443 --ca srv/tls/fleet-ca.pem --token-file admin.token
  otactl config init --force --url https://ota.example:8443 --ca fleet-ca.pem --token-file ops.token

Writes --config FILE, else $XDG_CONFIG_HOME/otactl/config.toml (or ~/.config/otactl/config.toml),
with absolute paths, mode 0600, never replacing a file without --force. The CA certificate and the
token file are checked first: a token file readable by group or others is refused. Without
--token-file, give the token at run time (OTACTL_TOKEN_FILE, OTACTL_TOKEN).")]
    Init(InitArgs),
    /// Show the settings in effect and where each comes from (never the token).
    #[command(after_help = "\
Examples:
  otactl config show
  OTACTL_URL=https://ota.example:8443 otactl config show --json")]
    Show,
}

#[derive(Debug, clap::Args)]
struct InitArgs {
    /// Replace an existing config file.
    #[arg(long)]
    force: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<()> {
    match args.command {
        Sub::Init(a) => init(ctx, &a),
        Sub::Show => show(ctx),
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io(format_args!("{}", path.display()), &e))
}

fn init(ctx: &Context, args: &InitArgs) -> Result<()> {
    let o = &ctx.overrides;
    let Some(url) = o.url.clone() else {
        return Err(Error::usage("config init needs --url").with_hint(
            "e.g. otactl config init --url https://localhost:8443 --ca srv/tls/fleet-ca.pem --token-file admin.token",
        ));
    };
    let path = match &o.config {
        Some(p) => p.clone(),
        None => config::default_path().ok_or_else(|| {
            Error::config("no config directory: neither XDG_CONFIG_HOME nor HOME is set")
                .with_hint("pass --config FILE")
        })?,
    };
    if path.exists() && !args.force {
        return Err(Error::new(ErrorKind::Io, format!("{} already exists", path.display()))
            .with_hint("pass --force to replace it, or --config FILE to write another one"));
    }
    // Check what the file will name before writing it.
    let mut client = AdminClient::builder(url.clone());
    let ca = match &o.ca {
        Some(ca) => {
            client = client.ca_pem(config::read_ca(ca)?);
            Some(absolute(ca)?)
        }
        None => None,
    };
    client.build()?;
    let token_file = match &o.token_file {
        Some(t) => {
            config::read_token_file(t)?;
            Some(absolute(t)?)
        }
        None => None,
    };
    let file = FileConfig {
        url: Some(url),
        ca,
        token_file,
        token: None,
    };
    let text = format!(
        "# otactl configuration (`otactl config --help`).\n{}",
        toml::to_string(&file).map_err(|e| Error::config(format!("cannot encode the config: {e}")))?
    );
    write_private(&path, text.as_bytes(), args.force)?;
    if ctx.json {
        output::json(&json!({
            "config": path,
            "url": file.url,
            "ca": file.ca,
            "token_file": file.token_file,
        }))?;
    }
    output::note(&format!("otactl: wrote {} (mode 0600)", path.display()));
    if file.token_file.is_none() {
        output::note("otactl: no --token-file: give the token with OTACTL_TOKEN_FILE or OTACTL_TOKEN");
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically with mode 0600 (the directory is made 0700 if missing);
/// an existing file is replaced only with `replace`.
fn write_private(path: &Path, bytes: &[u8], replace: bool) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format_args!("cannot create {}", dir.display()), &e))?;
    // tempfile creates the file 0600.
    let mut tmp = tempfile::Builder::new()
        .prefix(".otactl-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(format_args!("cannot create a temporary file in {}", dir.display()), &e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io(format_args!("cannot write {}", tmp.path().display()), &e))?;
    let persisted = if replace {
        tmp.persist(path).map(drop)
    } else {
        tmp.persist_noclobber(path).map(drop)
    };
    persisted.map_err(|e| {
        Error::io(format_args!("cannot write {}", path.display()), &e.error)
            .with_hint("pass --force to replace an existing file")
    })?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn show(ctx: &Context) -> Result<()> {
    let s = Settings::resolve(&ctx.overrides)?;
    if ctx.json {
        return output::json(&json!({
            "config_file": s.config_file,
            "url": s.url.as_ref().map(|(u, from)| json!({"value": u, "from": from})),
            "ca": s.ca.as_ref().map(|(c, from)| json!({"value": c, "from": from})),
            "token": s.token.as_ref().map(|(_, from)| json!({"from": from.to_string()})),
        }));
    }
    let mut t = output::Table::new(&["SETTING", "VALUE", "FROM"]);
    t.row(vec![
        "config file".into(),
        s.config_file
            .as_ref()
            .map_or_else(|| "(none)".into(), |p| p.display().to_string()),
        String::new(),
    ]);
    let (url, from) = s.url.clone().map_or(("(not set)".into(), ""), |(u, f)| (u, f));
    t.row(vec!["url".into(), url, from.into()]);
    let (ca, from) =
        s.ca.as_ref()
            .map_or(("(not set)".into(), ""), |(c, f)| (c.display().to_string(), *f));
    t.row(vec!["ca".into(), ca, from.into()]);
    let (token, from) = s.token.as_ref().map_or(("(not set)".into(), String::new()), |(_, f)| {
        ("(set)".into(), f.to_string())
    });
    t.row(vec!["token".into(), token, from]);
    t.print();
    Ok(())
}
