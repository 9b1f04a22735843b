//! The `$filter` forms of directory listings that Graph clients (the Azure CLI) send, already
//! parsed; the HTTP layer parses the OData text, the listings here apply it.

/// A filter over a directory listing: the `$filter` forms Graph clients (the Azure CLI) send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryFilter {
    /// `displayName eq '...'` (case-insensitive, like Graph).
    DisplayNameEq(String),
    /// `startswith(displayName,'...')` (case-insensitive).
    DisplayNameStartsWith(String),
    /// `appId eq '...'`.
    AppIdEq(String),
    /// `servicePrincipalNames/any(c:c eq '...')`: a service principal's names are its app id.
    ServicePrincipalName(String),
    /// `id eq '...'`.
    IdEq(String),
    /// `userPrincipalName eq '...'`.
    UserPrincipalNameEq(String),
}

impl DirectoryFilter {
    pub(crate) fn matches_name(&self, display_name: &str) -> Option<bool> {
        match self {
            Self::DisplayNameEq(v) => Some(display_name.to_lowercase() == v.to_lowercase()),
            Self::DisplayNameStartsWith(v) => {
                Some(display_name.to_lowercase().starts_with(&v.to_lowercase()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compare_names_case_insensitively() {
        let f = DirectoryFilter::DisplayNameEq("My App".into());
        assert_eq!(f.matches_name("my app"), Some(true));
        assert_eq!(f.matches_name("my app 2"), Some(false));
        let s = DirectoryFilter::DisplayNameStartsWith("my".into());
        assert_eq!(s.matches_name("MY app"), Some(true));
        assert_eq!(DirectoryFilter::AppIdEq("x".into()).matches_name("x"), None);
    }
}
