//! `otactl registration allow|deny add|import|list|remove`: who may register on first contact.

use std::path::PathBuf;

use ota_protocol::admin::{DeviceQuery, NewRegistrationEntries, NewRegistrationEntry, MAX_REGISTRATION_ENTRIES};

use super::Context;
use crate::error::{Error, Result};
use crate::output;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  otactl registration allow import batch-7.csv
  otactl registration allow add gw-0001 gw-0002 --class gateway --note \"batch 7\"
  otactl registration deny add dev-0042 --note \"reported stolen, case 1187\"
  otactl registration deny list
  otactl registration allow remove gw-0002

A class with registration = \"allowlist\" in ota-server.toml registers only devices on the allow
list; the deny list refuses a device whatever its class's policy, and revokes it at once if it is
already registered. Changing either list needs an admin token; every change is audited.")]
pub struct Args {
    #[command(subcommand)]
    list: List,
}

#[derive(Debug, clap::Subcommand)]
enum List {
    /// Device ids registered ahead: the only ones an allowlist class registers.
    #[command(after_help = "\
Examples:
  otactl registration allow add gw-0001 --class gateway
  otactl registration allow list")]
    Allow(ListArgs),
    /// Device ids refused whatever their class (recalls, stolen units); registered ones are revoked.
    #[command(after_help = "\
Examples:
  otactl registration deny add dev-0042 --note \"reported stolen\"
  otactl registration deny list")]
    Deny(ListArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Put device ids on the list (all or none).
    #[command(after_help = "\
Examples:
  otactl registration allow add gw-0001 gw-0002 --class gateway
  otactl registration deny add dev-0042 --note \"recall R-12\"")]
    Add {
        /// Device ids, as their certificates' CN will carry them.
        #[arg(required = true, value_name = "DEVICE_ID")]
        ids: Vec<String>,
        /// Allow list: the class the devices register in if their certificates name none.
        #[arg(long, value_name = "CLASS")]
        class: Option<String>,
        /// Why they are listed (at most 256 characters).
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// Put the devices of a CSV file on the list: a header row naming `device_id` and, optionally,
    /// `class` and `note` columns, then one device per row.
    #[command(after_help = "\
Examples:
  otactl registration allow import batch-7.csv

batch-7.csv:
  device_id,class,note
  gw-0001,gateway,batch 7
  gw-0002,gateway,batch 7")]
    Import {
        /// The CSV file.
        file: PathBuf,
    },
    /// Show the list, in device-id order.
    #[command(after_help = "\
Examples:
  otactl registration deny list
  otactl registration allow list --json | jq -r '.[].device_id'")]
    List,
    /// Take a device id off the list (off the deny list, a revoked device stays revoked).
    #[command(after_help = "\
Examples:
  otactl registration allow remove gw-0002")]
    Remove {
        /// The device id.
        id: String,
    },
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let (list, command) = match args.list {
        List::Allow(a) => ("allow", a.command),
        List::Deny(a) => ("deny", a.command),
    };
    match command {
        Sub::Add { ids, class, note } => {
            let entries = ids
                .into_iter()
                .map(|device_id| NewRegistrationEntry {
                    device_id,
                    class: class.clone(),
                    note: note.clone(),
                })
                .collect();
            add(ctx, list, entries).await
        }
        Sub::Import { file } => add(ctx, list, read_csv(&file)?).await,
        Sub::List => {
            let client = ctx.client()?;
            let mut all = Vec::new();
            loop {
                let query = DeviceQuery {
                    limit: Some(1000),
                    after: all
                        .last()
                        .map(|e: &ota_protocol::admin::RegistrationEntryView| e.device_id.clone()),
                };
                let page = client.registration_entries(list, &query).await?;
                let done = page.len() < 1000;
                all.extend(page);
                if done {
                    break;
                }
            }
            output::list(
                ctx.json,
                &all,
                &format!("the {list} list is empty"),
                &["DEVICE", "CLASS", "NOTE", "ADDED", "BY"],
                |e| {
                    vec![
                        e.device_id.clone(),
                        e.class.clone().unwrap_or_else(|| "-".into()),
                        e.note.clone(),
                        output::time(e.created_ms),
                        e.created_by.clone(),
                    ]
                },
            )
        }
        Sub::Remove { id } => {
            ctx.client()?.remove_registration_entry(list, &id).await?;
            if ctx.json {
                output::json(&serde_json::json!({"removed": id, "list": list}))?;
            } else {
                output::line(&format!("{id} taken off the {list} list"));
            }
            Ok(())
        }
    }
}

async fn add(ctx: &Context, list: &str, entries: Vec<NewRegistrationEntry>) -> Result<()> {
    let n = entries.len();
    let added = ctx
        .client()?
        .add_registration_entries(list, &NewRegistrationEntries { entries })
        .await?;
    if ctx.json {
        return output::json(&added);
    }
    output::line(&format!(
        "{} of {n} device ids added to the {list} list ({} already on it)",
        added.added,
        (n as u64).saturating_sub(added.added)
    ));
    if !added.revoked.is_empty() {
        output::line(&format!(
            "revoked (registered, now denied): {}",
            added.revoked.join(", ")
        ));
    }
    Ok(())
}

/// The entries of a CSV file with a `device_id` column (and optional `class`, `note`).
fn read_csv(path: &std::path::Path) -> Result<Vec<NewRegistrationEntry>> {
    let shown = path.display();
    let bad = |what: String| {
        Error::usage(format!("{shown}: {what}"))
            .with_hint("the first row names the columns: device_id, and optionally class and note")
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| bad(e.to_string()))?;
    let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let id_at = column("device_id").ok_or_else(|| bad("no device_id column".into()))?;
    let (class_at, note_at) = (column("class"), column("note"));
    let mut entries = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(e.to_string()))?;
        let field = |at: Option<usize>| {
            at.and_then(|i| record.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let device_id = field(Some(id_at)).ok_or_else(|| bad(format!("row {}: no device_id", row + 2)))?;
        entries.push(NewRegistrationEntry {
            device_id,
            class: field(class_at),
            note: field(note_at),
        });
        if entries.len() > MAX_REGISTRATION_ENTRIES {
            return Err(bad(format!(
                "more than {MAX_REGISTRATION_ENTRIES} devices: split the file"
            )));
        }
    }
    if entries.is_empty() {
        return Err(bad("no devices".into()));
    }
    Ok(entries)
}
