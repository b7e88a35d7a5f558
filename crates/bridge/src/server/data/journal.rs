//! The merge journal in `/.berth-txn-<nonce>/`: the plan (which staging directory, which moves,
//! which of them overwrite an entry of `/data`, and for a replace done in place what is left
//! to do after the commit point), the backups of overwritten entries, and the `committed`
//! marker. The plan is written durably before the first move and the marker after the last, so
//! recovery can always tell whether to roll back or to finish.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::fsops;

const PLAN: &str = "plan";
const COMMITTED: &str = "committed";
const HEADER: &str = "berth-merge-plan 1";
/// A plan with steps after the commit point (older bridges refuse it rather than misread it).
const HEADER_2: &str = "berth-merge-plan 2";

/// One move of the staged entry `rel` into `/data/rel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub rel: PathBuf,
    /// `/data/rel` exists (a non-directory) and is moved into the journal as a backup first.
    pub overwrite: bool,
}

/// What a merge is about to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The staging directory's name in the root.
    pub staging: OsString,
    pub moves: Vec<Move>,
    /// After the commit point, in this order (a replace done in place; empty for a merge):
    /// directories present on both sides take the staged one's mode and owner,
    pub meta: Vec<PathBuf>,
    /// entries of `/data` the archive does not have are removed,
    pub deletes: Vec<PathBuf>,
    /// and directories of `/data` where the archive has a non-directory are removed and the
    /// staged entry moved in.
    pub deferred: Vec<PathBuf>,
}

/// A merge's moves make its whole plan.
impl From<Vec<Move>> for Plan {
    fn from(moves: Vec<Move>) -> Self {
        Plan {
            moves,
            ..Plan::default()
        }
    }
}

impl Plan {
    /// Whether anything is left to do after the commit point.
    pub fn has_completion(&self) -> bool {
        !(self.meta.is_empty() && self.deletes.is_empty() && self.deferred.is_empty())
    }
}

/// Where the backup of move `i` lives: flat names, so no directories have to be created.
pub fn backup(txn: &Path, i: usize) -> PathBuf {
    txn.join(format!("backup-{i}"))
}

/// Hex keeps every byte of a name (newlines, non-UTF-8) on one line of the plan.
fn encode(plan: &Plan) -> Vec<u8> {
    let header = if plan.has_completion() {
        HEADER_2
    } else {
        HEADER
    };
    let mut s = format!(
        "{header}\nstaging {}\n",
        hex::encode(plan.staging.as_bytes())
    );
    let mut line = |tag: char, rel: &Path| {
        s.push_str(&format!(
            "{tag} {}\n",
            hex::encode(rel.as_os_str().as_bytes())
        ));
    };
    for m in &plan.moves {
        line(if m.overwrite { 'o' } else { 'n' }, &m.rel);
    }
    for (tag, list) in [
        ('m', &plan.meta),
        ('d', &plan.deletes),
        ('f', &plan.deferred),
    ] {
        for rel in list {
            line(tag, rel);
        }
    }
    s.into_bytes()
}

fn decode(text: &str) -> io::Result<Plan> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("merge plan: {why}"));
    let unhex = |h: &str| hex::decode(h).map_err(|_| bad("bad hex"));
    let mut lines = text.lines();
    if !matches!(lines.next(), Some(HEADER | HEADER_2)) {
        return Err(bad("unknown format"));
    }
    let staging = lines
        .next()
        .and_then(|l| l.strip_prefix("staging "))
        .ok_or_else(|| bad("no staging line"))?;
    let staging = OsString::from_vec(unhex(staging)?);
    let mut plan = Plan {
        staging,
        ..Plan::default()
    };
    for l in lines {
        let (tag, h) = l.split_once(' ').ok_or_else(|| bad("bad move line"))?;
        let rel = PathBuf::from(OsString::from_vec(unhex(h)?));
        match tag {
            "o" | "n" => plan.moves.push(Move {
                rel,
                overwrite: tag == "o",
            }),
            "m" => plan.meta.push(rel),
            "d" => plan.deletes.push(rel),
            "f" => plan.deferred.push(rel),
            _ => return Err(bad("unknown step")),
        }
    }
    Ok(plan)
}

/// Writes the plan durably (temporary file, fsync, rename, fsync of the journal directory).
pub fn write_plan(txn: &Path, plan: &Plan) -> io::Result<()> {
    fsops::write_durable(txn, PLAN, &encode(plan))
}

/// The plan, or `None` when the journal died before its plan was complete (nothing moved yet).
pub fn read_plan(txn: &Path) -> io::Result<Option<Plan>> {
    match fs::read_to_string(txn.join(PLAN)) {
        Ok(t) => decode(&t).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The commit point: from here on recovery finishes the merge instead of rolling it back.
pub fn mark_committed(txn: &Path) -> io::Result<()> {
    fsops::write_durable(txn, COMMITTED, b"")
}

pub fn is_committed(txn: &Path) -> io::Result<bool> {
    fsops::exists(&txn.join(COMMITTED))
}

/// Removes a journal; the marker goes last, so a crash half-way still reads as committed.
pub fn remove(txn: &Path) -> io::Result<()> {
    if !fsops::exists(txn)? {
        return Ok(());
    }
    for e in fs::read_dir(txn)? {
        let e = e?;
        if e.file_name() != COMMITTED {
            fsops::remove_tree(&e.path())?;
        }
    }
    fsops::remove_tree(&txn.join(COMMITTED))?;
    fsops::remove_tree(txn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_round_trips_awkward_names() {
        let plan = Plan {
            staging: ".berth-import-1".into(),
            moves: vec![
                Move {
                    rel: PathBuf::from(OsString::from_vec(b"a\nb/\xff c".to_vec())),
                    overwrite: true,
                },
                Move {
                    rel: "x".into(),
                    overwrite: false,
                },
            ],
            ..Plan::default()
        };
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_plan(d.path()).unwrap(), None);
        write_plan(d.path(), &plan).unwrap();
        assert_eq!(read_plan(d.path()).unwrap(), Some(plan));
        assert!(!is_committed(d.path()).unwrap());
        mark_committed(d.path()).unwrap();
        assert!(is_committed(d.path()).unwrap());
        remove(d.path()).unwrap();
        assert!(!d.path().exists());

        let in_place = Plan {
            staging: "s".into(),
            moves: vec![],
            meta: vec!["a".into()],
            deletes: vec!["b/c".into()],
            deferred: vec![PathBuf::from(OsString::from_vec(b"\n".to_vec()))],
        };
        let d = tempfile::tempdir().unwrap();
        write_plan(d.path(), &in_place).unwrap();
        assert_eq!(read_plan(d.path()).unwrap(), Some(in_place));
    }
}
