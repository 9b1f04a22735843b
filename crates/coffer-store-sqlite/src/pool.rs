//! Connections for both databases: the file and its companions at mode 0600, the PRAGMAs every
//! connection needs (read back, since SQLite ignores what it cannot honour), and the pool of one
//! writer and a few read-only connections that runs each transaction on a blocking thread.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_store::StoreError;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{Fail, backend, message};
use crate::migrate::{Schema, migrate};

/// How long a statement waits for a lock held by another connection (another process, say).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// One database: the connection that writes and, for a file, read-only connections. WAL lets
/// them read committed data while the writer writes; each read transaction sees every commit
/// acknowledged before it began.
pub(crate) struct Pool {
    writer: Arc<Mutex<Connection>>,
    /// Empty for an in-memory database, whose contents only its own connection can see.
    readers: Vec<Arc<Mutex<Connection>>>,
    next_reader: AtomicUsize,
}

impl Pool {
    /// Opens (creating if needed) the database file at `path` at mode 0600, applies `schema`'s
    /// pending migrations, and opens `readers` read-only connections. Blocks on file I/O.
    pub(crate) fn open(path: &Path, schema: &Schema, readers: usize) -> Result<Pool, StoreError> {
        precreate_private(path)?;
        let mut conn = Connection::open(path).map_err(backend)?;
        configure(&conn, true)?;
        migrate(&mut conn, schema)?;
        restrict_companions(path)?;
        let readers = (0..readers)
            .map(|_| open_reader(path).map(|c| Arc::new(Mutex::new(c))))
            .collect::<Result<_, _>>()?;
        Ok(Pool {
            writer: Arc::new(Mutex::new(conn)),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// A private in-memory database with `schema` applied.
    pub(crate) fn open_in_memory(schema: &Schema) -> Result<Pool, StoreError> {
        let mut conn = Connection::open_in_memory().map_err(backend)?;
        configure(&conn, false)?;
        migrate(&mut conn, schema)?;
        Ok(Pool {
            writer: Arc::new(Mutex::new(conn)),
            readers: Vec::new(),
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs `f` in a read transaction, on the next read-only connection.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Fail> + Send + 'static,
    {
        let conn = if self.readers.is_empty() {
            Arc::clone(&self.writer)
        } else {
            let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
            Arc::clone(&self.readers[i])
        };
        run(conn, TransactionBehavior::Deferred, f).await
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`) on the writer.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Fail> + Send + 'static,
    {
        run(Arc::clone(&self.writer), TransactionBehavior::Immediate, f).await
    }
}

/// Runs `f` in one transaction on a blocking thread; commits if it returns `Ok`, rolls back
/// otherwise.
async fn run<T, F>(
    conn: Arc<Mutex<Connection>>,
    behavior: TransactionBehavior,
    f: F,
) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&Transaction<'_>) -> Result<T, Fail> + Send + 'static,
{
    let joined = tokio::task::spawn_blocking(move || -> Result<T, Fail> {
        let mut guard = conn
            .lock()
            .map_err(|_| Fail::Store(message("database connection mutex is poisoned")))?;
        let tx = guard.transaction_with_behavior(behavior)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    })
    .await;
    match joined {
        Ok(result) => result.map_err(Fail::into_store),
        Err(join) => Err(StoreError::Backend(Box::new(join))),
    }
}

/// Creates the database file with mode 0600 if it is absent, and narrows it to 0600 if it exists.
#[cfg(unix)]
fn precreate_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(backend)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(backend)
}

#[cfg(not(unix))]
fn precreate_private(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// SQLite gives `-wal` and `-shm` the mode of the database file; this narrows any that predate
/// it (left by an older, laxer setup).
#[cfg(unix)]
fn restrict_companions(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::metadata(&name) {
            Ok(meta) if meta.permissions().mode() & 0o777 != 0o600 => {
                std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600))
                    .map_err(backend)?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(backend(e)),
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_companions(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

fn configure(conn: &Connection, file: bool) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    if file {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(message(format!(
                "could not switch the database to WAL journal mode (it reports {mode:?}); \
                 is it on a filesystem without shared-memory support?"
            )));
        }
    }
    // SQLite ignores PRAGMAs it cannot honour without an error, so read each one back.
    for (pragma, value, expected) in [("synchronous", "FULL", 2), ("foreign_keys", "ON", 1)] {
        conn.pragma_update(None, pragma, value).map_err(backend)?;
        let got: i64 = conn
            .pragma_query_value(None, pragma, |row| row.get(0))
            .map_err(backend)?;
        if got != expected {
            return Err(message(format!(
                "PRAGMA {pragma} = {value} did not take effect (it reports {got})"
            )));
        }
    }
    Ok(())
}

/// A read-only connection to an already configured and migrated database file.
fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(backend)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    Ok(conn)
}
