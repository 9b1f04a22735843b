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
    #[error(
        "AADSTS50053: You've tried to sign in too many times with an incorrect user ID or password. Try again in {0} seconds."
    )]
    AccountLocked(i64),
    #[error("AADSTS70000: The provided value for the 'code' parameter is not valid.")]
    InvalidAuthCode,
    #[error(
        "AADSTS70000: The provided value for the 'code' parameter is not valid. The code was issued to another client."
    )]
    AuthCodeOtherClient,
    #[error(
        "AADSTS700005: Provided Authorization Code is intended to use against other tenant, thus rejected."
    )]
    AuthCodeOtherTenant,
    #[error(
        "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."
    )]
    AuthCodeRedeemed,
    #[error(
        "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."
    )]
    AuthCodeExpired,
    #[error(
        "AADSTS500112: The reply address '{sent}' does not match the reply address '{expected}' provided when requesting Authorization code."
    )]
    RedirectUriMismatch { sent: String, expected: String },
    #[error(
        "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request."
    )]
    CodeVerifierMismatch,
    #[error(
        "AADSTS700025: Client is public so neither 'client_assertion' nor 'client_secret' should be presented."
    )]
    PublicClientWithCredential,
    #[error(
        "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'. Application '{0}' does not allow public client flows; set its isFallbackPublicClient to true to use the device code flow."
    )]
    PublicFlowsDisabled(String),
    #[error("AADSTS9002313: Invalid request. The refresh token is malformed or not valid.")]
    InvalidRefreshToken,
    #[error("AADSTS70000: The refresh token was issued to another client.")]
    RefreshTokenOtherClient,
    #[error(
        "AADSTS700082: The refresh token has expired due to inactivity. The token was issued on {0}."
    )]
    RefreshTokenExpired(String),
    #[error(
        "AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password, or an administrator revoked the user's sign-in sessions."
    )]
    RefreshTokenRevoked,
    #[error(
        "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling."
    )]
    AuthorizationPending,
    #[error("AADSTS70019: Verification code expired. Start a new device code sign-in.")]
    DeviceCodeExpired,
    #[error("AADSTS70000: The user declined the device code sign-in.")]
    AuthorizationDeclined,
    #[error("AADSTS70018: The provided value for the input parameter 'device_code' is not valid.")]
    BadDeviceCode,
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
            Self::PublicClientWithCredential | Self::PublicFlowsDisabled(_) => "invalid_client",
            Self::InvalidUserCredentials
            | Self::UserDisabled
            | Self::AccountLocked(_)
            | Self::InvalidAuthCode
            | Self::AuthCodeOtherClient
            | Self::AuthCodeOtherTenant
            | Self::AuthCodeRedeemed
            | Self::AuthCodeExpired
            | Self::RedirectUriMismatch { .. }
            | Self::CodeVerifierMismatch
            | Self::InvalidRefreshToken
            | Self::RefreshTokenOtherClient
            | Self::RefreshTokenExpired(_)
            | Self::RefreshTokenRevoked => "invalid_grant",
            Self::AuthorizationPending => "authorization_pending",
            Self::DeviceCodeExpired => "expired_token",
            Self::AuthorizationDeclined => "authorization_declined",
            Self::BadDeviceCode => "bad_verification_code",
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
            Self::AccountLocked(_) => 50053,
            Self::InvalidAuthCode | Self::AuthCodeOtherClient => 70000,
            Self::AuthCodeOtherTenant => 700005,
            Self::AuthCodeRedeemed => 54005,
            Self::AuthCodeExpired => 70008,
            Self::RedirectUriMismatch { .. } => 500112,
            Self::CodeVerifierMismatch => 501481,
            Self::PublicClientWithCredential => 700025,
            Self::PublicFlowsDisabled(_) => 7000218,
            Self::InvalidRefreshToken => 9002313,
            Self::RefreshTokenOtherClient => 70000,
            Self::RefreshTokenExpired(_) => 700082,
            Self::RefreshTokenRevoked => 50173,
            Self::AuthorizationPending => 70016,
            Self::DeviceCodeExpired => 70019,
            Self::AuthorizationDeclined => 70000,
            Self::BadDeviceCode => 70018,
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

/// Why the sign-in pages (authorize, device login) refused a step, with Entra ID's AADSTS
/// numbers. Which of them may be sent to the client's redirect URI is the caller's decision: only
/// once that URI is verified.
#[derive(Debug, thiserror::Error)]
pub enum SigninError {
    #[error(
        "AADSTS90002: Tenant '{0}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
    )]
    TenantNotFound(String),
    #[error("AADSTS900144: The request body must contain the following parameter: '{0}'.")]
    MissingParameter(&'static str),
    #[error(
        "AADSTS700016: Application with identifier '{client}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
    )]
    UnknownClient { client: String, tenant: String },
    #[error("AADSTS900971: No reply address provided.")]
    NoReplyAddress,
    #[error(
        "AADSTS500113: No reply address is registered for the application '{0}'. Add a redirect URI to its web, publicClient or spa platform."
    )]
    NoRegisteredReplyAddress(String),
    #[error(
        "AADSTS50011: The redirect URI '{uri}' specified in the request does not match the redirect URIs configured for the application '{app}'. Make sure the redirect URI sent in the request matches one added to your application (GET /v1.0/applications(appId='{app}') on the Graph endpoint lists them)."
    )]
    RedirectMismatch { uri: String, app: String },
    #[error(
        "AADSTS70005: response_type '{0}' is not enabled for the application. Coffer supports response_type=code."
    )]
    UnsupportedResponseType(String),
    #[error(
        "AADSTS70007: The application returned an unsupported value of 'response_mode' ('{0}'); use query or form_post."
    )]
    UnsupportedResponseMode(String),
    #[error(
        "AADSTS9002313: Invalid request. code_challenge_method 'plain' (or none) is not supported; send code_challenge_method=S256."
    )]
    PlainPkce,
    #[error(
        "AADSTS9002313: Invalid request. code_challenge_method '{0}' is not supported; use S256."
    )]
    UnknownPkceMethod(String),
    #[error(
        "AADSTS501491: Invalid size of Code_Challenge parameter: an S256 challenge is 43 base64url characters."
    )]
    InvalidCodeChallenge,
    #[error(
        "AADSTS9002325: Proof Key for Code Exchange is required for this public client: send code_challenge and code_challenge_method=S256."
    )]
    PkceRequired,
    #[error(
        "AADSTS70011: The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid: '{0}'."
    )]
    InvalidScope(String),
    #[error(
        "AADSTS50058: A silent sign-in request was sent but no user is signed in (prompt=none)."
    )]
    LoginRequired,
    #[error(
        "AADSTS50089: The sign-in page expired or was already used. Start the sign-in again from the application."
    )]
    PageExpired,
    #[error("AADSTS50126: Error validating credentials due to invalid username or password.")]
    InvalidCredentials,
    #[error(
        "AADSTS50053: You've tried to sign in too many times with an incorrect user ID or password. Try again in {0} seconds."
    )]
    Locked(i64),
    #[error("AADSTS50057: The user account is disabled.")]
    UserDisabled,
    #[error("AADSTS70018: That code is not valid. Check the code and try again.")]
    BadUserCode,
    #[error("AADSTS70019: That code has expired. Start a new sign-in on your device.")]
    UserCodeExpired,
    #[error("AADSTS90120: That code was already used to sign in, or declined.")]
    DeviceFlowDone,
    #[error("AADSTS50000: There was an error signing you in.")]
    Internal(String),
}

impl SigninError {
    /// OAuth2 `error` value, when the error is sent to the redirect URI.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::LoginRequired => "login_required",
            Self::UnknownClient { .. } => "unauthorized_client",
            Self::InvalidCredentials | Self::Locked(_) | Self::UserDisabled => "access_denied",
            Self::Internal(_) => "server_error",
            Self::TenantNotFound(_)
            | Self::MissingParameter(_)
            | Self::NoReplyAddress
            | Self::NoRegisteredReplyAddress(_)
            | Self::RedirectMismatch { .. }
            | Self::UnsupportedResponseMode(_)
            | Self::PlainPkce
            | Self::UnknownPkceMethod(_)
            | Self::InvalidCodeChallenge
            | Self::PkceRequired
            | Self::PageExpired
            | Self::BadUserCode
            | Self::UserCodeExpired
            | Self::DeviceFlowDone => "invalid_request",
        }
    }

    /// The AADSTS number.
    pub fn code(&self) -> u32 {
        match self {
            Self::TenantNotFound(_) => 90002,
            Self::MissingParameter(_) => 900144,
            Self::UnknownClient { .. } => 700016,
            Self::NoReplyAddress => 900971,
            Self::NoRegisteredReplyAddress(_) => 500113,
            Self::RedirectMismatch { .. } => 50011,
            Self::UnsupportedResponseType(_) => 70005,
            Self::UnsupportedResponseMode(_) => 70007,
            Self::PlainPkce | Self::UnknownPkceMethod(_) => 9002313,
            Self::InvalidCodeChallenge => 501491,
            Self::PkceRequired => 9002325,
            Self::InvalidScope(_) => 70011,
            Self::LoginRequired => 50058,
            Self::PageExpired => 50089,
            Self::InvalidCredentials => 50126,
            Self::Locked(_) => 50053,
            Self::UserDisabled => 50057,
            Self::BadUserCode => 70018,
            Self::UserCodeExpired => 70019,
            Self::DeviceFlowDone => 90120,
            Self::Internal(_) => 50000,
        }
    }
}

impl From<ServiceError> for SigninError {
    fn from(e: ServiceError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<AuthError> for SigninError {
    /// The errors the shared look-ups (tenant, client, user) raise, in the page's terms.
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::TenantNotFound(t) => Self::TenantNotFound(t),
            AuthError::UnknownClient { client, tenant } => Self::UnknownClient { client, tenant },
            AuthError::InvalidUserCredentials => Self::InvalidCredentials,
            AuthError::UserDisabled => Self::UserDisabled,
            AuthError::AccountLocked(s) => Self::Locked(s),
            AuthError::MissingParameter(p) => Self::MissingParameter(p),
            AuthError::InvalidScope(s) => Self::InvalidScope(s),
            other => Self::Internal(other.to_string()),
        }
    }
}
