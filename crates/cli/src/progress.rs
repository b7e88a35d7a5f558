//! Create (and change-of-image) progress in a terminal: a total bar with bytes, speed and ETA, a
//! bar per layer, a line per phase and a bytes bar for the data phases (preserving, restoring).
//! Plain lines when stderr is not a terminal.

use std::collections::HashMap;
use std::sync::Mutex;

use berth_core::data::DataProgress;
use berth_core::model::{CreateEvent, LayerStatus};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct CreateView {
    multi: MultiProgress,
    state: Mutex<View>,
}

#[derive(Default)]
struct View {
    total: Option<ProgressBar>,
    layers: HashMap<String, ProgressBar>,
    phase: Option<ProgressBar>,
    /// The bytes of the running data phase.
    data: Option<ProgressBar>,
}

impl CreateView {
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            state: Mutex::default(),
        }
    }

    pub fn show(&self, event: CreateEvent) {
        let mut v = self.state.lock().unwrap();
        match event {
            CreateEvent::Resolving { image } => self.line(&format!("Resolving {image}")),
            CreateEvent::Pulling(p) => {
                let total = v.total.get_or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new(p.total_bytes));
                    bar.set_style(
                        ProgressStyle::with_template("pull  [{bar:30}] {percent:>3}% {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
                            .unwrap()
                            .progress_chars("=> "),
                    );
                    bar
                });
                total.set_length(p.total_bytes);
                total.set_position(p.done_bytes);
                for l in p.layers {
                    let bar = v.layers.entry(l.digest.clone()).or_insert_with(|| {
                        let bar = self.multi.add(ProgressBar::new(l.total));
                        bar.set_style(
                            ProgressStyle::with_template(
                                "  {prefix} [{bar:20}] {bytes:>10}/{total_bytes:<10} {msg}",
                            )
                            .unwrap()
                            .progress_chars("=> "),
                        );
                        bar.set_prefix(short(&l.digest));
                        bar
                    });
                    bar.set_position(l.done);
                    bar.set_message(match l.status {
                        LayerStatus::Waiting => "waiting",
                        LayerStatus::Downloading => "downloading",
                        LayerStatus::Done => "done",
                        LayerStatus::Exists => "exists",
                    });
                }
            }
            CreateEvent::Unpacking { layer, layers } => {
                let phase = v.phase.get_or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new(u64::from(layers)));
                    bar.set_style(
                        ProgressStyle::with_template("unpack [{bar:30}] layer {pos}/{len}")
                            .unwrap()
                            .progress_chars("=> "),
                    );
                    bar
                });
                phase.set_position(u64::from(layer));
            }
            CreateEvent::Preserving => self.data_phase(&mut v, "Keeping /data"),
            CreateEvent::RemovingOld => {
                Self::end_data(&mut v);
                self.line("Deleting the old workspace (its data is kept)")
            }
            CreateEvent::DataTransfer(p) => self.data_progress(&mut v, p),
            CreateEvent::Creating => self.line("Creating container"),
            CreateEvent::Starting => self.line("Starting"),
            CreateEvent::WaitingBridge => self.line("Waiting for the bridge"),
            CreateEvent::Restoring => self.data_phase(&mut v, "Restoring kept data"),
            CreateEvent::Complete { .. } | CreateEvent::Failed { .. } => {}
        }
    }

    fn data_phase(&self, v: &mut View, title: &str) {
        Self::end_data(v);
        self.line(title);
    }

    fn end_data(v: &mut View) {
        if let Some(bar) = v.data.take() {
            bar.abandon();
        }
    }

    /// Bytes of the known total with speed and ETA, else the bytes written so far.
    fn data_progress(&self, v: &mut View, p: DataProgress) {
        let bar = v.data.get_or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(p.total));
            let template = if p.total > 0 {
                "data  [{bar:30}] {percent:>3}% {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
            } else {
                "data  {bytes} {bytes_per_sec}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap()
                    .progress_chars("=> "),
            );
            bar
        });
        if p.total > 0 {
            bar.set_length(p.total);
            bar.set_position(p.done);
        } else {
            bar.set_position(p.archive);
        }
    }

    fn line(&self, s: &str) {
        let _ = self.multi.println(s);
    }

    pub fn finish(&self) {
        let v = self.state.lock().unwrap();
        for bar in v
            .total
            .iter()
            .chain(v.layers.values())
            .chain(v.phase.iter())
            .chain(v.data.iter())
        {
            bar.abandon();
        }
    }
}

fn short(digest: &str) -> String {
    digest
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect()
}
