//! Live usage of a running workspace (`berth stats`, the Overview): CPU, memory against its
//! limit, processes and the size of its writable layer. CPU is a rate, so it needs two readings:
//! core keeps each workspace's last one and reports the CPU share since then. Measuring the
//! layer walks every file in it (80 ms for 20,000 files, in containerd), so a measured size is
//! reused for 50 times as long as measuring it took: the Overview, which reads every 2 s, costs
//! at most 2 % of a core however large `/data` grows, and a small layer's size stays current.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_runtime::Runtime;

use crate::model::{WorkspaceState, WorkspaceStats};
use crate::{Berth, Error, Result};

/// The last CPU reading per container id.
#[derive(Default)]
pub(crate) struct CpuReadings(Mutex<HashMap<String, (Instant, u64)>>);

impl CpuReadings {
    /// Records `cpu_nanos` read at `at`; returns the CPU share since the previous reading, in
    /// percent of one CPU (200 = two CPUs busy), when there was one.
    fn record(&self, id: &str, at: Instant, cpu_nanos: u64) -> Option<f64> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let before = map.insert(id.to_string(), (at, cpu_nanos));
        let (then, used) = before?;
        cpu_percent(then, used, at, cpu_nanos)
    }

    fn forget(&self, id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

/// The last measured layer size per container id: when it was measured, how long that took.
#[derive(Default)]
pub(crate) struct LayerSizes(Mutex<HashMap<String, Measured>>);

#[derive(Clone, Copy)]
struct Measured {
    bytes: Option<u64>,
    at: Instant,
    took: Duration,
}

/// How many times the measuring time a measured size is reused.
const REUSE_FACTOR: u32 = 50;

impl LayerSizes {
    /// The size measured for `id` that may still be reused at `now`.
    fn reusable(&self, id: &str, now: Instant) -> Option<Option<u64>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let m = map.get(id)?;
        (now.checked_duration_since(m.at)? < m.took * REUSE_FACTOR).then_some(m.bytes)
    }

    fn record(&self, id: &str, bytes: Option<u64>, at: Instant, took: Duration) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(id.to_string(), Measured { bytes, at, took });
    }

    fn forget(&self, id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

/// CPU time used between two readings as a share of the wall time between them.
fn cpu_percent(then: Instant, used_then: u64, now: Instant, used_now: u64) -> Option<f64> {
    let wall = now.checked_duration_since(then)?.as_nanos() as f64;
    // A restarted task starts counting again from zero: no rate across that.
    let used = used_now.checked_sub(used_then)? as f64;
    (wall > 0.0).then(|| used / wall * 100.0)
}

impl Berth {
    /// The running workspace's usage now. The CPU share is measured since the previous call
    /// for this workspace (`None` on the first).
    pub async fn stats(&self, bot: &str) -> Result<WorkspaceStats> {
        let info = self.info(bot).await?;
        if info.state != WorkspaceState::Running {
            return Err(Error::conflict(format!(
                "{bot}'s workspace is not running; start it first"
            )));
        }
        let id = info
            .container_id
            .unwrap_or_else(|| crate::container_id(bot));
        let rt = self.runtime()?;
        let u = rt.usage(&id).await.map_err(Error::from)?;
        let cpu_percent = self.inner.cpu.record(&id, Instant::now(), u.cpu_nanos);
        Ok(WorkspaceStats {
            cpu_percent,
            cpu_nanos: u.cpu_nanos,
            memory: u.memory,
            memory_limit: u.memory_limit,
            pids: u.pids,
            layer_bytes: self.layer_bytes(&*rt, &id).await?,
        })
    }

    /// Drops the readings of container `id`, which was deleted: a workspace created again
    /// under the same id is measured afresh, not shown its predecessor's layer size (reused
    /// for up to minutes when measuring it took seconds) or a CPU share against its counter.
    pub(crate) fn forget_stats(&self, id: &str) {
        self.inner.cpu.forget(id);
        self.inner.layer_sizes.forget(id);
    }

    /// The writable layer's size: measured again only once the last measurement may no longer
    /// be reused.
    async fn layer_bytes(&self, rt: &dyn Runtime, id: &str) -> Result<Option<u64>> {
        let sizes = &self.inner.layer_sizes;
        if let Some(bytes) = sizes.reusable(id, Instant::now()) {
            return Ok(bytes);
        }
        let t0 = Instant::now();
        let bytes = rt.layer_bytes(id).await.map_err(Error::from)?;
        sizes.record(id, bytes, t0, t0.elapsed());
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_cpu_share_is_the_time_used_over_the_time_passed() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(cpu_percent(t0, 0, t1, 1_000_000_000), Some(50.0));
        assert_eq!(cpu_percent(t0, 0, t1, 4_000_000_000), Some(200.0));
        assert_eq!(cpu_percent(t0, 5, t1, 1), None, "a restarted task");
        assert_eq!(cpu_percent(t0, 0, t0, 1), None, "no time passed");
        let r = CpuReadings::default();
        assert_eq!(r.record("w", t0, 100), None, "the first reading");
        assert_eq!(r.record("w", t1, 2_000_000_100), Some(100.0));
        assert_eq!(r.record("other", t1, 7), None);
    }

    #[test]
    fn a_layer_size_is_reused_for_fifty_times_its_measuring_time() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let s = LayerSizes::default();
        assert_eq!(s.reusable("w", t0), None, "never measured");
        // 80 ms to measure (20,000 files): reused for 4 s, two of the Overview's readings.
        s.record("w", Some(7), t0, ms(80));
        assert_eq!(s.reusable("w", t0 + ms(3999)), Some(Some(7)));
        assert_eq!(s.reusable("w", t0 + ms(4000)), None);
        assert_eq!(s.reusable("other", t0), None);
        // A small layer is measured at every reading.
        s.record("w", None, t0, ms(1));
        assert_eq!(s.reusable("w", t0 + ms(49)), Some(None));
        assert_eq!(s.reusable("w", t0 + ms(2000)), None);
    }

    #[test]
    fn a_forgotten_workspace_is_measured_afresh() {
        let t0 = Instant::now();
        let s = LayerSizes::default();
        s.record("w", Some(7), t0, Duration::from_secs(3));
        s.forget("w");
        assert_eq!(s.reusable("w", t0), None);
        let r = CpuReadings::default();
        r.record("w", t0, 5_000_000_000);
        r.forget("w");
        assert_eq!(
            r.record("w", t0 + Duration::from_secs(1), 6_000_000_000),
            None
        );
    }
}
