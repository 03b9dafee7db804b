//! Silences: matchers over a time window that mute alerts; persisted to one
//! JSON file, written atomically (temporary file, fsync, rename).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::matchers::{all_match, ApiMatcher, Matcher};

/// A silence as stored and as the API v2 shows it (times in Unix ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<ApiMatcher>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub updated_at: i64,
    pub created_by: String,
    pub comment: String,
}

/// A silence's state at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now: i64) -> SilenceState {
        if self.ends_at <= now {
            SilenceState::Expired
        } else if self.starts_at > now {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    fn compiled(&self) -> Vec<Matcher> {
        self.matchers
            .iter()
            .filter_map(|m| m.to_matcher().ok())
            .collect()
    }

    /// Whether the silence mutes these labels now.
    pub fn mutes(&self, labels: &BTreeMap<String, String>, now: i64) -> bool {
        self.state(now) == SilenceState::Active && all_match(&self.compiled(), labels)
    }
}

/// Why a silence was refused.
#[derive(Debug, thiserror::Error)]
pub enum SilenceError {
    #[error("{0}")]
    Invalid(String),
    #[error("silence {0} not found")]
    NotFound(String),
    #[error("writing silences: {0}")]
    Io(#[from] std::io::Error),
}

/// All silences, kept in memory and on disk.
#[derive(Debug)]
pub struct Silences {
    path: Option<PathBuf>,
    list: Vec<Silence>,
}

/// Expired silences are kept this long (as Alertmanager's retention).
const RETENTION_MS: i64 = 120 * 3600 * 1000;

impl Silences {
    /// Loads `path` if it exists; `None` keeps silences in memory only.
    pub fn open(path: Option<PathBuf>) -> Result<Self, SilenceError> {
        let list = match &path {
            Some(p) if p.exists() => {
                let text = std::fs::read_to_string(p)?;
                serde_json::from_str(&text)
                    .map_err(|e| SilenceError::Invalid(format!("{}: {e}", p.display())))?
            }
            _ => Vec::new(),
        };
        Ok(Self { path, list })
    }

    pub fn list(&self) -> &[Silence] {
        &self.list
    }

    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.list.iter().find(|s| s.id == id)
    }

    /// The ids of the silences muting `labels` now.
    pub fn muting(&self, labels: &BTreeMap<String, String>, now: i64) -> Vec<String> {
        self.list
            .iter()
            .filter(|s| s.mutes(labels, now))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Creates a silence, or updates the one with `id` (an active silence
    /// whose matchers change is expired and replaced, as Alertmanager does).
    /// Returns the id.
    pub fn upsert(&mut self, mut s: Silence, now: i64) -> Result<String, SilenceError> {
        if s.matchers.is_empty() {
            return Err(SilenceError::Invalid(
                "at least one matcher required".into(),
            ));
        }
        for m in &s.matchers {
            if m.name.is_empty() {
                return Err(SilenceError::Invalid("invalid label name \"\"".into()));
            }
            m.to_matcher().map_err(SilenceError::Invalid)?;
        }
        let compiled = s.compiled();
        if compiled.iter().all(|m| m.matches(&BTreeMap::new())) {
            return Err(SilenceError::Invalid(
                "at least one matcher must not match the empty string".into(),
            ));
        }
        if s.ends_at <= s.starts_at {
            return Err(SilenceError::Invalid(
                "end time must not be before start time".into(),
            ));
        }
        if s.ends_at <= now {
            return Err(SilenceError::Invalid(
                "end time can't be in the past".into(),
            ));
        }
        if s.created_by.is_empty() {
            return Err(SilenceError::Invalid("missing creator".into()));
        }
        if s.comment.is_empty() {
            return Err(SilenceError::Invalid("missing comment".into()));
        }
        s.updated_at = now;
        if !s.id.is_empty() {
            let Some(pos) = self.list.iter().position(|o| o.id == s.id) else {
                return Err(SilenceError::NotFound(s.id));
            };
            let old = &mut self.list[pos];
            let same_matchers = old.matchers == s.matchers;
            if old.state(now) == SilenceState::Expired {
                return Err(SilenceError::Invalid("silence is expired".into()));
            }
            if same_matchers {
                if old.state(now) == SilenceState::Active {
                    s.starts_at = old.starts_at;
                }
                *old = s.clone();
                self.save()?;
                return Ok(s.id);
            }
            old.ends_at = now;
            old.updated_at = now;
        }
        s.id = new_id();
        if s.starts_at < now {
            s.starts_at = now;
        }
        let id = s.id.clone();
        self.list.push(s);
        self.gc(now);
        self.save()?;
        Ok(id)
    }

    /// Ends a silence now.
    pub fn expire(&mut self, id: &str, now: i64) -> Result<(), SilenceError> {
        let s = self
            .list
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
        match s.state(now) {
            SilenceState::Expired => {
                return Err(SilenceError::Invalid("silence is already expired".into()))
            }
            SilenceState::Pending => {
                s.starts_at = now;
                s.ends_at = now;
            }
            SilenceState::Active => s.ends_at = now,
        }
        s.updated_at = now;
        self.save()
    }

    fn gc(&mut self, now: i64) {
        self.list.retain(|s| s.ends_at + RETENTION_MS > now);
    }

    fn save(&self) -> Result<(), SilenceError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let body = serde_json::to_vec_pretty(&self.list)
            .map_err(|e| SilenceError::Invalid(e.to_string()))?;
        write_atomically(path, &body)?;
        Ok(())
    }
}

/// Writes `body` to `path` so a crash leaves either the old or the new file.
pub fn write_atomically(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(body)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// A random UUID (v4) from the OS's randomness.
fn new_id() -> String {
    let mut b = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !filled {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = (t ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn silence(name: &str, value: &str, start: i64, end: i64) -> Silence {
        Silence {
            id: String::new(),
            matchers: vec![ApiMatcher {
                name: name.into(),
                value: value.into(),
                is_regex: false,
                is_equal: true,
            }],
            starts_at: start,
            ends_at: end,
            updated_at: 0,
            created_by: "me".into(),
            comment: "maintenance".into(),
        }
    }

    #[test]
    fn mute_expire_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silences.json");
        let mut s = Silences::open(Some(path.clone())).unwrap();
        let id = s.upsert(silence("job", "api", 1000, 5000), 1000).unwrap();
        let labels: BTreeMap<String, String> = [("job".to_string(), "api".to_string())].into();
        assert_eq!(s.muting(&labels, 2000), vec![id.clone()]);
        let reopened = Silences::open(Some(path.clone())).unwrap();
        assert_eq!(reopened.list(), s.list());
        s.expire(&id, 3000).unwrap();
        assert!(s.muting(&labels, 3000).is_empty());
        assert_eq!(
            Silences::open(Some(path))
                .unwrap()
                .get(&id)
                .unwrap()
                .ends_at,
            3000
        );
        assert!(s.upsert(silence("job", "", 1000, 5000), 1000).is_err());
        assert!(s.upsert(silence("job", "x", 1000, 900), 1000).is_err());
    }
}
