//! The session cache of `smokegate token`/`call`/`logout`: one 0600 file per gateway origin
//! under the state dir, holding what a later `logout` or `cleanup` needs, so a cached user is
//! never lost; locked per origin so concurrent commands create one user.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value as J;
use sha2::{Digest, Sha256};

use crate::run::journal;

/// A session cache that cannot be read: named, never shown.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot read the session cache {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the session cache {} is damaged (line {line}, column {column}); delete it", path.display())]
    Damaged { path: PathBuf, line: usize, column: usize },
}

/// One cached session. Holds a password and a token: never derive `Debug`.
#[derive(Serialize, Deserialize)]
pub struct Session {
    pub version: u32,
    /// The gateway origin this session belongs to.
    pub gateway: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub captures: serde_json::Map<String, J>,
    /// False for service accounts: `logout` then only forgets the token.
    pub disposable: bool,
    pub created_at: String,
    /// The config it was created with: its login refreshes the session, its cleanup deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<crate::load::config::SavedConfig>,
}

/// Where sessions live: `<state dir>/sessions/<sha256(origin)[..16]>.json`.
pub struct SessionStore {
    pub dir: PathBuf,
}

impl SessionStore {
    pub fn new(state_dir: &Path) -> Self {
        SessionStore { dir: state_dir.join("sessions") }
    }

    pub fn path(&self, origin: &str) -> PathBuf {
        let hash = Sha256::digest(origin.as_bytes());
        let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.json"))
    }

    /// The session for this origin; a file that cannot be read is an error naming it (never its contents).
    pub fn load(&self, origin: &str) -> Result<Option<Session>, SessionError> {
        let path = self.path(origin);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SessionError::Read { path, source }),
        };
        let s: Session =
            serde_json::from_str(&text).map_err(|e| SessionError::Damaged { line: e.line(), column: e.column(), path: path.clone() })?;
        Ok((s.gateway == origin).then_some(s))
    }

    pub fn save(&self, s: &Session) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        journal::restrict_dir(&self.dir);
        let path = self.path(&s.gateway);
        journal::write_atomic(&path, &serde_json::to_vec_pretty(s).map_err(std::io::Error::other)?)?;
        Ok(path)
    }

    /// Holds this origin's session for one command: `token`, `call` and `logout` running at
    /// once take turns, so exactly one of them creates the user and the others reuse it.
    pub async fn lock(&self, origin: &str) -> std::io::Result<std::fs::File> {
        std::fs::create_dir_all(&self.dir)?;
        journal::restrict_dir(&self.dir);
        let path = self.path(origin).with_extension("lock");
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        // Waiting for another process blocks a thread: not the runtime's (signals still land).
        tokio::task::spawn_blocking(move || file.lock().map(|()| file)).await.map_err(std::io::Error::other)?
    }

    pub fn remove(&self, origin: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(origin)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
