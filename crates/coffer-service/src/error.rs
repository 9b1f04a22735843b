//! Errors of the use cases. The HTTP layer maps each variant to a status and an Azure code in one
//! place; messages here are the user-facing texts, modelled on Azure's.

use coffer_identity::TokenError;

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request itself is invalid (name, body, parameter).
    #[error("{0}")]
    BadParameter(String),
    /// Restoring over an existing object, or a similar clash.
    #[error("{0}")]
    Conflict(String),
    /// The name belongs to a soft-deleted object that must be recovered or purged first.
    #[error("{0}")]
    DeletedButRecoverable(String),
    /// The object's state refuses the operation: disabled, managed by Key Vault, outside its
    /// `key_ops` or validity window (`innererror` says which, e.g. `KeyDisabled`).
    #[error("{message}")]
    Disabled {
        message: String,
        inner_code: &'static str,
    },
    /// The caller lacks the permission (access policy).
    #[error("{0}")]
    Forbidden(String),
    /// The vault's firewall refused the client address (`ForbiddenByFirewall`), or its public
    /// network access is disabled (`ForbiddenByConnection`).
    #[error("{message}")]
    Firewall {
        message: String,
        inner_code: &'static str,
    },
    /// The vault's audit log is on, the instance runs fail-closed and records cannot be
    /// written now: the request is refused rather than served unaudited.
    #[error("{0}")]
    AuditUnavailable(String),
    /// A throttling limit of the vault or its subscription is spent for the current window.
    #[error("{message}")]
    Throttled {
        message: String,
        retry_after_secs: u64,
    },
    /// A fault injected by the vault's test settings: 503, retry after `retry_after_secs`.
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after_secs: u64,
    },
    /// Something on our side failed; the message is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
    /// The object (or version, or deleted object) does not exist.
    #[error("{message}")]
    NotFound { message: String, code: &'static str },
    /// A purge was refused by the vault's purge protection.
    #[error("{0}")]
    PurgeProtected(String),
    /// The bearer token was refused; `tenant_id` is the vault's, for the challenge.
    #[error("{error}")]
    Unauthenticated {
        error: TokenError,
        tenant_id: String,
    },
    /// The host names no vault of this instance.
    #[error("{0}")]
    VaultNotFound(String),
}

/// What a caller is told while the database cannot be reached; the cause goes to the log only.
pub(crate) const STORE_UNAVAILABLE: &str =
    "Coffer cannot reach its database right now. Retry the request in a few seconds.";
/// How long a client is asked to wait before retrying after the database was unreachable.
pub(crate) const STORE_RETRY_AFTER_SECS: u64 = 5;

impl From<coffer_store::StoreError> for ServiceError {
    fn from(e: coffer_store::StoreError) -> Self {
        match e {
            coffer_store::StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "the store is unavailable");
                Self::Unavailable {
                    message: STORE_UNAVAILABLE.to_owned(),
                    retry_after_secs: STORE_RETRY_AFTER_SECS,
                }
            }
            e => Self::Internal(format!("store: {e}")),
        }
    }
}

impl From<coffer_crypto::CryptoError> for ServiceError {
    fn from(e: coffer_crypto::CryptoError) -> Self {
        Self::Internal(format!("crypto: {e}"))
    }
}

impl From<serde_json::Error> for ServiceError {
    fn from(e: serde_json::Error) -> Self {
        Self::Internal(format!("record encoding: {e}"))
    }
}

/// Why the token endpoint refused a request, with Entra ID's AADSTS numbers.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{0}'."
    )]
    InvalidClientSecret(String),
    #[error("AADSTS7000222: The provided client secret keys for app '{0}' are expired.")]
    ExpiredClientSecret(String),
    #[error("AADSTS900144: The request body must contain the following parameter: '{0}'.")]
    MissingParameter(&'static str),
    #[error(
        "AADSTS70011: The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid: '{0}'."
    )]
    InvalidScope(String),
    #[error(
        "AADSTS90002: Tenant '{0}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
    )]
    TenantNotFound(String),
    #[error(
        "AADSTS700016: Application with identifier '{client}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
    )]
    UnknownClient { client: String, tenant: String },
    #[error(
        "AADSTS500011: The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
    )]
    UnknownResource { resource: String, tenant: String },
    #[error("AADSTS70003: The app requested an unsupported grant type '{0}'.")]
    UnsupportedGrantType(String),
    #[error(
        "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
    )]
    ClientCredentialRequired,
    #[error("AADSTS50027: Invalid JWT token in 'client_assertion'. {0}")]
    InvalidClientAssertion(String),
    #[error(
        "AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter. {0}"
    )]
    AssertionClientMismatch(String),
    #[error(
        "AADSTS700024: Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}."
    )]
    AssertionOutsideValidity {
        now: String,
        nbf: String,
        exp: String,
    },
    #[error(
        "AADSTS700027: {reason} [Thumbprint of key used by client: '{thumbprint}'. The keys configured for app '{app}' are listed by GET /v1.0/applications(appId='{app}') on the Graph endpoint.]"
    )]
    ClientAssertionKey {
        reason: String,
        thumbprint: String,
        app: String,
    },
    #[error("AADSTS50126: Error validating credentials due to invalid username or password.")]
    InvalidUserCredentials,
    #[error("AADSTS50057: The user account is disabled.")]
    UserDisabled,
    /// The directory's storage cannot be reached now: Entra's transient-error answer.
    #[error("AADSTS90033: A transient error has occurred. Please try again.")]
    TemporarilyUnavailable,
    #[error("AADSTS50000: There was an error issuing a token.")]
    Internal(String),
}

impl AuthError {
    /// OAuth2 `error` value.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            Self::InvalidClientSecret(_)
            | Self::ExpiredClientSecret(_)
            | Self::ClientCredentialRequired
            | Self::InvalidClientAssertion(_)
            | Self::AssertionClientMismatch(_)
            | Self::AssertionOutsideValidity { .. }
            | Self::ClientAssertionKey { .. } => "invalid_client",
            Self::InvalidUserCredentials | Self::UserDisabled => "invalid_grant",
            Self::MissingParameter(_) | Self::TenantNotFound(_) => "invalid_request",
            Self::InvalidScope(_) => "invalid_scope",
            Self::UnknownClient { .. } => "unauthorized_client",
            Self::UnknownResource { .. } => "invalid_resource",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::Internal(_) => "server_error",
        }
    }

    /// The AADSTS number.
    pub fn code(&self) -> u32 {
        match self {
            Self::InvalidClientSecret(_) => 7000215,
            Self::ExpiredClientSecret(_) => 7000222,
            Self::MissingParameter(_) => 900144,
            Self::InvalidScope(_) => 70011,
            Self::TenantNotFound(_) => 90002,
            Self::UnknownClient { .. } => 700016,
            Self::UnknownResource { .. } => 500011,
            Self::UnsupportedGrantType(_) => 70003,
            Self::ClientCredentialRequired => 7000218,
            Self::InvalidClientAssertion(_) => 50027,
            Self::AssertionClientMismatch(_) => 700021,
            Self::AssertionOutsideValidity { .. } => 700024,
            Self::ClientAssertionKey { .. } => 700027,
            Self::InvalidUserCredentials => 50126,
            Self::UserDisabled => 50057,
            Self::TemporarilyUnavailable => 90033,
            Self::Internal(_) => 50000,
        }
    }
}

impl From<ServiceError> for AuthError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Unavailable { .. } => Self::TemporarilyUnavailable,
            e => Self::Internal(e.to_string()),
        }
    }
}
