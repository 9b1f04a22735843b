//! Coffer's domain model: validated names, api-versions, object attributes and the soft-delete
//! rules, access policies and their evaluation, network rules (the firewall) and their evaluation,
//! principals and the clock, and the throttling rules.
//!
//! This crate does no I/O and knows nothing of JSON or HTTP: it is plain rules over plain data.

pub mod api_version;
pub mod attributes;
pub mod clock;
pub mod diagnosis;
pub mod duration;
pub mod error;
pub mod gateway;
pub mod gateway_route;
pub mod names;
pub mod net;
pub mod ops;
pub mod policy;
pub mod principal;
pub mod throttle;
pub mod vault;

pub use api_version::ApiVersion;
pub use attributes::{Attributes, RecoveryLevel};
pub use clock::{Clock, SystemClock};
pub use error::DomainError;
pub use names::{ObjectName, VaultName};
pub use net::{FirewallDecision, IpRule, NetworkAcls};
pub use ops::VaultOp;
pub use policy::{
    AccessPolicy, CertificatePermission, KeyPermission, Permission, Permissions, SecretPermission,
    StoragePermission,
};
pub use principal::Principal;
pub use vault::Vault;
