//! `otactl rollout create|list|status|start|pause|resume|approve|abort|retry-failed`
//! (ota-server/README.md, "Rollouts": stages are cumulative shares; counts are of devices).

mod view;
mod watch;

use std::time::Duration;

use ota_protocol::rollouts::{NewRollout, PlanInput, Promotion, RolloutAction, RolloutState, StageInput};

use super::{split_list, Context};
use crate::error::{Error, Result};
use crate::output;
use view::{print_status, stage_text, state_text, target};

/// The server's default stages (ota-server/README.md, "Rollouts"), used when a stage option is
/// given without --stages.
const DEFAULT_STAGES: [f64; 4] = [1.0, 10.0, 50.0, 100.0];

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  otactl rollout create --release 1 --stages 1,10,50,100 --soak 1h --approval-last
  otactl rollout list
  otactl rollout status 1 --watch
  otactl rollout pause 1
  otactl rollout resume 1

Stages are cumulative shares of the class (or of its devices with one of --tags): the 10% stage
holds the 1% stage's devices. Counts are of devices: `committed` means rebooted into the new image
and confirmed. See ota-server/README.md, \"Rollouts\".")]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Roll a stored release out to its class in stages (release-manager).
    #[command(after_help = "\
Examples:
  otactl rollout create --release 1
  otactl rollout create --release 1 --stages 100 --soak 0s
  otactl rollout create --release 2 --stages 1,10,50,100 --soak 1h --max-in-flight 20 \\
      --tags beta,lab --approval-last --name 'v2 to the beta fleet'
  otactl rollout create --release 2 --draft --dry-run

Without --stages, --soak or --approval-last the server's default plan applies (1% -> 10% -> 50% ->
100%, 15 minutes of soak each). A stage is promoted once enough of its cohort has committed and it
has soaked; with --approval-last the last stage waits for `otactl rollout approve ID`.")]
    Create(CreateArgs),
    /// List rollouts, newest first (viewer).
    #[command(after_help = "\
Examples:
  otactl rollout list
  otactl rollout list --json | jq '.[] | select(.state == \"paused\") | .id'")]
    List,
    /// Show a rollout's state, stages and timeline; --watch follows it live (viewer).
    #[command(after_help = "\
Examples:
  otactl rollout status 1
  otactl rollout status 1 --watch
  otactl rollout status 1 --json | jq '.stages[] | {percent, status, cumulative}'

--watch refreshes every second until the rollout completes, is aborted or pauses (or Ctrl-C, exit
130): on a terminal one progress bar per stage (committed so far against the stage's cohort),
otherwise one line per change. With --json the progress goes to stderr and the last state is
printed as one JSON document on stdout.")]
    Status(StatusArgs),
    /// Start a draft rollout (release-manager).
    #[command(after_help = "Examples:\n  otactl rollout start 1")]
    Start(IdArg),
    /// Stop offering the release; devices already installing finish (release-manager).
    #[command(after_help = "Examples:\n  otactl rollout pause 1\n  otactl rollout pause 1 --json | jq .state")]
    Pause(IdArg),
    /// Continue a paused rollout, accepting the failures so far (release-manager).
    #[command(after_help = "Examples:\n  otactl rollout resume 1")]
    Resume(IdArg),
    /// Promote a stage that waits for approval (release-manager).
    #[command(after_help = "Examples:\n  otactl rollout approve 1")]
    Approve(IdArg),
    /// Stop for good: devices that have not started get nothing more; updated devices keep it (release-manager).
    #[command(after_help = "Examples:\n  otactl rollout abort 1")]
    Abort(IdArg),
    /// Offer the release again to devices that failed, except those held out (release-manager).
    #[command(name = "retry-failed", after_help = "Examples:\n  otactl rollout retry-failed 1")]
    RetryFailed(IdArg),
}

#[derive(Debug, clap::Args)]
struct IdArg {
    /// Rollout id (`otactl rollout list`).
    #[arg(value_name = "ID")]
    id: i64,
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// The release to roll out (`otactl release list`).
    #[arg(long, value_name = "ID")]
    release: i64,
    /// Cumulative stage shares in percent, comma-separated, the last one 100 [server default: 1,10,50,100].
    #[arg(long, value_name = "PERCENTS", value_parser = parse_stages)]
    stages: Option<Stages>,
    /// How long each stage runs before promotion, e.g. 30s, 15m, 1h [server default: 15m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    soak: Option<Duration>,
    /// Most devices between offer and outcome at once [server default: 50].
    #[arg(long = "max-in-flight", value_name = "N")]
    max_in_flight: Option<u32>,
    /// Only devices of the class carrying one of these tags, comma-separated [default: the whole class].
    #[arg(long, value_name = "TAGS")]
    tags: Option<String>,
    /// The last stage waits for `otactl rollout approve ID` instead of being promoted by itself.
    #[arg(long = "approval-last")]
    approval_last: bool,
    /// A name for the rollout [server default: "<version> to <class>"].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Create it as a draft that offers nothing until `otactl rollout start ID`.
    #[arg(long)]
    draft: bool,
    /// Print the request that would be sent (JSON) and send nothing.
    #[arg(long = "dry-run")]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// Rollout id (`otactl rollout list`).
    #[arg(value_name = "ID")]
    id: i64,
    /// Follow the rollout live, every second, until it completes, is aborted or pauses.
    #[arg(long)]
    watch: bool,
}

/// Parsed `--stages`.
#[derive(Debug, Clone, PartialEq)]
struct Stages(Vec<f64>);

fn parse_stages(text: &str) -> Result<Stages, String> {
    let stages = split_list(text)
        .iter()
        .map(|s| {
            let p = s.trim_end_matches('%');
            match p.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 && v <= 100.0 => Ok(v),
                _ => Err(format!("{s:?} is not a percentage in (0, 100]")),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if stages.is_empty() {
        return Err("give at least one stage, e.g. 100 or 1,10,50,100".into());
    }
    Ok(Stages(stages))
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e} (use e.g. 30s, 15m, 1h, 1h30m)"))
}

impl CreateArgs {
    /// The API's request (ota-server/README.md, "API": `POST /api/v1/admin/rollouts`).
    fn request(&self) -> Result<NewRollout> {
        let mut plan = PlanInput {
            max_in_flight: self.max_in_flight,
            ..PlanInput::default()
        };
        if self.stages.is_some() || self.soak.is_some() || self.approval_last {
            let percents = self.stages.as_ref().map_or(&DEFAULT_STAGES[..], |s| &s.0[..]);
            let soak_ms = self
                .soak
                .map(|d| i64::try_from(d.as_millis()))
                .transpose()
                .map_err(|_| Error::usage("--soak is too long"))?;
            let mut stages: Vec<StageInput> = percents
                .iter()
                .map(|&p| StageInput {
                    soak_ms,
                    ..StageInput::percent(p)
                })
                .collect();
            if let (true, Some(last)) = (self.approval_last, stages.last_mut()) {
                last.promotion = Some(Promotion::APPROVAL);
            }
            plan.stages = Some(stages);
        }
        Ok(NewRollout {
            release_id: self.release,
            name: self.name.clone(),
            plan,
            start: self.draft.then_some(false),
            tags: self.tags.as_deref().map(split_list),
            cohort_salt: None,
        })
    }
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let (id, action) = match args.command {
        Sub::Create(a) => return create(ctx, &a).await,
        Sub::List => return list(ctx).await,
        Sub::Status(a) if a.watch => return watch::watch(ctx, a.id).await,
        Sub::Status(a) => return status(ctx, a.id).await,
        Sub::Start(a) => (a.id, RolloutAction::START),
        Sub::Pause(a) => (a.id, RolloutAction::PAUSE),
        Sub::Resume(a) => (a.id, RolloutAction::RESUME),
        Sub::Approve(a) => (a.id, RolloutAction::APPROVE),
        Sub::Abort(a) => (a.id, RolloutAction::ABORT),
        Sub::RetryFailed(a) => (a.id, RolloutAction::RETRY_FAILED),
    };
    let view = ctx.client()?.rollout_action(id, &action).await?;
    if ctx.json {
        return output::json(&view);
    }
    output::line(&format!("rollout {} ({action}): now {}", view.id, state_text(&view)));
    Ok(())
}

async fn create(ctx: &Context, args: &CreateArgs) -> Result<()> {
    let request = args.request()?;
    if args.dry_run {
        output::note("otactl: dry run: this request would be sent to POST /api/v1/admin/rollouts");
        return output::json(&request);
    }
    let view = ctx.client()?.create_rollout(&request).await?;
    if ctx.json {
        return output::json(&view);
    }
    let stages: Vec<String> = view.stages.iter().map(|s| format!("{}%", s.percent)).collect();
    output::line(&format!(
        "created rollout {} ({:?}): release {} {} of {}, stages {}, {}",
        view.id,
        view.name,
        view.release.id,
        view.release.version,
        target(&view),
        stages.join(" -> "),
        state_text(&view)
    ));
    let next = if view.state == RolloutState::DRAFT {
        format!("start it: otactl rollout start {}", view.id)
    } else {
        format!("watch it: otactl rollout status {} --watch", view.id)
    };
    output::note(&next);
    Ok(())
}

async fn list(ctx: &Context) -> Result<()> {
    let rollouts = ctx.client()?.rollouts().await?;
    output::list(
        ctx.json,
        &rollouts,
        "no rollouts (start one with `otactl rollout create --release ID`)",
        &[
            "ID",
            "NAME",
            "RELEASE",
            "TARGET",
            "STATE",
            "STAGE",
            "COMMITTED",
            "OFFERED",
            "FAILED",
            "UPDATED",
        ],
        |r| {
            vec![
                r.id.to_string(),
                r.name.clone(),
                format!("{} ({})", r.release.version, r.release.id),
                target(r),
                r.state.to_string(),
                stage_text(r),
                r.totals.committed.to_string(),
                r.totals.offered.to_string(),
                r.totals.failures().to_string(),
                output::time(r.updated_ms),
            ]
        },
    )
}

async fn status(ctx: &Context, id: i64) -> Result<()> {
    let view = ctx.client()?.rollout(id).await?;
    if ctx.json {
        return output::json(&view);
    }
    print_status(&view);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn create(args: &[&str]) -> NewRollout {
        #[derive(Debug, clap::Parser)]
        struct T {
            #[command(flatten)]
            a: CreateArgs,
        }
        let mut argv = vec!["t"];
        argv.extend(args);
        T::try_parse_from(argv).unwrap().a.request().unwrap()
    }

    #[test]
    fn create_options_map_to_the_plan_input() {
        let r = create(&[
            "--release",
            "3",
            "--stages",
            "1,10,100",
            "--soak",
            "1h",
            "--max-in-flight",
            "7",
            "--tags",
            "a,b",
            "--approval-last",
            "--name",
            "n",
            "--draft",
        ]);
        let stage = |p: f64| StageInput {
            soak_ms: Some(3_600_000),
            ..StageInput::percent(p)
        };
        let expected = NewRollout {
            release_id: 3,
            name: Some("n".into()),
            plan: PlanInput {
                stages: Some(vec![
                    stage(1.0),
                    stage(10.0),
                    StageInput {
                        promotion: Some(Promotion::APPROVAL),
                        ..stage(100.0)
                    },
                ]),
                max_in_flight: Some(7),
                ..PlanInput::default()
            },
            start: Some(false),
            tags: Some(vec!["a".into(), "b".into()]),
            cohort_salt: None,
        };
        assert_eq!(r, expected);
    }

    #[test]
    fn without_plan_options_the_server_default_applies() {
        assert_eq!(create(&["--release", "1"]), NewRollout::of(1));
        let soak_only = create(&["--release", "1", "--soak", "30s"]);
        let stages = soak_only.plan.stages.unwrap();
        assert_eq!(stages.iter().map(|s| s.percent).collect::<Vec<_>>(), DEFAULT_STAGES);
        assert!(stages.iter().all(|s| s.soak_ms == Some(30_000)));
    }

    #[test]
    fn stages_and_durations_are_checked() {
        assert_eq!(parse_stages("1, 10%,100").unwrap(), Stages(vec![1.0, 10.0, 100.0]));
        assert!(parse_stages("0,100").is_err());
        assert!(parse_stages("abc").is_err());
        assert!(parse_stages("").is_err());
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert!(parse_duration("soon").is_err());
    }
}
