//! Turns the runtime's pull events into what the user sees: per-layer rows, totals, speed and
//! time left, throttled so the UI gets at most ten updates a second.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_runtime::{OverallProgress, PullEvent, PullSink};

use crate::model::{CreateEvent, LayerProgress, LayerStatus, PullProgress};

const EMIT_EVERY: Duration = Duration::from_millis(100);
/// Speed is averaged over this window so the number does not jitter.
const SPEED_WINDOW: Duration = Duration::from_secs(3);

pub struct Aggregator<'a> {
    emit: &'a (dyn Fn(CreateEvent) + Send + Sync),
    state: Mutex<State>,
}

struct State {
    image: String,
    layers: Vec<LayerProgress>,
    samples: Vec<(Instant, u64)>,
    last_emit: Option<Instant>,
    /// Once unpacking began no pull snapshot may follow, so the
    /// phase shown never goes back.
    unpacking: bool,
    /// A layer the runtime unpacks while others still download: the unpacking phase is shown
    /// once the last download ends, from the layer being unpacked then.
    unpack_waiting: Option<(u32, u32)>,
    /// The backend's report of the whole pull, when it does not report layers.
    overall: Option<OverallProgress>,
}

/// Shown instead of the per-layer rows for a backend that reports the pull as a whole.
pub const LAYERS_UNAVAILABLE: &str =
    "this container backend reports the download as a whole, not per layer";

impl<'a> Aggregator<'a> {
    /// `layer_progress`: the backend reports layers ([`berth_runtime::Capabilities`]); without,
    /// every snapshot is of the whole pull and says why there are no layer rows.
    pub fn new(emit: &'a (dyn Fn(CreateEvent) + Send + Sync), layer_progress: bool) -> Self {
        let state = State {
            image: String::new(),
            layers: vec![],
            samples: vec![],
            last_emit: None,
            unpacking: false,
            unpack_waiting: None,
            overall: (!layer_progress).then(OverallProgress::default),
        };
        Self {
            emit,
            state: Mutex::new(state),
        }
    }
}

impl PullSink for Aggregator<'_> {
    fn event(&self, event: PullEvent) {
        let mut s = self.state.lock().unwrap();
        let force = match event {
            PullEvent::Resolved { image, layers } => {
                s.image = image;
                s.layers = layers
                    .into_iter()
                    .map(|(digest, total)| LayerProgress {
                        digest,
                        total,
                        done: 0,
                        status: LayerStatus::Waiting,
                    })
                    .collect();
                true
            }
            PullEvent::Downloading { digest, done } => {
                if let Some(l) = s.layers.iter_mut().find(|l| l.digest == digest) {
                    l.done = done.max(l.done).min(l.total);
                    l.status = LayerStatus::Downloading;
                }
                false
            }
            PullEvent::LayerDone { digest, existed } => {
                if let Some(l) = s.layers.iter_mut().find(|l| l.digest == digest) {
                    l.done = l.total;
                    l.status = if existed {
                        LayerStatus::Exists
                    } else {
                        LayerStatus::Done
                    };
                }
                if let Some((layer, layers)) = s.unpack_waiting {
                    if downloads_ended(&s) {
                        drop(s);
                        return self.event(PullEvent::Unpacking { layer, layers });
                    }
                }
                true
            }
            PullEvent::Overall(mut o) => {
                // `done` never goes back, whatever the backend printed.
                let before = s.overall.and_then(|p| p.done);
                o.done = o.done.max(before);
                o.percent = o.percent.map(|p| p.clamp(0.0, 100.0));
                s.overall = Some(o);
                false
            }
            PullEvent::Unpacking { layer, layers } => {
                if !s.unpacking && !downloads_ended(&s) {
                    s.unpack_waiting = Some((layer, layers));
                    return;
                }
                if !s.unpacking {
                    s.unpacking = true;
                    let snapshot = snapshot(&mut s);
                    (self.emit)(CreateEvent::Pulling(snapshot));
                }
                drop(s);
                (self.emit)(CreateEvent::Unpacking { layer, layers });
                return;
            }
        };
        if s.unpacking {
            return;
        }
        let now = Instant::now();
        if force || s.last_emit.is_none_or(|t| now - t >= EMIT_EVERY) {
            s.last_emit = Some(now);
            let snapshot = snapshot(&mut s);
            (self.emit)(CreateEvent::Pulling(snapshot));
        }
    }
}

/// Whether no layer is still waiting or downloading.
fn downloads_ended(s: &State) -> bool {
    s.layers
        .iter()
        .all(|l| matches!(l.status, LayerStatus::Done | LayerStatus::Exists))
}

fn snapshot(s: &mut State) -> PullProgress {
    if let Some(o) = s.overall {
        return overall_snapshot(s, o);
    }
    let total: u64 = s.layers.iter().map(|l| l.total).sum();
    // Layers that already existed took no time: they do not count towards speed.
    let fetched: u64 = s
        .layers
        .iter()
        .filter(|l| l.status != LayerStatus::Exists)
        .map(|l| l.done)
        .sum();
    let done: u64 = s.layers.iter().map(|l| l.done).sum();
    let speed = speed(s, fetched);
    let eta = (speed > 0).then(|| (total - done).div_ceil(speed));
    PullProgress {
        image: s.image.clone(),
        layers: s.layers.clone(),
        total_bytes: total,
        done_bytes: done,
        bytes_per_second: speed,
        eta_seconds: eta,
        percent: None,
        layers_unavailable: None,
    }
}

/// Bytes a second over the last [`SPEED_WINDOW`], `fetched` being the bytes fetched so far.
fn speed(s: &mut State, fetched: u64) -> u64 {
    let now = Instant::now();
    s.samples.push((now, fetched));
    s.samples.retain(|(t, _)| now - *t <= SPEED_WINDOW);
    let (t0, b0) = s.samples[0];
    let secs = (now - t0).as_secs_f64();
    if secs > 0.2 {
        (fetched.saturating_sub(b0) as f64 / secs) as u64
    } else {
        0
    }
}

/// A backend's whole-pull report: its own speed and time left when it gives them, else ours
/// from the bytes.
fn overall_snapshot(s: &mut State, o: OverallProgress) -> PullProgress {
    let done = o.done.unwrap_or(0);
    let total = o.total.unwrap_or(0).max(done);
    let speed = o.bytes_per_second.unwrap_or_else(|| speed(s, done));
    let eta = o
        .eta_seconds
        .or_else(|| (speed > 0 && total > 0).then(|| (total - done).div_ceil(speed)));
    PullProgress {
        image: s.image.clone(),
        layers: vec![],
        total_bytes: total,
        done_bytes: done,
        bytes_per_second: speed,
        eta_seconds: eta,
        percent: o.percent,
        layers_unavailable: Some(LAYERS_UNAVAILABLE.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_only_grow_and_nothing_follows_unpacking() {
        let events = Mutex::new(vec![]);
        let emit = |e: CreateEvent| events.lock().unwrap().push(e);
        let agg = Aggregator::new(&emit, true);
        agg.event(PullEvent::Resolved {
            image: "x".into(),
            layers: vec![("a".into(), 100), ("b".into(), 50)],
        });
        agg.event(PullEvent::LayerDone {
            digest: "b".into(),
            existed: true,
        });
        for done in [10, 60, 40, 100] {
            agg.event(PullEvent::Downloading {
                digest: "a".into(),
                done,
            });
        }
        agg.event(PullEvent::LayerDone {
            digest: "a".into(),
            existed: false,
        });
        agg.event(PullEvent::Unpacking {
            layer: 1,
            layers: 2,
        });
        agg.event(PullEvent::Downloading {
            digest: "a".into(),
            done: 100,
        });
        let events = events.into_inner().unwrap();
        let mut last = 0;
        let mut seen_unpack = false;
        for e in &events {
            match e {
                CreateEvent::Pulling(p) => {
                    assert!(!seen_unpack, "pull progress after unpacking began");
                    assert!(p.done_bytes >= last);
                    last = p.done_bytes;
                    assert_eq!(p.total_bytes, 150);
                }
                CreateEvent::Unpacking { .. } => seen_unpack = true,
                _ => {}
            }
        }
        assert_eq!(last, 150);
        let CreateEvent::Pulling(p) = &events[events.len() - 2] else {
            panic!()
        };
        assert_eq!(p.layers[0].status, LayerStatus::Done);
        assert_eq!(p.layers[1].status, LayerStatus::Exists);
    }

    /// What an aggregator of per-layer progress emits for `events`, one line each.
    fn shown(events: impl IntoIterator<Item = PullEvent>) -> Vec<String> {
        let out = Mutex::new(vec![]);
        let emit = |e: CreateEvent| out.lock().unwrap().push(e);
        let agg = Aggregator::new(&emit, true);
        events.into_iter().for_each(|e| agg.event(e));
        drop(agg);
        let out = out.into_inner().unwrap();
        out.iter()
            .map(|e| match e {
                CreateEvent::Pulling(p) => format!("pull {}", p.done_bytes),
                CreateEvent::Unpacking { layer, .. } => format!("unpack {layer}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// The runtime unpacks a layer while a later one still downloads: the download keeps being
    /// shown, and the unpacking phase begins with the last download, at the layer then unpacked.
    #[test]
    fn unpacking_during_the_download_is_shown_once_the_download_ends() {
        let fetched = |digest: &str| PullEvent::LayerDone {
            digest: digest.into(),
            existed: false,
        };
        let unpacking = |layer| PullEvent::Unpacking { layer, layers: 2 };
        let resolved = PullEvent::Resolved {
            image: "x".into(),
            layers: vec![("a".into(), 10), ("b".into(), 100)],
        };
        assert_eq!(
            shown([
                resolved,
                fetched("a"),
                unpacking(1),
                fetched("b"),
                unpacking(2)
            ]),
            ["pull 0", "pull 10", "pull 110", "unpack 1", "unpack 2"]
        );
    }

    #[test]
    fn a_whole_pull_report_never_goes_back_and_says_why_there_are_no_layers() {
        let events = Mutex::new(vec![]);
        let emit = |e: CreateEvent| events.lock().unwrap().push(e);
        let agg = Aggregator::new(&emit, false);
        agg.event(PullEvent::Resolved {
            image: "x".into(),
            layers: vec![],
        });
        let report = |done, percent| {
            PullEvent::Overall(OverallProgress {
                done: Some(done),
                total: Some(200),
                percent: Some(percent),
                bytes_per_second: Some(50),
                eta_seconds: None,
            })
        };
        agg.event(report(100, 50.0));
        agg.event(report(40, 120.0)); // a garbled line: bytes go back, percent out of range
        agg.event(PullEvent::Unpacking {
            layer: 1,
            layers: 1,
        });
        let events = events.into_inner().unwrap();
        let CreateEvent::Pulling(first) = &events[0] else {
            panic!("{events:?}")
        };
        assert!(
            first.layers_unavailable.is_some(),
            "said from the first snapshot"
        );
        let CreateEvent::Pulling(p) = &events[events.len() - 2] else {
            panic!("{events:?}")
        };
        assert_eq!((p.done_bytes, p.total_bytes), (100, 200));
        assert_eq!(p.percent, Some(100.0));
        assert_eq!(p.eta_seconds, Some(2), "(200 - 100) / 50");
        assert!(p.layers.is_empty());
        assert_eq!(p.layers_unavailable.as_deref(), Some(LAYERS_UNAVAILABLE));
    }
}
