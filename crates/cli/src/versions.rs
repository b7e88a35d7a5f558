//! `berth snapshot`, `berth versions [rm|rename|changes]`, `berth rollback`: thin calls into
//! core's versions.

use berth_core::versions::{VersionChangeKind, VersionList};
use berth_core::{Berth, Error};
use clap::Subcommand;

use crate::escape::escape;

#[derive(Subcommand)]
pub enum VersionsCmd {
    /// Delete a version (refused, with the reason, when others build on it).
    Rm { bot: String, version: u32 },
    /// Name a version (an empty name clears it).
    Rename {
        bot: String,
        version: u32,
        name: String,
    },
    /// How new versions are kept: `snapshot` (the backend's snapshots of the whole container,
    /// where it has them) or `archive` (archives of /data, on any backend). Without a value,
    /// shows the current choice.
    Mode {
        #[arg(value_parser = ["snapshot", "archive"])]
        mode: Option<String>,
    },
    /// Files added, modified and deleted since a version.
    Changes {
        bot: String,
        version: u32,
        #[arg(long)]
        json: bool,
    },
}

pub async fn snapshot(berth: &Berth, bot: &str, name: Option<&str>) -> Result<i32, Error> {
    let v = berth.snapshot(bot, name).await?;
    println!("{}", v.version);
    Ok(0)
}

pub async fn rollback(berth: &Berth, bot: &str, version: u32, no_save: bool) -> Result<i32, Error> {
    let r = berth.rollback(bot, version, !no_save).await?;
    match r.saved {
        Some(n) => println!("rolled back to v{version}; the previous state was saved as v{n}"),
        None if no_save => println!("rolled back to v{version}; the previous state was discarded"),
        None => {
            println!("rolled back to v{version}; nothing had changed since the current version")
        }
    }
    Ok(0)
}

pub async fn list(berth: &Berth, bot: &str, json: bool) -> Result<i32, Error> {
    let list = berth.versions(bot).await?;
    if json {
        crate::print_json(&list.versions);
        return Ok(0);
    }
    print_table(&list);
    Ok(0)
}

fn print_table(list: &VersionList) {
    if !list.available {
        println!(
            "versions are not available: {}",
            list.unavailable_reason
                .as_deref()
                .unwrap_or("unsupported backend")
        );
        return;
    }
    if let Some(note) = &list.only_data {
        println!("{note}");
    }
    println!(
        "{:<3} {:<8} {:<32} {:<16} {:<24} {:>10}  PARENT",
        "", "VERSION", "NAME", "SOURCE", "CREATED", "SIZE"
    );
    for v in &list.versions {
        let mark = if v.current {
            "*"
        } else if v.missing {
            "!"
        } else {
            ""
        };
        let source = match v.source {
            berth_core::versions::VersionSource::Manual => "manual",
            berth_core::versions::VersionSource::BeforeRollback => "before-rollback",
            berth_core::versions::VersionSource::Adopted => "adopted",
        };
        let size = v.size.map_or("-".to_string(), human);
        let parent = v.parent.map_or("image".to_string(), |p| format!("v{p}"));
        let missing = match (v.missing, list.only_data.is_some()) {
            (false, _) => "",
            (true, true) => " (archive missing)",
            (true, false) => " (snapshot missing)",
        };
        println!(
            "{mark:<3} v{:<7} {:<32} {source:<16} {:<24} {size:>10}  {parent}{missing}",
            v.version, v.display_name, v.created_at
        );
    }
    if list.versions.is_empty() {
        println!("(no versions yet: `berth snapshot BOT` saves one)");
    }
}

pub async fn run(berth: &Berth, cmd: VersionsCmd) -> Result<i32, Error> {
    match cmd {
        VersionsCmd::Rm { bot, version } => {
            berth.delete_version(&bot, version).await?;
            println!("deleted v{version}");
        }
        VersionsCmd::Rename { bot, version, name } => {
            let v = berth.rename_version(&bot, version, Some(&name)).await?;
            println!("v{} is {}", v.version, v.display_name);
        }
        VersionsCmd::Mode { mode } => {
            let mut s = berth.settings()?;
            if let Some(m) = mode {
                s.archive_versions = m == "archive";
                s = berth.set_settings(s).await?;
            }
            println!(
                "{}",
                if s.archive_versions {
                    "archive: new versions are archives of /data"
                } else {
                    "snapshot: new versions are snapshots of the container where the backend has them (else archives of /data)"
                }
            );
        }
        VersionsCmd::Changes { bot, version, json } => {
            let c = berth.version_changes(&bot, version).await?;
            if json {
                crate::print_json(&c);
            } else {
                for ch in &c.changes {
                    let k = match ch.kind {
                        VersionChangeKind::Added => "A",
                        VersionChangeKind::Modified => "M",
                        VersionChangeKind::Deleted => "D",
                    };
                    println!(
                        "{k} {}{}",
                        escape(&ch.path),
                        if ch.is_dir { "/" } else { "" }
                    );
                }
                if c.truncated {
                    println!("(list cut at {} paths)", c.changes.len());
                }
            }
        }
    }
    Ok(0)
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
