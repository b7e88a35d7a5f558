//! The store's error type and its closed kind set, which callers map onto the app-wide codes
//! without matching on SQLite details.

use rusqlite::ffi;

/// Shorthand for results of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named bot / workspace does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A bot with that name already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The database was written by a newer Berth; this build must not touch it.
    #[error(
        "the database has schema version {found}, but this Berth supports only up to \
         {supported}: it was written by a newer Berth and must not be opened by this one; \
         the file was left untouched, so upgrade Berth to use it"
    )]
    TooNew { found: i64, supported: i64 },
    /// Any other SQLite failure.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Creating the database's directory failed.
    #[error("database directory: {0}")]
    Io(#[from] std::io::Error),
}

/// The closed set of error kinds callers branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreErrorKind {
    NotFound,
    AlreadyExists,
    /// The database format is not supported by this build (too new).
    Unsupported,
    /// The database stayed locked by another process past the busy timeout.
    Unavailable,
    Internal,
}

impl StoreError {
    /// The kind of this error, for mapping to the IPC error code.
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::NotFound(_) => StoreErrorKind::NotFound,
            StoreError::AlreadyExists(_) => StoreErrorKind::AlreadyExists,
            StoreError::TooNew { .. } => StoreErrorKind::Unsupported,
            StoreError::Sqlite(e) if sqlite_code(e) == Some(ffi::ErrorCode::DatabaseBusy) => {
                StoreErrorKind::Unavailable
            }
            StoreError::Sqlite(e) if sqlite_code(e) == Some(ffi::ErrorCode::DatabaseLocked) => {
                StoreErrorKind::Unavailable
            }
            StoreError::Sqlite(_) | StoreError::Io(_) => StoreErrorKind::Internal,
        }
    }
}

fn sqlite_code(e: &rusqlite::Error) -> Option<ffi::ErrorCode> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    }
}

/// True when `e` is the given extended constraint violation (e.g. a duplicate primary key).
pub(crate) fn is_constraint(e: &rusqlite::Error, extended: i32) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == extended)
}
