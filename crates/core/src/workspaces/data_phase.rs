//! Progress of a create's data phases (`preserving`, `restoring`) as `dataTransfer` events: at
//! most ten a second, and the last report always, so the bar ends where the transfer did.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::data::DataProgress;
use crate::model::CreateEvent;

use super::Emit;

const EVERY: Duration = Duration::from_millis(100);

pub(super) struct DataPhase<'a> {
    emit: Emit<'a>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last_sent: Option<Instant>,
    unsent: Option<DataProgress>,
}

impl<'a> DataPhase<'a> {
    pub fn new(emit: Emit<'a>) -> Self {
        Self {
            emit,
            state: Mutex::default(),
        }
    }

    /// Sends `p` unless one was sent less than 100 ms ago (then keeps it for later).
    pub fn report(&self, p: DataProgress) {
        let mut s = self.state.lock().unwrap();
        if s.last_sent.is_some_and(|t| t.elapsed() < EVERY) {
            s.unsent = Some(p);
            return;
        }
        s.last_sent = Some(Instant::now());
        s.unsent = None;
        drop(s);
        (self.emit)(CreateEvent::DataTransfer(p));
    }

    /// Sends the last report if it was held back. Call when the transfer ended.
    pub fn finish(&self) {
        let unsent = self.state.lock().unwrap().unsent.take();
        if let Some(p) = unsent {
            (self.emit)(CreateEvent::DataTransfer(p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfers(events: &Mutex<Vec<CreateEvent>>) -> Vec<u64> {
        events
            .lock()
            .unwrap()
            .iter()
            .map(|e| match e {
                CreateEvent::DataTransfer(p) => p.done,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn reports_at_most_every_100_ms_and_always_the_last() {
        let events = Mutex::new(Vec::new());
        let emit = |e: CreateEvent| events.lock().unwrap().push(e);
        let phase = DataPhase::new(&emit);
        for done in 1..=50 {
            phase.report(DataProgress {
                archive: done,
                done,
                total: 50,
            });
        }
        assert_eq!(
            transfers(&events),
            vec![1],
            "a burst sends only its first report"
        );
        phase.finish();
        assert_eq!(
            transfers(&events),
            vec![1, 50],
            "the last report is sent at the end"
        );
        phase.finish();
        assert_eq!(transfers(&events), vec![1, 50], "nothing is sent twice");
        std::thread::sleep(EVERY);
        phase.report(DataProgress {
            archive: 60,
            done: 60,
            total: 60,
        });
        assert_eq!(
            transfers(&events),
            vec![1, 50, 60],
            "a report after the interval goes at once"
        );
    }
}
