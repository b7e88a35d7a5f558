//! Why an archive entry is refused: a closed kind that tests and callers can match, a message
//! that names the entry, and the `io::Error` (`InvalidData`) the extractor and the validator
//! return, from which [`refusal`] gets the typed refusal back.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::Kind;

/// The rule an entry breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Absolute,
    DotDot,
    /// A path component longer than Linux allows (255 bytes).
    NameTooLong,
    /// A path longer than Linux allows (4095 bytes).
    PathTooLong,
    NulByte,
    /// The archive root (`.`) as something other than a directory.
    RootNotDir,
    ThroughSymlink,
    ThroughFile,
    Duplicate,
    /// A non-directory where earlier entries made a directory; the entry's kind.
    ReplacesDir(Kind),
    SymlinkNoTarget,
    /// The target as stored.
    SymlinkOutside(PathBuf),
    /// A chain of the archive's symlinks longer than the kernel follows.
    SymlinkLoop,
    /// A symlink at a folder that the named earlier link's target passes through before a
    /// `..`: the earlier link would then lead somewhere else, possibly outside.
    RedirectsLink(PathBuf),
    HardLinkNoTarget,
    /// The target as stored.
    HardLinkOutside(PathBuf),
    /// The target as stored: missing, later, a directory, a symlink.
    HardLinkNotEarlierFile(PathBuf),
    Device,
    Fifo,
    /// The tar type byte.
    Unsupported(u8),
    /// The archive's files add up to more than `limit` bytes.
    TooLarge {
        limit: u64,
    },
    /// The archive has more entries than [`super::MAX_ENTRIES`].
    TooManyEntries,
}

/// A refused entry: the rule and the entry's name as the archive spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub entry: PathBuf,
    pub why: Refusal,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.entry;
        match &self.why {
            Refusal::TooLarge { limit } => write!(
                f,
                "the archive expands to more than {limit} bytes (at entry {name:?}); raise the limit to import it"
            ),
            Refusal::TooManyEntries => write!(
                f,
                "the archive has more than {} entries (at entry {name:?})",
                super::MAX_ENTRIES
            ),
            why => write!(f, "archive entry {name:?} {}", Tail(why)),
        }
    }
}

/// What follows the entry's name in a message.
struct Tail<'a>(&'a Refusal);

impl fmt::Display for Tail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Refusal::*;
        match self.0 {
            Absolute => write!(f, "has an absolute path"),
            DotDot => write!(f, "goes outside with '..'"),
            NameTooLong => write!(f, "has a name longer than 255 bytes"),
            PathTooLong => write!(f, "has a path longer than 4095 bytes"),
            NulByte => write!(f, "has a NUL byte in its name"),
            RootNotDir => write!(f, "is the archive root but not a directory"),
            ThroughSymlink => write!(f, "goes through a symlink in the archive"),
            ThroughFile => write!(f, "goes through a file in the archive"),
            Duplicate => write!(f, "appears twice (duplicate path)"),
            ReplacesDir(kind) => write!(
                f,
                "replaces a directory of the archive with a {}",
                match kind {
                    Kind::Symlink => "symlink",
                    Kind::HardLink => "hard link",
                    _ => "file",
                }
            ),
            SymlinkNoTarget => write!(f, "is a symlink without a target"),
            SymlinkOutside(t) => write!(f, "is a symlink pointing outside ({t:?})"),
            SymlinkLoop => write!(f, "is a symlink through too many symlinks of the archive"),
            RedirectsLink(l) => write!(
                f,
                "is a symlink at a folder the earlier link {l:?} goes through before a '..'"
            ),
            HardLinkNoTarget => write!(f, "is a hard link without a target"),
            HardLinkOutside(t) => write!(f, "is a hard link pointing outside ({t:?})"),
            HardLinkNotEarlierFile(t) => write!(
                f,
                "is a hard link to {t:?}, which is not an earlier file of the archive"
            ),
            Device => write!(f, "is a device"),
            Fifo => write!(f, "is a FIFO"),
            Unsupported(t) => write!(f, "has an unsupported type {:?}", char::from(*t)),
            TooLarge { limit } => write!(f, "goes over the limit of {limit} bytes"),
            TooManyEntries => write!(f, "is one entry too many"),
        }
    }
}

impl std::error::Error for Refused {}

impl From<Refused> for io::Error {
    fn from(r: Refused) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, r)
    }
}

/// The refusal an extraction or validation error carries, if it is one.
pub fn refusal(e: &io::Error) -> Option<&Refused> {
    e.get_ref()?.downcast_ref()
}
