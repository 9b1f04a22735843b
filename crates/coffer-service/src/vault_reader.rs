//! How the gateway side of the management plane reads a certificate's secret: over a vault's real
//! HTTPS data plane, as API Management does, so the vault's firewall, access policy, audit log
//! and throttling judge the gateway's identity like any other caller. The service knows only this
//! trait; the server supplies an HTTPS client for it.

use async_trait::async_trait;

/// A vault's answer to a `GET` of a secret, whatever its status.
#[derive(Clone, Debug)]
pub struct VaultReply {
    pub status: u16,
    /// The vault's `x-ms-request-id`, for the error message and the doctor.
    pub request_id: Option<String>,
    /// The response body (Key Vault JSON; for a 200, the secret bundle).
    pub body: Vec<u8>,
}

/// The vault could not be asked at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct VaultUnreachable(pub String);

/// Reads a vault over HTTPS.
#[async_trait]
pub trait VaultReader: Send + Sync {
    /// `GET url` (a secret URL with its `api-version` query) with `Authorization: Bearer
    /// {bearer}`. Any HTTP answer is `Ok`; only a failure to get one (DNS, connect, TLS,
    /// timeout) is an error.
    async fn get(&self, url: &str, bearer: &str) -> Result<VaultReply, VaultUnreachable>;
}
