//! The audit log: one record per vault request in Key Vault's `AuditEvent` shape, written off the
//! request path in batches and read back as typed events.
//!
//! The request path builds an [`AuditEntry`] and hands it to an [`AuditWriter`]; the writer turns
//! it into an [`AuditEvent`] and appends batches to an [`AuditStore`](coffer_store::AuditStore).
//! [`AuditLog`] reads them back for `coffer logs` and `coffer doctor`.
//!
//! # Redaction, by construction
//!
//! The log must never hold a secret value, key material or a whole token. Rather than scrubbing
//! text afterwards, [`AuditEntry`] has no field that could carry one:
//! - no request or response body, and no header map: only the user agent (`clientInfo`) and the
//!   client's correlation id, clipped;
//! - the request URI only as a [`RequestUri`], which keeps the path and the *names* of the query
//!   parameters Azure's clients send (`maxresults`, `$skiptoken`...), and drops every other name
//!   and every query value except a well-formed `api-version`;
//! - the caller only as an [`AuditIdentity`]: the claims `appid`, `oid`, `tid`, `upn` and
//!   `idtyp`, picked out of a validated token; the token and its signature never enter;
//! - the client address as an `IpAddr`, TLS version, firewall decision and deny reason as closed
//!   types; a deny reason's id is a `&'static str`, so only the code's own constants.
//!
//! Object names (a secret's name in the path or the object `id`) are not secret and are kept, as
//! Key Vault does. Error messages (`resultDescription`) are Coffer's own, which by the house rules
//! never contain a secret value.

mod entry;
mod event;
mod log;
mod operation;
mod writer;

#[cfg(test)]
mod tests;

pub use entry::{
    AuditEntry, AuditIdentity, DenyCheck, DenyReason, FirewallDecision, RequestUri, Throttling,
    TlsVersion,
};
pub use event::{
    AuditEvent, CATEGORY as AUDIT_CATEGORY, EventDenyReason, EventFirewall, EventIdentity,
    EventProperties, EventThrottling, FirewallResult, FirewallRule,
};
pub use log::{AuditFilter, AuditLog, DEFAULT_LOG_PAGE, LoggedEvent, MAX_LOG_PAGE};
pub use operation::{AuditOperation, UnknownOperation};
pub use writer::{AuditConfig, AuditWriter, DEFAULT_RETENTION_DAYS};

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The audit store failed.
    #[error("audit store: {0}")]
    Store(#[from] coffer_store::StoreError),
    /// A stored record is not an event this build can read.
    #[error("audit record {seq} cannot be read: {source}")]
    Decode {
        seq: u64,
        #[source]
        source: serde_json::Error,
    },
    /// The writer was started outside a Tokio runtime.
    #[error("the audit writer must be started inside a Tokio runtime")]
    NoRuntime,
}
