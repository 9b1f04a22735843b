//! The authenticated caller of a request, as established from its access token.

/// Who is calling: the claims of a validated token that authorization looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: String,
    pub object_id: String,
    /// Application (client) id, from `appid` (v1) or `azp` (v2).
    pub app_id: Option<String>,
    pub issuer: String,
}

impl Principal {
    /// The caller as Azure names it in 403 messages: `appid=...;oid=...;iss=...`.
    pub fn describe(&self) -> String {
        format!(
            "appid={};oid={};iss={}",
            self.app_id.as_deref().unwrap_or(""),
            self.object_id,
            self.issuer
        )
    }
}
