//! Errors raised by domain rules, each naming the rule that was broken.

/// A domain rule was broken by caller input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidApiVersion(String),
    #[error("{0}")]
    InvalidParameter(String),
}
