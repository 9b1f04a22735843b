//! Failures: what a transaction's body returns (a semantic outcome or a database error still to
//! be classified), and the one classification into `StoreError`: lost connections and a database
//! that is shutting down or refusing connections are `Unavailable` (503 upstream), serialization
//! failures are retried before they get here, a unique violation is `AlreadyExists`.

use std::error::Error as StdError;

use coffer_store::StoreError;
use tokio_postgres::error::SqlState;

pub(crate) enum Fail {
    Store(StoreError),
    Sql(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl Fail {
    /// Whether running the whole transaction again may succeed: the database chose this
    /// transaction as the loser of a conflict (serialization failure, deadlock).
    pub(crate) fn retryable(&self) -> bool {
        matches!(self, Fail::Sql(e) if is_conflict(e))
    }

    pub(crate) fn into_store(self) -> StoreError {
        match self {
            Fail::Store(e) => e,
            Fail::Sql(e) => classify(e),
        }
    }
}

fn is_conflict(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// The store's view of a database error.
pub(crate) fn classify(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::AlreadyExists,
        Some(c) if unavailable_state(c.code()) => StoreError::Unavailable(Box::new(e)),
        Some(_) => StoreError::Backend(Box::new(e)),
        // No SQLSTATE: the error is the client's own (I/O, closed connection, connect, timeout,
        // TLS), which in practice means the database is not reachable now.
        None => StoreError::Unavailable(Box::new(e)),
    }
}

/// SQLSTATEs that mean "not now" rather than "never": connection exceptions (class 08),
/// insufficient resources (53, e.g. too many connections), operator intervention (57P01–57P05:
/// shutdown, crash, cannot connect now, idle session timeout) and `query_canceled` from the
/// statement timeout.
fn unavailable_state(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") || code == "57014"
}

pub(crate) fn unavailable<E: StdError + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

pub(crate) fn message(text: impl Into<String>) -> StoreError {
    StoreError::Backend(Box::<dyn StdError + Send + Sync>::from(text.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_states_are_unavailable() {
        for code in ["08006", "08001", "53300", "57P01", "57P03", "57014"] {
            assert!(unavailable_state(code), "{code}");
        }
        for code in ["23505", "40001", "42P01", "22P02"] {
            assert!(!unavailable_state(code), "{code}");
        }
    }
}
