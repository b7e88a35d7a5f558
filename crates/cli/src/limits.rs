//! `berth limits BOT` and the limit options of `berth create`: memory (`2g`, `512m`, bytes),
//! CPUs (`1.5`) and processes, each also `default` to go back to the runtime's default.

use berth_core::model::{Limits, LimitsApply};
use berth_core::{Berth, Error};
use clap::Args;

/// Limit options, shared by `berth create` and `berth limits`.
#[derive(Args, Default)]
pub struct LimitArgs {
    /// Memory limit: bytes or with a unit (`512m`, `2g`), or `default` (half the host's memory).
    #[arg(long, value_parser = memory)]
    pub memory: Option<Setting<u64>>,
    /// CPU limit in CPUs (`1.5`), or `default` (no cap; a CPU weight below the host's).
    #[arg(long, value_parser = cpus)]
    pub cpus: Option<Setting<u32>>,
    /// Process and thread limit, or `default` (4096).
    #[arg(long, value_parser = pids)]
    pub pids: Option<Setting<u32>>,
}

/// A value given on the command line: a number, or back to the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting<T> {
    Value(T),
    Default,
}

impl LimitArgs {
    pub fn any(&self) -> bool {
        self.memory.is_some() || self.cpus.is_some() || self.pids.is_some()
    }

    /// `current` with the options given applied.
    pub fn apply(&self, current: Limits) -> Limits {
        fn pick<T: Copy>(s: Option<Setting<T>>, now: Option<T>) -> Option<T> {
            match s {
                None => now,
                Some(Setting::Default) => None,
                Some(Setting::Value(v)) => Some(v),
            }
        }
        Limits {
            memory: pick(self.memory, current.memory),
            cpu_millis: pick(self.cpus, current.cpu_millis),
            pids: pick(self.pids, current.pids),
        }
    }
}

/// `berth limits BOT [options] [--json]`: shows the limits, or changes them and says when the
/// change takes effect.
pub async fn run(berth: &Berth, bot: &str, args: &LimitArgs, json: bool) -> Result<i32, Error> {
    let mut limits = berth.info(bot).await?.limits;
    if args.any() {
        limits = args.apply(limits);
        let applies = berth.set_limits(bot, limits).await?;
        if !json {
            eprintln!(
                "{}",
                match applies {
                    LimitsApply::NextCreate => "the workspace gets them when it is created",
                    LimitsApply::NextStart => "they apply when the workspace starts",
                    LimitsApply::Recreate => "this backend fixes limits when it creates a workspace: they apply when it is created again (delete keeping the data, then create)",
                    LimitsApply::Restart => {
                        "the workspace runs on the old limits until it is restarted \
                         (berth stop BOT && berth start BOT)"
                    }
                }
            );
        }
    }
    if json {
        crate::print_json(&limits);
    } else {
        print!("{}", show(&limits));
    }
    Ok(0)
}

/// The limits as `berth limits` prints them.
pub fn show(l: &Limits) -> String {
    let memory = l
        .memory
        .map_or("default (half the host's memory)".into(), human_bytes);
    let cpus = l.cpu_millis.map_or("default (no cap)".into(), |c| {
        format!("{}", f64::from(c) / 1000.0)
    });
    let pids = l.pids.map_or("default (4096)".into(), |p| p.to_string());
    format!("memory:     {memory}\ncpus:       {cpus}\nprocesses:  {pids}\n")
}

fn human_bytes(b: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    if b.is_multiple_of(GIB) {
        format!("{} GiB", b / GIB)
    } else if b.is_multiple_of(MIB) {
        format!("{} MiB", b / MIB)
    } else {
        format!("{b} bytes")
    }
}

fn setting<T>(
    s: &str,
    parse: impl Fn(&str) -> Option<T>,
    what: &str,
) -> Result<Setting<T>, String> {
    if s == "default" {
        return Ok(Setting::Default);
    }
    parse(s)
        .map(Setting::Value)
        .ok_or_else(|| format!("{s:?} is not {what}"))
}

fn memory(s: &str) -> Result<Setting<u64>, String> {
    setting(
        s,
        |s| {
            let lower = s.to_ascii_lowercase();
            let t = lower.trim_end_matches("ib").trim_end_matches('b');
            let (digits, unit) = match t.char_indices().last()? {
                (i, 'k') => (&t[..i], 1u64 << 10),
                (i, 'm') => (&t[..i], 1 << 20),
                (i, 'g') => (&t[..i], 1 << 30),
                (i, 't') => (&t[..i], 1 << 40),
                _ => (t, 1),
            };
            digits.parse::<u64>().ok()?.checked_mul(unit)
        },
        "a size (like 512m or 2g)",
    )
}

fn cpus(s: &str) -> Result<Setting<u32>, String> {
    setting(
        s,
        |s| {
            let v: f64 = s.parse().ok()?;
            (v.is_finite() && v > 0.0 && v <= 4096.0).then(|| (v * 1000.0).round() as u32)
        },
        "a number of CPUs (like 1.5)",
    )
}

fn pids(s: &str) -> Result<Setting<u32>, String> {
    setting(s, |s| s.parse().ok(), "a number of processes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_cpus_and_defaults_parse() {
        assert_eq!(memory("2g"), Ok(Setting::Value(2 << 30)));
        assert_eq!(memory("512M"), Ok(Setting::Value(512 << 20)));
        assert_eq!(memory("1GiB"), Ok(Setting::Value(1 << 30)));
        assert_eq!(memory("4096"), Ok(Setting::Value(4096)));
        assert_eq!(memory("default"), Ok(Setting::Default));
        assert_eq!(cpus("1.5"), Ok(Setting::Value(1500)));
        assert_eq!(pids("2048"), Ok(Setting::Value(2048)));
        for bad in ["", "g", "2x", "-1g", "99999999999t"] {
            assert!(memory(bad).is_err(), "{bad:?}");
        }
        for bad in ["0", "-1", "nan", "inf", "x"] {
            assert!(cpus(bad).is_err(), "{bad:?}");
        }
        assert!(pids("-3").is_err());
    }

    #[test]
    fn options_change_only_what_they_name() {
        let now = Limits {
            memory: Some(1 << 30),
            cpu_millis: Some(500),
            pids: None,
        };
        let args = LimitArgs {
            memory: Some(Setting::Default),
            pids: Some(Setting::Value(100)),
            ..Default::default()
        };
        assert_eq!(
            args.apply(now),
            Limits {
                memory: None,
                cpu_millis: Some(500),
                pids: Some(100)
            }
        );
        assert!(show(&now).contains("memory:     1 GiB"));
    }
}
