//! The token connection: the PKCS#11 module (initialised once per process, as the standard
//! requires), the slot found by token label, and a small pool of logged-in sessions. A PKCS#11
//! session must not be used by two threads at once, so each operation takes one out of the pool
//! and puts it back when it succeeded.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::error::{HsmError, describe, rv_of};

/// Idle sessions kept open; more may exist while many threads work at once.
const MAX_IDLE_SESSIONS: usize = 8;

/// A loaded module and the lock that keeps object creation and destruction apart from every
/// other use of it.
#[derive(Clone)]
struct Module {
    ctx: Pkcs11,
    objects: Arc<RwLock<()>>,
}

/// One context per module path for the whole process: `C_Initialize` may be called only once,
/// and `C_Finalize` would pull the module from under every other user, so it is never called.
static MODULES: Mutex<Vec<(PathBuf, Module)>> = Mutex::new(Vec::new());

fn module_context(path: &Path) -> Result<Module, HsmError> {
    if !path.is_file() {
        return Err(HsmError::ModuleMissing(path.to_path_buf()));
    }
    let mut modules = MODULES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, module)) = modules.iter().find(|(p, _)| p == path) {
        return Ok(module.clone());
    }
    let load_error = |err: &CkError| HsmError::ModuleLoad {
        path: path.to_path_buf(),
        detail: describe(err),
    };
    let ctx = Pkcs11::new(path).map_err(|e| load_error(&e))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => {}
        // Another part of the process (a second loader of the same file) got there first.
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(load_error(&e)),
    }
    let module = Module {
        ctx,
        objects: Arc::new(RwLock::new(())),
    };
    modules.push((path.to_path_buf(), module.clone()));
    Ok(module)
}

/// A logged-in connection to one token.
pub(crate) struct Token {
    ctx: Pkcs11,
    objects: Arc<RwLock<()>>,
    slot: Slot,
    label: String,
    pin: AuthPin,
    idle: Mutex<Vec<Session>>,
}

impl Token {
    pub(crate) fn open(module: &Path, label: &str, pin: &str) -> Result<Self, HsmError> {
        let Module { ctx, objects } = module_context(module)?;
        let slot = find_slot(&ctx, module, label)?;
        let token = Self {
            ctx,
            objects,
            slot,
            label: label.to_owned(),
            pin: AuthPin::new(pin.into()),
            idle: Mutex::new(Vec::new()),
        };
        // Opening one session now proves the PIN; it stays in the pool, which also keeps the
        // application logged in (PKCS#11 logs out when the last session closes).
        let first = {
            let _shared = token
                .objects
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            token.new_session()?
        };
        token.put_back(first);
        Ok(token)
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn context(&self) -> &Pkcs11 {
        &self.ctx
    }

    pub(crate) fn slot(&self) -> Slot {
        self.slot
    }

    fn new_session(&self) -> Result<Session, HsmError> {
        let session = self
            .ctx
            .open_rw_session(self.slot)
            .map_err(|e| self.failure("C_OpenSession", &e))?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) => Ok(session),
            // Login state is per application: another session of ours already holds it.
            Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(match rv_of(&e) {
                Some((RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _)) => {
                    HsmError::PinIncorrect(self.label.clone())
                }
                Some((RvError::PinLocked, _)) => HsmError::PinLocked(self.label.clone()),
                Some((RvError::UserPinNotInitialized, _)) => {
                    HsmError::UserPinNotInitialized(self.label.clone())
                }
                _ => self.failure("C_Login", &e),
            }),
        }
    }

    fn failure(&self, op: &'static str, err: &CkError) -> HsmError {
        HsmError::Pkcs11 {
            label: self.label.clone(),
            op,
            detail: describe(err),
        }
    }

    fn take(&self) -> Result<Session, HsmError> {
        let reused = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        match reused {
            Some(session) => Ok(session),
            None => self.new_session(),
        }
    }

    fn put_back(&self, session: Session) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < MAX_IDLE_SESSIONS {
            idle.push(session);
        }
        // Otherwise the session drops here, which closes it.
    }

    /// Runs `op` on a session of its own. A session whose operation failed is closed rather
    /// than reused: a failed call may leave an operation active on it.
    fn run<T, E>(&self, op: impl FnOnce(&Session) -> Result<T, E>) -> Result<T, E>
    where
        E: From<HsmError>,
    {
        let session = self.take()?;
        let result = op(&session);
        if result.is_ok() {
            self.put_back(session);
        }
        result
    }

    /// Runs an operation that only uses existing objects; many may run at once.
    pub(crate) fn with_session<T, E>(
        &self,
        op: impl FnOnce(&Session) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<HsmError>,
    {
        let _shared = self
            .objects
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.run(op)
    }

    /// Runs an operation that creates or destroys objects, alone. SoftHSM 2.6.1's file object
    /// store fails at random (`CKR_GENERAL_ERROR`, `CKR_TEMPLATE_INCONSISTENT`) when an object
    /// is written while another session creates or searches objects; key management is rare
    /// enough that excluding it costs little, and signing or decryption stay parallel.
    pub(crate) fn with_object_session<T, E>(
        &self,
        op: impl FnOnce(&Session) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<HsmError>,
    {
        let _exclusive = self
            .objects
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.run(op)
    }
}

fn find_slot(ctx: &Pkcs11, module: &Path, label: &str) -> Result<Slot, HsmError> {
    let failure = |op: &'static str, err: &CkError| HsmError::Pkcs11 {
        label: label.to_owned(),
        op,
        detail: describe(err),
    };
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| failure("C_GetSlotList", &e))?;
    let mut present = Vec::new();
    for slot in slots {
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| failure("C_GetTokenInfo", &e))?;
        if !info.token_initialized() {
            continue;
        }
        if info.label() == label {
            if !info.user_pin_initialized() {
                return Err(HsmError::UserPinNotInitialized(label.to_owned()));
            }
            return Ok(slot);
        }
        present.push(info.label().to_owned());
    }
    Err(HsmError::TokenNotFound {
        label: label.to_owned(),
        module: module.to_path_buf(),
        present,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_module_is_named() {
        let path = Path::new("/nonexistent/coffer/libpkcs11.so");
        let Err(err) = module_context(path) else {
            panic!("a missing module must not load");
        };
        assert!(matches!(err, HsmError::ModuleMissing(_)));
        assert_eq!(
            err.to_string(),
            "PKCS#11 module /nonexistent/coffer/libpkcs11.so does not exist"
        );
    }

    #[test]
    fn a_file_that_is_no_module_is_refused() {
        let dir =
            std::env::temp_dir().join(format!("coffer-hsm-notamodule-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("not-a-module.so");
        std::fs::write(&path, b"this is not a shared object").unwrap();
        let result = module_context(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        match result {
            Err(HsmError::ModuleLoad { path: p, .. }) => assert_eq!(p, path),
            Err(other) => panic!("unexpected error: {other}"),
            Ok(_) => panic!("a text file must not load as a module"),
        }
    }
}
