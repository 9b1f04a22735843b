//! The data directory of `coffer serve`: checked before anything is written into it, and held
//! with an exclusive lock on `<dir>/lock` for the life of the process, so a second server on the
//! same directory fails at once instead of sharing its database.

use std::fs::File;
use std::io::{ErrorKind, Read as _, Seek as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use rustix::fs::{FlockOperation, flock};

/// Name of the lock file inside the data directory.
pub(crate) const LOCK_FILE: &str = "lock";

/// A data directory this process holds the lock of; the lock ends when this is dropped.
#[derive(Debug)]
pub(crate) struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// The directory's absolute path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Locks `dir` if it exists already; `None` if it does not (nothing is created).
pub(crate) fn open_existing(dir: &Path) -> Result<Option<DataDir>> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == ErrorKind::NotADirectory => bail!(
            "cannot create the data directory {}: a part of that path is a file, not a directory. Choose another with --data-dir DIR or COFFER_DATA_DIR",
            dir.display()
        ),
        Err(e) => bail!(
            "cannot use the data directory {}: {}. Fix its permissions, or choose another with --data-dir DIR",
            dir.display(),
            reason(&e)
        ),
        Ok(m) if !m.is_dir() => bail!(
            "the data directory {} is a file, not a directory. Pass a directory with --data-dir DIR (it is created if missing), or move the file away",
            dir.display()
        ),
        Ok(_) => lock(dir).map(Some),
    }
}

/// Creates `dir` (mode 0700, parents as needed) and locks it.
pub(crate) fn create(dir: &Path) -> Result<DataDir> {
    let made = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    if let Err(e) = made {
        let hint = match e.kind() {
            ErrorKind::NotADirectory | ErrorKind::AlreadyExists => {
                "a part of that path is a file, not a directory"
            }
            _ => "choose a place this user may write to",
        };
        bail!(
            "cannot create the data directory {}: {} ({hint}). Pass another with --data-dir DIR or COFFER_DATA_DIR",
            dir.display(),
            reason(&e)
        );
    }
    lock(dir)
}

fn lock(dir: &Path) -> Result<DataDir> {
    let path = match std::fs::canonicalize(dir) {
        Ok(p) => p,
        Err(e) => bail!(
            "cannot use the data directory {}: {}",
            dir.display(),
            reason(&e)
        ),
    };
    let lock_path = path.join(LOCK_FILE);
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
    {
        Ok(f) => f,
        Err(e) => bail!(
            "the data directory {} is not writable: {} (creating {}). Coffer keeps its database and keys there: make it writable for this user, or choose another with --data-dir DIR",
            path.display(),
            reason(&e),
            lock_path.display()
        ),
    };
    if let Err(e) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
        if e == rustix::io::Errno::WOULDBLOCK {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.chars().all(|c| c.is_ascii_digit()) && !holder.is_empty() {
                format!("another coffer serve (pid {holder})")
            } else {
                "another coffer serve".to_owned()
            };
            bail!(
                "the data directory {} is in use by {who}, which holds {}. Stop that server first, or give this one its own --data-dir DIR",
                path.display(),
                lock_path.display()
            );
        }
        bail!(
            "cannot lock {}: {e}. The data directory must be on a file system that supports flock",
            lock_path.display()
        );
    }
    // The holder's pid, for the message a second server prints.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    Ok(DataDir { path, _lock: file })
}

/// A short lowercase reason for an I/O error, without Rust's "(os error N)" suffix.
pub(crate) fn reason(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        ErrorKind::ReadOnlyFilesystem => "the file system is read-only".to_owned(),
        ErrorKind::NotFound => "it does not exist".to_owned(),
        ErrorKind::NotADirectory => "a part of the path is not a directory".to_owned(),
        ErrorKind::StorageFull => "no space left on the device".to_owned(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_owned(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_and_names_the_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let first = open_existing(tmp.path()).unwrap().unwrap();
        let err = open_existing(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("in use by another coffer serve"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(open_existing(tmp.path()).unwrap().is_some());
    }

    #[test]
    fn a_missing_directory_is_not_created_until_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        assert!(open_existing(&dir).unwrap().is_none());
        assert!(!dir.exists());
        let d = create(&dir).unwrap();
        assert!(d.path().join(LOCK_FILE).exists());
    }

    #[test]
    fn a_file_in_place_of_the_directory_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("data");
        std::fs::write(&file, b"x").unwrap();
        let err = open_existing(&file).unwrap_err().to_string();
        assert!(err.contains("is a file, not a directory"), "{err}");
        assert!(err.contains(&file.display().to_string()), "{err}");
        let err = create(&file.join("sub")).unwrap_err().to_string();
        assert!(err.contains("cannot create the data directory"), "{err}");
    }
}
