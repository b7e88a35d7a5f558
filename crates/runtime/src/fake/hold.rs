//! Holding a fake operation at a chosen point: the test arms a [`Hold`], awaits
//! [`Hold::reached`] (no sleep: the operation signals when it gets there), does whatever it
//! wants to interleave, then [`Hold::release`]s it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::Op;

/// Where an operation can be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Point {
    /// When the call arrives, before it does anything (or fails as scripted).
    Before(Op),
    /// `ensure_image`, after the layers were resolved and the first bytes reported.
    Downloading,
    /// `ensure_image`, after unpacking was reported and before the image is complete.
    Unpacking,
}

/// A test's handle on one armed hold. Dropping it releases the operation.
pub struct Hold {
    point: Point,
    reached: Option<oneshot::Receiver<()>>,
    was_reached: Arc<AtomicBool>,
    release: Option<oneshot::Sender<()>>,
}

impl Hold {
    /// Waits until an operation is held at this point.
    pub async fn reached(&mut self) {
        if let Some(rx) = self.reached.take() {
            rx.await
                .unwrap_or_else(|_| panic!("the fake runtime went away before {:?}", self.point));
        }
    }

    /// Whether an operation got here (without waiting).
    pub fn is_reached(&self) -> bool {
        self.was_reached.load(Ordering::SeqCst)
    }

    /// Lets the held operation go on.
    pub fn release(mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
    }
}

/// The operation's side of a hold.
struct Gate {
    point: Point,
    reached: oneshot::Sender<()>,
    was_reached: Arc<AtomicBool>,
    release: oneshot::Receiver<()>,
}

/// Armed holds, each catching the first operation that reaches its point.
#[derive(Default)]
pub(super) struct Gates(Mutex<Vec<Gate>>);

impl Gates {
    pub fn arm(&self, point: Point) -> Hold {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        let was_reached = Arc::new(AtomicBool::new(false));
        self.0.lock().unwrap().push(Gate {
            point,
            reached: reached_tx,
            was_reached: was_reached.clone(),
            release: release_rx,
        });
        Hold {
            point,
            reached: Some(reached_rx),
            was_reached,
            release: Some(release_tx),
        }
    }

    /// Stops here while a hold for `point` is armed; returns when the test releases it (or
    /// drops its handle). Not armed: returns at once.
    pub async fn pass(&self, point: Point) {
        let gate = {
            let mut gates = self.0.lock().unwrap();
            let Some(i) = gates.iter().position(|g| g.point == point) else {
                return;
            };
            gates.remove(i)
        };
        gate.was_reached.store(true, Ordering::SeqCst);
        let _ = gate.reached.send(());
        let _ = gate.release.await;
    }
}
