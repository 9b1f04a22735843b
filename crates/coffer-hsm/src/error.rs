//! Errors: [`HsmError`] for opening a token (configuration problems an operator must fix), and
//! the translation of PKCS#11 return values into the provider-neutral [`KeyError`].

use std::path::PathBuf;

use coffer_crypto::keys::KeyError;
use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, RvError};

/// Why [`crate::Pkcs11Keys::open`] (or a token report) failed. Messages name the module path and
/// token label, never the PIN.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    #[error("PKCS#11 module {} does not exist", .0.display())]
    ModuleMissing(PathBuf),
    #[error("PKCS#11 module {} could not be loaded: {detail}", .path.display())]
    ModuleLoad { path: PathBuf, detail: String },
    #[error(
        "no PKCS#11 token labelled '{label}' in module {} (tokens present: {})",
        .module.display(),
        if .present.is_empty() { "none".to_owned() } else { .present.join(", ") }
    )]
    TokenNotFound {
        label: String,
        module: PathBuf,
        present: Vec<String>,
    },
    #[error("PKCS#11 token '{0}' has no user PIN set (initialise it first)")]
    UserPinNotInitialized(String),
    #[error("the user PIN was refused by PKCS#11 token '{0}'")]
    PinIncorrect(String),
    #[error("the user PIN of PKCS#11 token '{0}' is locked")]
    PinLocked(String),
    #[error("PKCS#11 token '{label}': {op} failed: {detail}")]
    Pkcs11 {
        label: String,
        op: &'static str,
        detail: String,
    },
}

/// Short, log-safe text of a cryptoki error: the function and the CKR name, without the
/// library's long prose.
pub(crate) fn describe(err: &CkError) -> String {
    match err {
        CkError::Pkcs11(rv, function) => format!("{function:?}: {rv:?}"),
        other => other.to_string(),
    }
}

/// The return value of a failed PKCS#11 call, if the error came from the token.
pub(crate) fn rv_of(err: &CkError) -> Option<(RvError, Function)> {
    match err {
        CkError::Pkcs11(rv, function) => Some((*rv, *function)),
        _ => None,
    }
}

/// Whether an error means the session itself (not the request) is broken: such failures are
/// provider faults, never blamed on the caller's input.
pub(crate) fn is_infrastructure(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::SessionCount
            | RvError::DeviceError
            | RvError::DeviceMemory
            | RvError::DeviceRemoved
            | RvError::HostMemory
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::UserNotLoggedIn
            | RvError::CryptokiNotInitialized
            | RvError::OperationActive
            | RvError::OperationNotInitialized
            | RvError::KeyHandleInvalid
            | RvError::ObjectHandleInvalid
            | RvError::FunctionCanceled
            | RvError::CantLock
    )
}

/// Whether the token refused the mechanism or its parameters when an operation was set up: it
/// cannot do this algorithm (SoftHSM answers `CKR_ARGUMENTS_BAD` for OAEP with SHA-256).
pub(crate) fn is_mechanism_refusal(rv: RvError, function: Function) -> bool {
    let init = matches!(
        function,
        Function::EncryptInit
            | Function::DecryptInit
            | Function::SignInit
            | Function::VerifyInit
            | Function::WrapKey
            | Function::UnwrapKey
            | Function::GenerateKey
            | Function::GenerateKeyPair
    );
    init && matches!(
        rv,
        RvError::MechanismInvalid
            | RvError::MechanismParamInvalid
            | RvError::ArgumentsBad
            | RvError::FunctionNotSupported
            | RvError::CurveNotSupported
            | RvError::DomainParamsInvalid
    )
}

/// A provider fault, with the detail for logs.
pub(crate) fn provider(context: &str, err: &CkError) -> KeyError {
    KeyError::Provider(format!("{context}: {}", describe(err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_not_found_lists_the_tokens_present() {
        let err = HsmError::TokenNotFound {
            label: "vault".into(),
            module: PathBuf::from("/opt/hsm/lib.so"),
            present: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            err.to_string(),
            "no PKCS#11 token labelled 'vault' in module /opt/hsm/lib.so (tokens present: a, b)"
        );
        let none = HsmError::TokenNotFound {
            label: "vault".into(),
            module: PathBuf::from("m.so"),
            present: vec![],
        };
        assert!(none.to_string().ends_with("(tokens present: none)"));
    }

    #[test]
    fn describe_is_short() {
        let err = CkError::Pkcs11(RvError::ArgumentsBad, Function::EncryptInit);
        assert_eq!(describe(&err), "EncryptInit: ArgumentsBad");
    }

    #[test]
    fn refusals_only_count_at_setup() {
        assert!(is_mechanism_refusal(
            RvError::ArgumentsBad,
            Function::EncryptInit
        ));
        assert!(is_mechanism_refusal(
            RvError::MechanismInvalid,
            Function::SignInit
        ));
        // A bad argument to C_Decrypt itself is a decryption failure, not a refusal.
        assert!(!is_mechanism_refusal(
            RvError::ArgumentsBad,
            Function::Decrypt
        ));
        assert!(!is_mechanism_refusal(
            RvError::PinIncorrect,
            Function::EncryptInit
        ));
    }

    #[test]
    fn broken_sessions_are_infrastructure() {
        assert!(is_infrastructure(RvError::SessionHandleInvalid));
        assert!(is_infrastructure(RvError::UserNotLoggedIn));
        assert!(!is_infrastructure(RvError::EncryptedDataInvalid));
        assert!(!is_infrastructure(RvError::GeneralError));
    }
}
