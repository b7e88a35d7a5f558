//! The rules every entry of an untrusted archive must pass, in one place. The host's validation
//! before an import (`berth-core` `data/validate.rs`) and the extractor (`consume.rs`: the
//! Files service's extract, the Data import's staging, the host's folder downloads) both ask
//! [`Declared::check`] about each entry in archive order and stop at the first [`Refused`], so
//! they cannot disagree about an archive.
//!
//! The check is pure: it sees an entry's kind, raw name, link target and size and what the
//! archive declared before it, never the file system. It refuses absolute names, `..`,
//! components over 255 bytes, paths over 4095, a root that is not a directory, duplicates,
//! entries through a symlink or a file of the archive, a non-directory over a directory of the
//! archive, symlinks that lead outside (following the archive's own symlinks, as the kernel
//! will), hard links to anything but an earlier file of the archive, devices, FIFOs and every
//! other special type, and files beyond the expanded-size limit.

mod links;
mod refusal;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

pub use refusal::{refusal, Refusal, Refused};

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    HardLink,
    CharDevice,
    BlockDevice,
    Fifo,
    /// Any other tar type, by its type byte (GNU sparse files, volume labels, ...).
    Other(u8),
}

impl Kind {
    /// The kind of a tar entry; `None` for the metadata entries (PAX headers, GNU long names)
    /// that the tar reader consumes on its own.
    pub fn of_tar(t: tar::EntryType) -> Option<Kind> {
        use tar::EntryType as T;
        Some(match t {
            T::Directory => Kind::Dir,
            T::Regular | T::Continuous => Kind::File,
            T::Symlink => Kind::Symlink,
            T::Link => Kind::HardLink,
            T::Char => Kind::CharDevice,
            T::Block => Kind::BlockDevice,
            T::Fifo => Kind::Fifo,
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => return None,
            other => Kind::Other(other.as_byte()),
        })
    }
}

/// One archive entry as the rules see it: names as raw bytes, exactly as the archive spells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub name: Vec<u8>,
    /// The target of a symlink or hard link.
    pub link: Option<Vec<u8>>,
    /// The size of a regular file's data.
    pub size: u64,
}

impl Entry {
    /// The entry of a tar stream; `None` for a metadata entry.
    pub fn of_tar<R: Read>(e: &tar::Entry<R>) -> Option<Entry> {
        Some(Entry {
            kind: Kind::of_tar(e.header().entry_type())?,
            name: e.path_bytes().into_owned(),
            link: e.link_name_bytes().map(|b| b.into_owned()),
            size: e.size(),
        })
    }

    /// The name as a path, for messages and the caller's own use.
    pub fn path(&self) -> PathBuf {
        bytes_path(&self.name)
    }
}

fn bytes_path(b: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(b.to_vec()))
}

/// What the archive declared at a path so far.
#[derive(Debug)]
enum Node {
    /// An ancestor of an entry, not (yet) an entry itself: a directory the extractor creates.
    Parent,
    Dir,
    /// A regular file or a hard link to one: a valid hard-link target.
    File,
    Symlink(PathBuf),
}

/// An entry the rules accept, ready to be recorded with [`Declared::declare`] once the caller
/// has acted on it.
#[derive(Debug)]
pub struct Accepted {
    /// The path relative to the archive root (`.` components dropped); empty for the root.
    pub rel: PathBuf,
    pub kind: Kind,
    size: u64,
    /// A symlink's target as stored, or a hard link's target relative to the archive root.
    link: Option<PathBuf>,
    /// Folders this symlink's target passes through before a `..`.
    passes: Vec<PathBuf>,
}

impl Accepted {
    /// A file's size, as declared.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The symlink's target as stored, or the hard link's target relative to the archive root.
    pub fn link(&self) -> Option<&Path> {
        self.link.as_deref()
    }
}

/// The most entries an archive may have. What an archive declared is kept in memory (to check
/// later entries against it) on the host and in the bridge, so the count is bounded; a million
/// is far more than a bot's `/data` usually holds.
pub const MAX_ENTRIES: usize = 1_000_000;

/// What an archive has declared so far, and its expanded-size limit.
#[derive(Debug, Default)]
pub struct Declared {
    nodes: HashMap<PathBuf, Node>,
    /// Folders an earlier symlink's target passes through before a `..`, with that link: a
    /// symlink declared there later would move where the `..` leads.
    passed: HashMap<PathBuf, PathBuf>,
    bytes: u64,
    limit: Option<u64>,
}

impl Declared {
    /// `limit`: the most bytes the archive's files may add up to.
    pub fn new(limit: Option<u64>) -> Self {
        Declared {
            limit,
            ..Declared::default()
        }
    }

    /// The sum of the accepted files' sizes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The verdict on the next entry of the archive, given everything declared before it.
    pub fn check(&self, e: &Entry) -> Result<Accepted, Refused> {
        let refuse = |why| Refused {
            entry: e.path(),
            why,
        };
        if self.nodes.len() >= MAX_ENTRIES {
            return Err(refuse(Refusal::TooManyEntries));
        }
        let rel = relative(&e.path()).map_err(refuse)?;
        let mut ok = Accepted {
            rel,
            kind: e.kind,
            size: 0,
            link: None,
            passes: Vec::new(),
        };
        if ok.rel.as_os_str().is_empty() {
            return match e.kind {
                Kind::Dir => Ok(ok),
                _ => Err(refuse(Refusal::RootNotDir)),
            };
        }
        self.ancestors_are_dirs(&ok.rel).map_err(refuse)?;
        let is_parent = match self.nodes.get(&ok.rel) {
            Some(Node::Parent) => true,
            Some(_) => return Err(refuse(Refusal::Duplicate)),
            None => false,
        };
        let not_over_a_dir = || match is_parent {
            true => Err(refuse(Refusal::ReplacesDir(e.kind))),
            false => Ok(()),
        };
        match e.kind {
            Kind::Dir => {}
            Kind::File => {
                not_over_a_dir()?;
                self.within_limit(e.size).map_err(refuse)?;
                ok.size = e.size;
            }
            Kind::Symlink => {
                let target = e
                    .link
                    .as_deref()
                    .ok_or_else(|| refuse(Refusal::SymlinkNoTarget))?;
                let target = bytes_path(target);
                ok.passes = links::walk(&self.nodes, &ok.rel, &target).map_err(refuse)?;
                not_over_a_dir()?;
                if let Some(earlier) = self.passed.get(&ok.rel) {
                    return Err(refuse(Refusal::RedirectsLink(earlier.clone())));
                }
                ok.link = Some(target);
            }
            Kind::HardLink => {
                let target = e
                    .link
                    .as_deref()
                    .ok_or_else(|| refuse(Refusal::HardLinkNoTarget))?;
                ok.link = Some(self.hard_link_target(&bytes_path(target)).map_err(refuse)?);
                not_over_a_dir()?;
            }
            Kind::CharDevice | Kind::BlockDevice => return Err(refuse(Refusal::Device)),
            Kind::Fifo => return Err(refuse(Refusal::Fifo)),
            Kind::Other(t) => return Err(refuse(Refusal::Unsupported(t))),
        }
        Ok(ok)
    }

    /// Records an accepted entry: later entries are checked against it.
    pub fn declare(&mut self, ok: Accepted) {
        if ok.rel.as_os_str().is_empty() {
            return;
        }
        // Every path in `nodes` has its ancestors there too, so the walk up stops at the first.
        let mut up = ok.rel.parent();
        while let Some(p) = up.filter(|p| !p.as_os_str().is_empty()) {
            if self.nodes.contains_key(p) {
                break;
            }
            self.nodes.insert(p.to_path_buf(), Node::Parent);
            up = p.parent();
        }
        for p in ok.passes {
            self.passed.entry(p).or_insert_with(|| ok.rel.clone());
        }
        self.bytes = self.bytes.saturating_add(ok.size);
        let node = match (ok.kind, ok.link) {
            (Kind::Symlink, Some(target)) => Node::Symlink(target),
            (Kind::Dir, _) => Node::Dir,
            _ => Node::File,
        };
        self.nodes.insert(ok.rel, node);
    }

    /// Checks and, when accepted, declares.
    pub fn admit(&mut self, e: &Entry) -> Result<(), Refused> {
        let ok = self.check(e)?;
        self.declare(ok);
        Ok(())
    }

    /// Every ancestor is (or will be created as) a directory: not a symlink, not a file.
    fn ancestors_are_dirs(&self, rel: &Path) -> Result<(), Refusal> {
        let mut up = rel.parent();
        while let Some(p) = up.filter(|p| !p.as_os_str().is_empty()) {
            match self.nodes.get(p) {
                Some(Node::Symlink(_)) => return Err(Refusal::ThroughSymlink),
                Some(Node::File) => return Err(Refusal::ThroughFile),
                // A directory's ancestors were checked when it was declared.
                Some(Node::Dir | Node::Parent) => return Ok(()),
                None => up = p.parent(),
            }
        }
        Ok(())
    }

    fn within_limit(&self, size: u64) -> Result<(), Refusal> {
        match self.limit {
            Some(limit) if self.bytes.saturating_add(size) > limit => {
                Err(Refusal::TooLarge { limit })
            }
            _ => Ok(()),
        }
    }

    /// A hard link's target (stored relative to the archive root) must be an earlier file.
    fn hard_link_target(&self, target: &Path) -> Result<PathBuf, Refusal> {
        let to = relative(target).map_err(|why| match why {
            Refusal::Absolute | Refusal::DotDot => Refusal::HardLinkOutside(target.into()),
            _ => Refusal::HardLinkNotEarlierFile(target.into()),
        })?;
        match self.nodes.get(&to) {
            Some(Node::File) => Ok(to),
            _ => Err(Refusal::HardLinkNotEarlierFile(target.into())),
        }
    }
}

/// The entry's path relative to the archive root: not absolute, no `..`, components that are
/// valid Linux names (at most 255 bytes, no NUL), at most 4095 bytes in all.
pub fn relative(name: &Path) -> Result<PathBuf, Refusal> {
    let mut rel = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(n) if n.len() > 255 => return Err(Refusal::NameTooLong),
            Component::Normal(n) if n.as_bytes().contains(&0) => return Err(Refusal::NulByte),
            Component::Normal(n) => rel.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(Refusal::Absolute),
            Component::ParentDir => return Err(Refusal::DotDot),
        }
    }
    if rel.as_os_str().len() > 4095 {
        return Err(Refusal::PathTooLong);
    }
    Ok(rel)
}

#[cfg(test)]
mod tests;
