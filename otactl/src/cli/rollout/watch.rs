//! `otactl rollout status ID --watch`: the rollout, refreshed every second, until it completes,
//! is aborted or pauses, or Ctrl-C. On a terminal one progress bar per stage (committed so far
//! against the stage's cohort, ota-server/README.md "Rollouts", "Counts"); otherwise one line per
//! change, so a log or CI job reads it.

use std::io::IsTerminal as _;
use std::time::{Duration, SystemTime};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ota_protocol::rollouts::{RolloutState, RolloutView, StageStatus, StageView};

use super::view::{stage_text, state_text, target};
use super::Context;
use crate::error::{Error, ErrorKind, Result};
use crate::output;

const REFRESH: Duration = Duration::from_secs(1);
/// Unanswered polls in a row (transport errors, 5xx) before watching gives up.
const MAX_MISSED: u32 = 30;

/// Whether watching ends at this state: nothing more happens without an operator.
fn settled(view: &RolloutView) -> bool {
    view.is_finished() || view.state == RolloutState::PAUSED
}

pub async fn watch(ctx: &Context, id: i64) -> Result<()> {
    let client = ctx.client()?;
    let mut display = if std::io::stderr().is_terminal() {
        Display::Bars(Bars::new())
    } else {
        Display::Lines {
            last: None,
            stdout: !ctx.json,
        }
    };
    let mut ticker = tokio::time::interval(REFRESH);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut last: Option<RolloutView> = None;
    let mut missed = 0;
    let interrupted = loop {
        let fetched = tokio::select! {
            _ = &mut ctrl_c => break true,
            r = async {
                ticker.tick().await;
                client.rollout(id).await
            } => r,
        };
        match fetched {
            Ok(view) => {
                missed = 0;
                display.show(&view);
                let done = settled(&view);
                last = Some(view);
                if done {
                    break false;
                }
            }
            Err(e) => {
                let e = Error::from(e);
                missed += 1;
                if e.kind() == ErrorKind::Refused || last.is_none() || missed >= MAX_MISSED {
                    display.finish();
                    return Err(e);
                }
                display.trouble(&format!("no answer ({missed}): {}", e.message()));
            }
        }
    };
    display.finish();
    let Some(view) = last else {
        return Err(Error::new(ErrorKind::Interrupted, "interrupted"));
    };
    if ctx.json {
        output::json(&view)?;
    } else if matches!(display, Display::Bars(_)) {
        output::line(&summary_line(&view));
    }
    if interrupted {
        return Err(Error::new(ErrorKind::Interrupted, "interrupted"));
    }
    Ok(())
}

enum Display {
    /// indicatif bars on stderr.
    Bars(Bars),
    /// One line per change, on stdout (stderr with `--json`).
    Lines { last: Option<String>, stdout: bool },
}

impl Display {
    fn show(&mut self, view: &RolloutView) {
        match self {
            Self::Bars(bars) => bars.show(view),
            Self::Lines { last, stdout } => {
                let line = summary_line(view);
                if last.as_deref() != Some(line.as_str()) {
                    let now = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    let text = format!("{} {line}", output::time(now));
                    if *stdout {
                        output::line(&text);
                    } else {
                        output::note(&text);
                    }
                    *last = Some(line);
                }
            }
        }
    }

    fn trouble(&mut self, message: &str) {
        match self {
            Self::Bars(bars) => bars.header.set_message(format!("otactl: {message}; retrying")),
            Self::Lines { .. } => output::note(&format!("otactl: {message}; retrying")),
        }
    }

    fn finish(&mut self) {
        if let Self::Bars(bars) = self {
            bars.header.abandon();
            for bar in &bars.stages {
                bar.abandon();
            }
            if bars.multi.take().is_some() {
                // indicatif leaves the cursor at the end of the last bar.
                eprintln!();
            }
        }
    }
}

/// One line: the state and the current stage's progress.
fn summary_line(r: &RolloutView) -> String {
    let t = &r.totals;
    if r.is_finished() {
        return format!(
            "rollout {} {}: {} committed, {} failed, {} rolled back of {} offered (all stages)",
            r.id, r.state, t.committed, t.failed, t.rolled_back, t.offered
        );
    }
    let stage = r.current().map_or_else(String::new, |s| {
        format!(
            " · stage {}: {} · this stage: {} offered, {} failed",
            stage_text(r),
            so_far(s, None),
            s.counts.offered,
            s.counts.failures()
        )
    });
    format!(
        "rollout {} {}{stage} · in flight {}/{}",
        r.id,
        state_text(r),
        r.in_flight,
        r.max_in_flight
    )
}

/// `3/7 committed so far (needs 7)`.
fn so_far(s: &StageView, remembered: Option<u32>) -> String {
    let cohort = s.cohort.or(remembered).map_or_else(|| "?".into(), |c| c.to_string());
    let needed = s.committed_needed.map_or_else(String::new, |n| format!(" (needs {n})"));
    format!("{}/{cohort} committed so far{needed}", s.cumulative.committed)
}

/// One bar per stage under a header line with the rollout's state.
struct Bars {
    multi: Option<MultiProgress>,
    header: ProgressBar,
    stages: Vec<ProgressBar>,
    /// The last cohort each stage showed while current (the API counts only the current stage's).
    cohorts: Vec<Option<u32>>,
}

impl Bars {
    fn new() -> Self {
        Self {
            multi: None,
            header: ProgressBar::hidden(),
            stages: Vec::new(),
            cohorts: Vec::new(),
        }
    }

    fn setup(&mut self, view: &RolloutView) {
        let multi = MultiProgress::new();
        let header =
            multi
                .add(ProgressBar::new(0).with_style(
                    ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
                ));
        let style = ProgressStyle::with_template("{prefix:>14} [{bar:30.green/white}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        self.stages = view
            .stages
            .iter()
            .map(|s| {
                multi.add(ProgressBar::new(1).with_style(style.clone()).with_prefix(format!(
                    "stage {} {}%",
                    s.index + 1,
                    s.percent
                )))
            })
            .collect();
        self.cohorts = vec![None; view.stages.len()];
        self.header = header;
        self.multi = Some(multi);
    }

    fn show(&mut self, view: &RolloutView) {
        if self.multi.is_none() || self.stages.len() != view.stages.len() {
            self.setup(view);
        }
        self.header.set_message(format!(
            "rollout {} ({}) · release {} to {} · {} · in flight {}/{}",
            view.id,
            view.name,
            view.release.version,
            target(view),
            state_text(view),
            view.in_flight,
            view.max_in_flight
        ));
        for ((s, bar), remembered) in view.stages.iter().zip(&self.stages).zip(&mut self.cohorts) {
            if s.cohort.is_some() {
                *remembered = s.cohort;
            }
            let committed = u64::from(s.cumulative.committed);
            let (len, msg) = if s.status == StageStatus::PENDING {
                (1, "pending".to_owned())
            } else if s.status == StageStatus::DONE {
                let len = remembered.map_or(committed, u64::from).max(committed).max(1);
                (len, format!("done · {}", so_far(s, *remembered)))
            } else {
                let len = remembered.map_or(committed, u64::from).max(1);
                (
                    len,
                    format!(
                        "{} · this stage: {} offered, {} updating, {} failed",
                        so_far(s, *remembered),
                        s.counts.offered,
                        s.counts.downloading.saturating_add(s.counts.installed),
                        s.counts.failures()
                    ),
                )
            };
            bar.set_length(len);
            bar.set_position(committed.min(len));
            bar.set_message(msg);
        }
    }
}
