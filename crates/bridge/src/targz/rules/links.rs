//! Where a symlink of the archive leads. Counting `..` against the link's depth is not enough:
//! with `a -> .`, the target `a/a/../../etc/passwd` looks inside but the kernel resolves each
//! `a` to the root, so the `..` climb out of it. The walk therefore follows the archive's own
//! symlinks as the kernel will, and reports the folders the target passes through before a
//! `..`, where a symlink declared later would change the result.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use super::{Node, Refusal};

/// Linux's limit on symlinks followed in one lookup (`MAXSYMLINKS`).
const MAX_HOPS: u32 = 40;

enum Step {
    Up,
    Down(OsString),
}

/// The steps of `target`, last first (a stack), or `None` for an absolute target.
fn steps(target: &Path) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    for c in target.components() {
        match c {
            Component::Normal(n) => out.push(Step::Down(n.to_os_string())),
            Component::ParentDir => out.push(Step::Up),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    out.reverse();
    Some(out)
}

/// Walks `target` from the directory of the symlink `link` (relative to the archive root)
/// through the symlinks declared so far. Refuses a target that leaves the root; otherwise
/// returns the folders it passes through before a `..`.
pub(super) fn walk(
    nodes: &HashMap<PathBuf, Node>,
    link: &Path,
    target: &Path,
) -> Result<Vec<PathBuf>, Refusal> {
    let outside = || Refusal::SymlinkOutside(target.to_path_buf());
    let mut todo = steps(target).ok_or_else(outside)?;
    let mut at = link.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut hops = 0;
    let mut passes = Vec::new();
    while let Some(step) = todo.pop() {
        match step {
            // `pop` fails only at the root (the empty path).
            Step::Up if !at.pop() => return Err(outside()),
            Step::Up => {}
            Step::Down(name) => {
                at.push(name);
                if let Some(Node::Symlink(next)) = nodes.get(&at) {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(Refusal::SymlinkLoop);
                    }
                    at.pop();
                    // Declared symlinks are relative (checked when declared).
                    todo.extend(steps(next).ok_or_else(outside)?);
                } else if todo.iter().any(|s| matches!(s, Step::Up)) {
                    passes.push(at.clone());
                }
            }
        }
    }
    Ok(passes)
}
