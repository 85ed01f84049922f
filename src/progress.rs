//! Live progress on a terminal: one line per probe on standard error, a spinner while it runs,
//! then its verdict and time, so standard output stays clean for the report. With `NO_COLOR`,
//! no cursor control either: a plain line as each probe finishes. Nothing when standard error is
//! not a terminal, with `--quiet`, or with `TERM=dumb`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use preflight_reports::{ProbeResult, Status};

use crate::plan::Plan;

/// The lines of one run.
pub struct Progress {
    lines: Option<(MultiProgress, HashMap<String, ProgressBar>)>,
    color: bool,
    /// Without colour (`NO_COLOR`), no cursor control either: a plain line per finished probe.
    plain: bool,
}

/// Whether live lines go to standard error: a terminal, not `--quiet`, not a dumb terminal.
pub fn wanted(quiet: bool) -> bool {
    !quiet
        && std::io::stderr().is_terminal()
        && std::env::var("TERM").map_or(true, |term| term != "dumb")
}

impl Progress {
    /// A line per probe of `plan` when [`wanted`], else nothing at all.
    pub fn new(plan: &Plan, enabled: bool, color: bool) -> Progress {
        if !enabled || plan.probes.is_empty() {
            return Progress {
                lines: None,
                color,
                plain: false,
            };
        }
        if !color {
            return Progress {
                lines: None,
                color,
                plain: true,
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
        let width = plan
            .probes
            .iter()
            .map(|probe| probe.kind.as_str().len())
            .max()
            .unwrap_or(0);
        let mut bars = HashMap::new();
        for probe in &plan.probes {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_message(format!("{:<width$}  {}", probe.kind.as_str(), probe.target));
            bar.enable_steady_tick(Duration::from_millis(100));
            bars.insert(probe.id.clone(), bar);
        }
        Progress {
            lines: Some((multi, bars)),
            color,
            plain: false,
        }
    }

    /// A probe finished: its line shows the verdict and the time.
    pub fn finished(&self, probe: &ProbeResult) {
        if self.plain {
            eprintln!("{}", self.line(probe));
            return;
        }
        let Some((_, bars)) = &self.lines else {
            return;
        };
        let Some(bar) = bars.get(&probe.id) else {
            return;
        };
        bar.set_style(
            ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.finish_with_message(self.line(probe));
    }

    /// A finished probe's line: its verdict (coloured when allowed), id and time.
    fn line(&self, probe: &ProbeResult) -> String {
        let (word, code) = match probe.status {
            Status::Pass => ("PASS", "32"),
            Status::Warn => ("WARN", "33"),
            Status::Fail => ("FAIL", "31"),
            Status::Skip => ("SKIP", "2"),
        };
        let word = if self.color {
            format!("\x1b[{code}m{word}\x1b[0m")
        } else {
            word.to_string()
        };
        format!(
            "{word}  {}  {} ms",
            probe.id.trim_end_matches('/'),
            probe.duration_ms
        )
    }

    /// The run ended: lines still spinning (interrupted, or never finished) stop where they
    /// are; every line stays on the terminal above the report.
    pub fn done(self) {
        if let Some((_, bars)) = self.lines {
            for bar in bars.values() {
                if !bar.is_finished() {
                    bar.abandon();
                }
            }
            // The cursor is left at the end of the last line: the report starts on its own.
            eprintln!();
        }
    }
}
