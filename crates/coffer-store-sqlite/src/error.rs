//! Failures: what a transaction's body returns (a semantic outcome or a SQLite error still to be
//! classified), and the classification into `StoreError`.

use std::error::Error as StdError;

use coffer_store::StoreError;
use rusqlite::ffi;

/// Failure inside a transaction: a semantic outcome, or a SQLite error still to be classified.
pub(crate) enum Fail {
    Store(StoreError),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl Fail {
    pub(crate) fn into_store(self) -> StoreError {
        match self {
            Fail::Store(e) => e,
            Fail::Sql(e) if is_unique_violation(&e) => StoreError::AlreadyExists,
            Fail::Sql(e) => backend(e),
        }
    }
}

/// A primary-key or unique constraint violation: something with that identity exists. Other
/// constraint failures (foreign key, check, not null) are bugs or corruption, hence `Backend`.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(err, _)
            if err.code == ffi::ErrorCode::ConstraintViolation
                && (err.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || err.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE)
    )
}

pub(crate) fn backend<E: StdError + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Backend(Box::new(e))
}

pub(crate) fn message(text: impl Into<String>) -> StoreError {
    StoreError::Backend(Box::<dyn StdError + Send + Sync>::from(text.into()))
}
