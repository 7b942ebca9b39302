//! Progress of an apply, for people: the plain lines of logs and CI, or a live view on a terminal.
//!
//! The engine reports each operation as an [`Event`] to an [`Observer`]. [`PlainLines`] writes one
//! line per event (what logs and CI show); [`LiveView`] keeps one line per running operation with
//! its elapsed time and a total bar, and prints each finished operation above them.
//!
//! The engine's `apply_observed` sends the events; `apply_with` wraps its writer in [`PlainLines`].
//! [`LiveView`] also takes plain lines as a writer (printed above the bars), for output that is not
//! an operation's.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::plan::{Operation, Plan};

/// One operation of an apply, as it starts or ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An operation started.
    Started {
        /// The stack.
        stack: String,
        /// The resource's URN (identifies the operation until it ends).
        urn: String,
        /// `Kind name` (`Bucket models`).
        label: String,
        /// What is done to it.
        operation: Operation,
    },
    /// An operation ended.
    Finished {
        /// The stack.
        stack: String,
        /// The resource's URN.
        urn: String,
        /// `Kind name`.
        label: String,
        /// What was done to it.
        operation: Operation,
        /// How long it took.
        elapsed: Duration,
        /// How it ended.
        outcome: Outcome,
    },
    /// Something worth a line that is not one operation (a replaced resource kept or deleted, an
    /// operation that turned out smaller than planned).
    Note(String),
}

impl Event {
    /// The event of `step` starting.
    pub fn started(step: &crate::plan::Step) -> Self {
        Event::Started {
            stack: step.stack.clone(),
            urn: step.urn.clone(),
            label: step.label(),
            operation: step.operation,
        }
    }

    /// The event of `step` ending as `operation` (what was done, which may be less than planned).
    pub fn finished(step: &crate::plan::Step, operation: Operation, elapsed: Duration, outcome: Outcome) -> Self {
        Event::Finished {
            stack: step.stack.clone(),
            urn: step.urn.clone(),
            label: step.label(),
            operation,
            elapsed,
            outcome,
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Done,
    /// It failed, and why.
    Failed(String),
    /// It was not tried, and why (something it needs failed).
    Skipped(String),
}

/// Receives an apply's events (`Engine::apply_observed`): `Started` where an operation starts,
/// `Finished` where it ends (done, failed or skipped), `Note` for the other lines.
pub trait Observer: Send {
    /// Called for every event, in the order they happen.
    fn observe(&mut self, event: &Event);
}

/// Writes one plain line per event, as logs and CI show them:
/// `dev  + Bucket models  creating...`, then `dev  + Bucket models  created (1.2s)`.
#[derive(Debug)]
pub struct PlainLines<W>(pub W);

impl<W: Write + Send> Observer for PlainLines<W> {
    fn observe(&mut self, event: &Event) {
        let _ = writeln!(self.0, "{}", plain_line(event));
    }
}

/// The plain line of `event`.
pub fn plain_line(event: &Event) -> String {
    match event {
        Event::Started {
            stack,
            label,
            operation,
            ..
        } => format!("{stack}  {} {label}  {}...", operation.symbol(), operation.doing()),
        Event::Finished {
            stack,
            label,
            operation,
            elapsed,
            outcome,
            ..
        } => {
            let how = match outcome {
                Outcome::Done => format!("{} ({:.1}s)", operation.done(), elapsed.as_secs_f64()),
                Outcome::Failed(reason) => format!("failed: {reason}"),
                Outcome::Skipped(reason) => format!("skipped: {reason}"),
            };
            format!("{stack}  {} {label}  {how}", operation.symbol())
        }
        Event::Note(line) => line.clone(),
    }
}

/// The live view of an apply on a terminal: one line per running operation with its elapsed time,
/// and a bar of all operations; finished operations scroll above them as plain lines.
#[derive(Debug)]
pub struct LiveView {
    bars: MultiProgress,
    total: ProgressBar,
    running: BTreeMap<String, ProgressBar>,
    pending: Vec<u8>,
    counting: bool,
}

impl LiveView {
    /// A live view on stdout for the operations of `plan`.
    pub fn for_plan(plan: &Plan) -> Self {
        let operations = plan.steps.iter().filter(|s| s.operation != Operation::Same).count() + plan.leftovers.len();
        Self::new(operations as u64, ProgressDrawTarget::stdout())
    }

    /// A live view of `operations` operations drawn to `target` (hidden in tests).
    pub fn new(operations: u64, target: ProgressDrawTarget) -> Self {
        let bars = MultiProgress::with_draw_target(target);
        let total = bars.add(ProgressBar::new(operations));
        // Until the first event, the total shows the time that passes, not a count it cannot know.
        total.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} applying {len} operation(s)")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        total.enable_steady_tick(Duration::from_millis(200));
        Self {
            bars,
            total,
            running: BTreeMap::new(),
            pending: Vec::new(),
            counting: false,
        }
    }

    /// Switches the total to a bar once events say how far the apply is.
    fn count(&mut self) {
        if !self.counting {
            self.counting = true;
            self.total.set_style(
                ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} operations")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
        }
    }

    /// How many operations have ended.
    pub fn finished(&self) -> u64 {
        self.total.position()
    }

    /// The operations running now (their URNs).
    pub fn running(&self) -> Vec<&str> {
        self.running.keys().map(String::as_str).collect()
    }

    /// Clears the bars, leaving the finished lines on the terminal.
    pub fn finish(mut self) {
        let _ = self.flush();
        for (_, bar) in std::mem::take(&mut self.running) {
            bar.finish_and_clear();
        }
        self.total.finish_and_clear();
    }

    fn print(&self, line: &str) {
        // Hidden targets print nothing; a terminal gets the line above the bars.
        let _ = self.bars.println(line);
    }
}

impl Observer for LiveView {
    fn observe(&mut self, event: &Event) {
        self.count();
        match event {
            Event::Started {
                stack,
                urn,
                label,
                operation,
            } => {
                let bar = self.bars.insert_before(&self.total, ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(format!(
                    "{stack}  {} {label}  {}",
                    operation.symbol(),
                    operation.doing()
                ));
                bar.enable_steady_tick(Duration::from_millis(120));
                self.running.insert(urn.clone(), bar);
            }
            Event::Finished { urn, .. } => {
                if let Some(bar) = self.running.remove(urn) {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
                self.total.inc(1);
                self.print(&plain_line(event));
            }
            Event::Note(line) => self.print(line),
        }
    }
}

/// Plain lines that are not events: each whole line is printed above the bars.
impl Write for LiveView {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            self.print(&text);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
            self.print(&text);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(urn: &str) -> Event {
        Event::Started {
            stack: "dev".into(),
            urn: urn.into(),
            label: format!("Bucket {urn}"),
            operation: Operation::Create,
        }
    }

    fn finished(urn: &str, outcome: Outcome) -> Event {
        Event::Finished {
            stack: "dev".into(),
            urn: urn.into(),
            label: format!("Bucket {urn}"),
            operation: Operation::Create,
            elapsed: Duration::from_millis(1234),
            outcome,
        }
    }

    #[test]
    fn the_live_view_keeps_one_line_per_running_operation_and_counts_the_finished() {
        let mut view = LiveView::new(3, ProgressDrawTarget::hidden());
        view.observe(&started("a"));
        view.observe(&started("b"));
        assert_eq!(view.running(), vec!["a", "b"]);
        view.observe(&finished("a", Outcome::Done));
        assert_eq!(view.running(), vec!["b"]);
        assert_eq!(view.finished(), 1);
        view.observe(&finished("b", Outcome::Failed("AccessDenied".into())));
        view.observe(&finished("c", Outcome::Skipped("b failed".into())));
        assert!(view.running().is_empty());
        assert_eq!(view.finished(), 3);
        view.finish();
    }

    #[test]
    fn plain_lines_read_as_the_logs_show_them() {
        let mut out = PlainLines(Vec::new());
        out.observe(&started("models"));
        out.observe(&finished("models", Outcome::Done));
        out.observe(&finished("logs", Outcome::Failed("AccessDenied: no".into())));
        let text = String::from_utf8(out.0).expect("utf-8");
        let expected = format!(
            "dev  + Bucket models  {}...\ndev  + Bucket models  {} (1.2s)\ndev  + Bucket logs  failed: AccessDenied: no\n",
            Operation::Create.doing(),
            Operation::Create.done()
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn the_live_view_takes_whole_lines_as_a_writer() {
        let mut view = LiveView::new(1, ProgressDrawTarget::hidden());
        write!(view, "dev  + Bucket models  crea").expect("write");
        assert!(!view.pending.is_empty());
        writeln!(view, "ting...").expect("write");
        assert!(view.pending.is_empty());
        view.finish();
    }
}
