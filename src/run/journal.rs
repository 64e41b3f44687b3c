//! The write-ahead journal of everything a run may have created. It owns each identity and
//! record until it is proven gone:
//! - an identity is written (mode 0600) *before* its create request goes out; a run that cannot
//!   write it creates nothing. Every outcome but a definitive refusal keeps it as "may exist";
//!   it is removed only once the identity is proven gone (deleted, and it can no longer log in).
//! - a record (what a suite's teardown deletes) is written as soon as its teardown step can be
//!   rendered, and removed when that teardown passed; `smokegate cleanup` replays what is left.
//!
//! One file per identity and per record, written to a unique temporary name and renamed, so
//! concurrent runs never contend for a file and a crash never leaves half an entry.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::load::suite::StatusPat;

/// An identity a run created (or may have): what `cleanup` needs to log in as it and delete
/// it. Holds its password: no `Debug`.
#[derive(Clone, Serialize, Deserialize)]
pub struct Entry {
    pub version: u32,
    pub run_id: String,
    /// The gateway origin the identity lives behind.
    pub gateway: String,
    pub email: String,
    /// Needed to log in again and delete the user. The file is 0600.
    pub password: String,
    /// Captures of the create/login steps (e.g. `user_id`), for the cleanup route.
    #[serde(default)]
    pub captures: serde_json::Map<String, serde_json::Value>,
    pub created_at: String,
    /// Set by `--keep-user`.
    #[serde(default)]
    pub kept: bool,
    /// What the create request came to.
    #[serde(default)]
    pub state: CreateState,
    /// Until when (RFC 3339) an unanswered create may still complete upstream: a refused login
    /// before then proves nothing. Absent once the create was answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_by: Option<String>,
    /// It has logged in once: a refused login later means it is gone, not that it never
    /// could (a service that refuses a login right after the create proves nothing).
    #[serde(default)]
    pub logged_in: bool,
    /// The config whose login, cleanup and verify steps finish it (entries written before this
    /// field existed use the config of whoever runs `cleanup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<crate::load::config::SavedConfig>,
    /// The environment variables its lifecycle reads that are not secrets (a pool id, an
    /// endpoint), as they were: `cleanup` from another shell needs only the secrets.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
}

/// What is known of an identity's create request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CreateState {
    /// Journaled, the create about to be sent or in flight (what a killed run leaves).
    #[default]
    Pending,
    /// The gateway answered 2xx: the identity exists.
    Created,
    /// Answered with an error, timed out or broke off: it may exist.
    Unknown,
}

/// A record a suite created, journaled as the teardown request that deletes it. Holds that
/// request's headers and body (credentials among them): no `Debug`.
#[derive(Clone, Serialize, Deserialize)]
pub struct RecordEntry {
    pub version: u32,
    pub run_id: String,
    pub gateway: String,
    /// Unique within the run: suite file and teardown index.
    pub key: String,
    /// `suite › teardown step`, for messages.
    pub label: String,
    /// The identity whose token the teardown needs (`auth: user`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body as text (teardown bodies are JSON or text) and its content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<(String, String)>,
    /// Statuses that mean "deleted" (the teardown's own `expect.status`; 2xx when it has none).
    pub accept: Vec<StatusPat>,
    pub created_at: String,
    /// Set when the record may exist but its teardown could not be rendered yet (the run died
    /// between sending its create and capturing its id): nothing can replay it; it is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

impl RecordEntry {
    /// True when `status` is one the teardown accepts.
    pub fn accepts(&self, status: u16) -> bool {
        self.accept.iter().any(|p| p.matches(status))
    }

    pub fn describe(&self) -> String {
        match self.pending {
            None => format!("record {} {} ({})", self.method, self.path, self.label),
            Some(_) => format!("a record created by {} {} ({})", self.method, self.path, self.label),
        }
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Journal({})", self.dir.display())
    }
}

#[derive(Clone)]
pub struct Journal {
    pub dir: PathBuf,
    /// This process's writer lock (`.writer-<pid>.lock`, held exclusively from the first write
    /// until the process ends): how a sweeper tells a live writer's temporary files from a
    /// killed one's, on every platform the binary is released for.
    /// Shared by clones: one lock per process.
    writer: std::sync::Arc<std::sync::OnceLock<Option<std::fs::File>>>,
}

/// `--state-dir`, else `$XDG_STATE_HOME/smokegate` (or the platform's equivalent).
pub fn default_state_dir() -> PathBuf {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("smokegate")
}

impl Drop for Journal {
    /// A writer that ends removes its lock file (a killed one's is removed by the next sweep).
    fn drop(&mut self) {
        if std::sync::Arc::strong_count(&self.writer) == 1
            && let Some(Some(_)) = self.writer.get()
        {
            let _ = std::fs::remove_file(self.lock_path(std::process::id()));
        }
    }
}

impl Journal {
    pub fn new(state_dir: &Path) -> Journal {
        Journal { dir: state_dir.join("journal"), writer: Default::default() }
    }

    fn lock_path(&self, pid: u32) -> PathBuf {
        self.dir.join(format!(".writer-{pid}.lock"))
    }

    /// Takes this process's writer lock before its first write (the directory exists).
    fn hold_writer_lock(&self) {
        self.writer.get_or_init(|| {
            let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(self.lock_path(std::process::id())).ok()?;
            f.lock().ok()?;
            Some(f)
        });
    }

    /// Whether the writer `pid` is alive: it still holds its lock. A lock nobody holds (or no
    /// lock file) is a writer that ended; its lock file goes too.
    fn writer_alive(&self, pid: u32) -> bool {
        let path = self.lock_path(pid);
        let Ok(f) = std::fs::File::open(&path) else { return false };
        match f.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) => true,
            Ok(()) => {
                drop(f);
                let _ = std::fs::remove_file(&path);
                false
            }
            Err(_) => false,
        }
    }

    fn path_for(&self, run_id: &str, email: &str) -> PathBuf {
        // The email is unique per identity; keep the file name filesystem-safe.
        let safe: String = email.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
        self.dir.join(format!("{run_id}-{safe}.json"))
    }

    pub fn write(&self, entry: &Entry) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        restrict_dir(&self.dir);
        self.hold_writer_lock();
        let path = self.path_for(&entry.run_id, &entry.email);
        write_atomic(&path, &serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?)?;
        Ok(path)
    }

    /// `write` on a blocking thread: the fsync never stalls the runtime thread every suite's
    /// requests run on. The caller still waits for it, so the promise is the same: an entry is
    /// on disk before the request it covers goes out.
    pub async fn put(&self, entry: &Entry) -> std::io::Result<PathBuf> {
        let (j, e) = (self.clone(), entry.clone());
        off_thread(move || j.write(&e)).await
    }

    /// `write_record` on a blocking thread, as `put`.
    pub async fn put_record(&self, r: &RecordEntry) -> std::io::Result<()> {
        let (j, r) = (self.clone(), r.clone());
        off_thread(move || j.write_record(&r)).await
    }

    fn records_dir(&self) -> PathBuf {
        self.dir.join("records")
    }

    fn record_path(&self, r: &RecordEntry) -> PathBuf {
        let hash = sha2::Sha256::digest(format!("{}\n{}", r.run_id, r.key).as_bytes());
        let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
        self.records_dir().join(format!("{}-{hex}.json", r.run_id))
    }

    pub fn write_record(&self, r: &RecordEntry) -> std::io::Result<()> {
        let dir = self.records_dir();
        std::fs::create_dir_all(&dir)?;
        restrict_dir(&self.dir);
        restrict_dir(&dir);
        self.hold_writer_lock();
        write_atomic(&self.record_path(r), &serde_json::to_vec_pretty(r).map_err(std::io::Error::other)?)
    }

    pub fn remove_record(&self, r: &RecordEntry) -> std::io::Result<()> {
        match std::fs::remove_file(self.record_path(r)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every record entry, newest first — the order to delete them in, since a record may
    /// depend on one created before it; unreadable files are returned as errors by name.
    pub fn records(&self) -> (Vec<RecordEntry>, Vec<String>) {
        let (mut ok, bad) = read_entries::<RecordEntry>(&self.records_dir());
        let at = |r: &RecordEntry| chrono::DateTime::parse_from_rfc3339(&r.created_at).ok();
        ok.sort_by(|a, b| at(b).cmp(&at(a)).then_with(|| b.created_at.cmp(&a.created_at)));
        (ok, bad)
    }

    pub fn remove(&self, entry: &Entry) -> std::io::Result<()> {
        match std::fs::remove_file(self.path_for(&entry.run_id, &entry.email)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes temporary files a killed writer left (`.<entry>.<pid>.<id>.tmp`): the entry they
    /// were about to replace is still there, or — for an identity's first write — its create was
    /// never sent. Files of a writer that is still alive are left alone.
    pub fn sweep_temporaries(&self) {
        for dir in [self.dir.clone(), self.records_dir()] {
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            for p in rd.filter_map(|e| e.ok().map(|e| e.path())) {
                let Some(name) = p.file_name().and_then(|n| n.to_str()) else { continue };
                if !(name.starts_with('.') && name.ends_with(".tmp")) {
                    continue;
                }
                let pid = name.rsplit('.').nth(2).and_then(|p| p.parse::<u32>().ok());
                let alive = pid.is_some_and(|pid| pid == std::process::id() || self.writer_alive(pid));
                if !alive {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    }

    /// Removes "a record may exist" notes whose real record was journaled after them (a run
    /// killed between writing the record and removing its note): the record says how to delete
    /// it, so the note no longer stands for anything unknown.
    pub fn sweep_superseded(&self) {
        let (records, _) = read_entries::<RecordEntry>(&self.records_dir());
        for note in records.iter().filter(|r| r.pending.is_some()) {
            let Some(key) = note.key.strip_suffix(":pending") else { continue };
            if records.iter().any(|r| r.pending.is_none() && r.run_id == note.run_id && r.key == key) {
                let _ = self.remove_record(note);
            }
        }
    }

    /// Every identity entry, oldest first; unreadable files are returned as errors by name.
    pub fn entries(&self) -> (Vec<Entry>, Vec<String>) {
        let (mut ok, bad) = read_entries::<Entry>(&self.dir);
        ok.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        (ok, bad)
    }
}

fn read_entries<T: serde::de::DeserializeOwned>(dir: &Path) -> (Vec<T>, Vec<String>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return (ok, bad) };
    let mut paths: Vec<PathBuf> =
        rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file()).collect();
    paths.sort();
    for p in paths {
        match std::fs::read(&p).ok().and_then(|b| serde_json::from_slice::<T>(&b).ok()) {
            Some(e) => ok.push(e),
            None => bad.push(p.display().to_string()),
        }
    }
    (ok, bad)
}

/// Runs a journal write on tokio's blocking pool (in place outside a runtime).
async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> std::io::Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => h.spawn_blocking(f).await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        Err(_) => f(),
    }
}

/// Writes `bytes` to a unique temporary file beside `path` (0600, synced) and renames it over
/// `path`: readers see the old file or the new one, never half of either, and two writers
/// never share a temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.{}.tmp", std::process::id(), uuid::Uuid::new_v4().simple()));
    if let Err(e) = write_private(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}

pub fn restrict_dir(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_of_dead_writers_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path());
        std::fs::create_dir_all(&j.dir).unwrap();
        let dead = j.dir.join(".r-x.json.4000000000.abc.tmp");
        let mine = j.dir.join(format!(".r-y.json.{}.abc.tmp", std::process::id()));
        // Another writer, alive: it holds its lock (here, through a handle of this test).
        let live = j.dir.join(".r-z.json.4000000001.abc.tmp");
        let held = std::fs::File::create(j.lock_path(4_000_000_001)).unwrap();
        held.lock().unwrap();
        // A writer that ended: its lock file is there, nobody holds it.
        std::fs::File::create(j.lock_path(4_000_000_000)).unwrap();
        for p in [&dead, &mine, &live] {
            std::fs::write(p, "{}").unwrap();
        }
        j.sweep_temporaries();
        assert!(!dead.exists() && mine.exists() && live.exists());
        assert!(!j.lock_path(4_000_000_000).exists(), "the dead writer's lock file goes too");
        drop(held);
        j.sweep_temporaries();
        assert!(!live.exists(), "once its writer ends, its temporaries are swept");
    }

    fn record(key: &str, pending: Option<&str>, at: &str) -> RecordEntry {
        RecordEntry {
            version: 1,
            run_id: "r1".into(),
            gateway: "http://127.0.0.1:1".into(),
            key: key.into(),
            label: "s › t".into(),
            owner: None,
            method: "DELETE".into(),
            path: format!("/x/{key}"),
            headers: Vec::new(),
            body: None,
            accept: vec![StatusPat::Class(2)],
            created_at: at.into(),
            pending: pending.map(str::to_owned),
        }
    }

    #[test]
    fn records_come_newest_first_and_superseded_notes_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path());
        j.write_record(&record("s#0", None, "2026-01-01T00:00:01.000000001Z")).unwrap();
        j.write_record(&record("s#1", None, "2026-01-01T00:00:01.000000002Z")).unwrap();
        // Killed between journaling record 1 and removing its note; record 2's note stands alone.
        j.write_record(&record("s#1:pending", Some("may exist"), "2026-01-01T00:00:01Z")).unwrap();
        j.write_record(&record("s#2:pending", Some("may exist"), "2026-01-01T00:00:02Z")).unwrap();
        j.sweep_superseded();
        let keys: Vec<String> = j.records().0.into_iter().map(|r| r.key).collect();
        assert_eq!(keys, ["s#2:pending", "s#1", "s#0"]);
    }

    #[test]
    fn round_trip_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path());
        let e = Entry {
            version: 1,
            run_id: "r1".into(),
            gateway: "http://127.0.0.1:1".into(),
            email: "smoke+x@example.test".into(),
            password: "pw".into(),
            captures: Default::default(),
            created_at: "2026-01-01T00:00:00Z".into(),
            kept: false,
            state: CreateState::Pending,
            settle_by: None,
            logged_in: false,
            config: None,
            env: [("COGNITO_USER_POOL_ID".to_owned(), "us-east-1_abc".to_owned())].into(),
        };
        let path = j.write(&e).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let (entries, bad) = j.entries();
        assert_eq!((entries.len(), bad.len()), (1, 0));
        j.remove(&e).unwrap();
        j.remove(&e).unwrap();
        assert!(j.entries().0.is_empty());
    }
}
