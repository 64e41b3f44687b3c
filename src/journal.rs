//! The journal of identities a run created: written (mode 0600) before the create request, so a
//! killed run still leaves a record `smokegate cleanup` can act on; removed after a successful
//! deletion. One file per identity, so concurrent runs never contend for a file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Journal({})", self.dir.display())
    }
}

#[derive(Clone)]
pub struct Journal {
    pub dir: PathBuf,
}

/// `--state-dir`, else `$XDG_STATE_HOME/smokegate` (or the platform's equivalent).
pub fn default_state_dir() -> PathBuf {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("smokegate")
}

impl Journal {
    pub fn new(state_dir: &Path) -> Journal {
        Journal { dir: state_dir.join("journal") }
    }

    fn path_for(&self, run_id: &str, email: &str) -> PathBuf {
        // The email is unique per identity; keep the file name filesystem-safe.
        let safe: String = email.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
        self.dir.join(format!("{run_id}-{safe}.json"))
    }

    pub fn write(&self, entry: &Entry) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        restrict_dir(&self.dir);
        let path = self.path_for(&entry.run_id, &entry.email);
        let tmp = path.with_extension("tmp");
        write_private(&tmp, &serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    pub fn remove(&self, entry: &Entry) -> std::io::Result<()> {
        match std::fs::remove_file(self.path_for(&entry.run_id, &entry.email)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every entry, oldest first; unreadable files are returned as errors by name.
    pub fn entries(&self) -> (Vec<Entry>, Vec<String>) {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else { return (ok, bad) };
        let mut paths: Vec<PathBuf> =
            rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
        paths.sort();
        for p in paths {
            match std::fs::read(&p).ok().and_then(|b| serde_json::from_slice::<Entry>(&b).ok()) {
                Some(e) => ok.push(e),
                None => bad.push(p.display().to_string()),
            }
        }
        ok.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        (ok, bad)
    }
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
