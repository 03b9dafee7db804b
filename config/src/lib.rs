//! Layered configuration loading, shared by `sightline serve` and
//! `sightline-collector`.
//!
//! A configuration is a serde struct with `#[serde(default)]` and a default
//! for every field (no `deny_unknown_fields`: strictness is this crate's
//! job). It is built from layers, later ones winning:
//!
//! 1. the struct's defaults;
//! 2. one YAML file ([`Layers::read`]);
//! 3. environment variables ([`Layers::overlay_env`]): a prefix, then the
//!    field's path in upper case with `__` between levels
//!    (`SIGHTLINE_STORAGE__WAL__FSYNC=interval` sets `storage.wal.fsync`).
//!    A value is read as a YAML scalar (a number, a boolean or a string);
//!    lists and maps cannot be set this way;
//! 4. flags, which the caller writes into [`Unvalidated::config`];
//!
//! then semantic checks ([`Unvalidated::validate`]). Nothing stops at the
//! first problem: every unknown field (file or environment, found with
//! `serde_ignored`), the type error with its field path
//! (`serde_path_to_error`) and every failed check end in one
//! [`ConfigError`], one problem per line. Only an unreadable file, invalid
//! YAML or a type error end the loading early, since nothing typed is left
//! to check after them.
//!
//! ```
//! use serde::Deserialize;
//!
//! #[derive(Debug, Default, Deserialize)]
//! #[serde(default)]
//! struct Config {
//!     listen: String,
//!     wal: Wal,
//! }
//!
//! #[derive(Debug, Default, Deserialize)]
//! #[serde(default)]
//! struct Wal {
//!     segment_bytes: u64,
//! }
//!
//! let mut layers = sightline_config::Layers::from_yaml("app.yml", "listen: 127.0.0.1:80\n")?;
//! layers.overlay_env("APP_", [("APP_WAL__SEGMENT_BYTES".to_string(), "4096".to_string())]);
//! let mut draft = layers.deserialize::<Config>()?;
//! draft.config.listen = "0.0.0.0:80".into(); // a flag
//! let config = draft.validate(|c| {
//!     (c.wal.segment_bytes == 0).then(|| "wal.segment_bytes: must be positive".to_string())
//! })?;
//! assert_eq!(config.wal.segment_bytes, 4096);
//!
//! // Every problem at once, each with its path.
//! let mut layers = sightline_config::Layers::from_yaml("app.yml", "listn: x\nwal: {segment_bytes: 0}\n")?;
//! layers.overlay_env("APP_", [("APP_BOGUS".to_string(), "1".to_string())]);
//! let err = layers
//!     .deserialize::<Config>()?
//!     .validate(|c| (c.wal.segment_bytes == 0).then(|| "wal.segment_bytes: must be positive".to_string()))
//!     .unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid configuration (app.yml):\n  - unknown field `listn`\n  - unknown field `bogus`\n  - wal.segment_bytes: must be positive"
//! );
//! # Ok::<(), sightline_config::ConfigError>(())
//! ```

mod env;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

/// Everything wrong with a configuration, one problem per line, each
/// naming the field it is about.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration ({source_name}):{}", bullets(.problems))]
pub struct ConfigError {
    /// The file, or `defaults and environment` without one.
    pub source_name: String,
    pub problems: Vec<String>,
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

fn bullets(problems: &[String]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}

/// The untyped layers — the YAML file with environment variables laid over
/// it — and the problems found in them so far.
#[derive(Debug)]
pub struct Layers {
    source_name: String,
    root: Value,
    problems: Vec<String>,
}

impl Layers {
    /// The file's YAML tree (empty without a file). An unreadable file,
    /// invalid YAML or a top level other than a mapping is an error at
    /// once.
    pub fn read(file: Option<&Path>) -> Result<Self> {
        match file {
            Some(path) => {
                let source_name = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    source_name: source_name.clone(),
                    problems: vec![format!("cannot read {}: {e}", path.display())],
                })?;
                Self::from_yaml(source_name, &text)
            }
            None => Ok(Self {
                source_name: "defaults and environment".into(),
                root: Value::Mapping(Mapping::new()),
                problems: Vec::new(),
            }),
        }
    }

    /// A YAML document given as text; `source_name` names it in errors.
    pub fn from_yaml(source_name: impl Into<String>, text: &str) -> Result<Self> {
        let source_name = source_name.into();
        let fail = |problem: String| ConfigError {
            source_name: source_name.clone(),
            problems: vec![problem],
        };
        let root = match serde_yaml::from_str::<Value>(text).map_err(|e| fail(e.to_string()))? {
            Value::Null => Value::Mapping(Mapping::new()),
            v @ Value::Mapping(_) => v,
            _ => return Err(fail("the top level must be a mapping".into())),
        };
        Ok(Self {
            source_name,
            root,
            problems: Vec::new(),
        })
    }

    /// Lays every variable named `<prefix><PATH>` over the tree; others
    /// are ignored. `PATH` is the field's path in upper case with `__`
    /// between levels; the value is read as a YAML scalar, so
    /// `PREFIX_LIMIT=1000` is a number and `PREFIX_ON=true` a boolean
    /// (anything else stays a string). A path through a field that is not
    /// a mapping is a problem, reported with the variable's name.
    pub fn overlay_env(&mut self, prefix: &str, env: impl IntoIterator<Item = (String, String)>) {
        for (key, raw) in env {
            let Some(path) = key.strip_prefix(prefix) else {
                continue;
            };
            let path: Vec<String> = path.split("__").map(str::to_lowercase).collect();
            if let Err(p) = env::set_path(&mut self.root, &path, env::parse_value(&raw)) {
                self.problems
                    .push(format!("environment variable {key}: {p}"));
            }
        }
    }

    /// Types the tree as `T`. Fields `T` does not have are collected as
    /// problems (`unknown field `a.b``) and loading goes on; a value of
    /// the wrong type ends it, reported with its path (`a.b: invalid
    /// type: …`) after everything found before it.
    pub fn deserialize<T: DeserializeOwned>(self) -> Result<Unvalidated<T>> {
        let Self {
            source_name,
            root,
            mut problems,
        } = self;
        let mut unknown = Vec::new();
        let parsed: std::result::Result<T, _> = serde_path_to_error::deserialize(
            serde_ignored::Deserializer::new(root, &mut |path: serde_ignored::Path<'_>| {
                unknown.push(path.to_string())
            }),
        );
        problems.extend(unknown.into_iter().map(|p| format!("unknown field `{p}`")));
        match parsed {
            Ok(config) => Ok(Unvalidated {
                config,
                source_name,
                problems,
            }),
            Err(e) => {
                problems.push(format!("{}: {}", e.path(), e.inner()));
                Err(ConfigError {
                    source_name,
                    problems,
                })
            }
        }
    }
}

/// A typed configuration not yet checked, with the problems found while
/// reading it (unknown fields). Flags go into `config`; then
/// [`Unvalidated::validate`].
#[derive(Debug)]
pub struct Unvalidated<T> {
    pub config: T,
    source_name: String,
    problems: Vec<String>,
}

impl<T> Unvalidated<T> {
    /// Runs the semantic checks, each problem naming its field; the
    /// configuration if neither they nor the reading found anything.
    pub fn validate<I>(self, check: impl FnOnce(&T) -> I) -> Result<T>
    where
        I: IntoIterator<Item = String>,
    {
        let Self {
            config,
            source_name,
            mut problems,
        } = self;
        problems.extend(check(&config));
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError {
                source_name,
                problems,
            })
        }
    }
}

/// One YAML document typed as strictly as a loaded file, without the
/// environment or semantic checks: for configurations embedded elsewhere
/// (manifests, tests).
pub fn parse_yaml<T: DeserializeOwned>(source_name: impl Into<String>, text: &str) -> Result<T> {
    Layers::from_yaml(source_name, text)?
        .deserialize()?
        .validate(|_| Vec::new())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(default)]
    struct Config {
        name: String,
        limit: u64,
        on: bool,
        paths: Vec<String>,
        labels: BTreeMap<String, String>,
        inner: Inner,
    }

    impl Default for Config {
        fn default() -> Self {
            Self {
                name: "default".into(),
                limit: 10,
                on: false,
                paths: vec!["/a".into()],
                labels: BTreeMap::new(),
                inner: Inner::default(),
            }
        }
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Inner {
        level: String,
        deeper: Deeper,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Deeper {
        count: u32,
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(yaml: &str, vars: &[(&str, &str)]) -> Result<Config> {
        let mut layers = Layers::from_yaml("t.yml", yaml)?;
        layers.overlay_env("T_", env(vars));
        layers.deserialize()?.validate(|_| Vec::new())
    }

    #[test]
    fn no_file_gives_the_defaults() {
        let c: Config = Layers::read(None)
            .unwrap()
            .deserialize()
            .unwrap()
            .validate(|_| Vec::new())
            .unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(load("", &[]).unwrap(), Config::default());
    }

    #[test]
    fn file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yml");
        std::fs::write(&path, "name: file\nlimit: 5\ninner: { level: warn }\n").unwrap();
        let mut layers = Layers::read(Some(&path)).unwrap();
        layers.overlay_env(
            "T_",
            env(&[
                ("T_LIMIT", "7"),
                ("T_ON", "true"),
                ("T_INNER__DEEPER__COUNT", "3"),
                ("T_LABELS__TEAM", "db"),
                ("OTHER_LIMIT", "99"),
            ]),
        );
        let c: Config = layers.deserialize().unwrap().validate(|_| []).unwrap();
        assert_eq!(c.name, "file");
        assert_eq!(c.limit, 7);
        assert!(c.on);
        assert_eq!(c.inner.level, "warn");
        assert_eq!(c.inner.deeper.count, 3);
        assert_eq!(c.labels["team"], "db");
    }

    #[test]
    fn env_values_are_scalars_only() {
        // A number-looking value for a string field stays usable.
        let c = load("", &[("T_NAME", "12")]);
        assert!(c.is_err(), "a number is not a string: {c:?}");
        let c = load("", &[("T_NAME", "'12'")]).unwrap();
        assert_eq!(c.name, "12");
        // Lists cannot be set from the environment.
        let err = load("", &[("T_PATHS", "[/x, /y]")]).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        assert!(
            err.problems[0].starts_with("paths: invalid type: string"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_from_file_and_env_are_all_reported() {
        let err = load(
            "nmae: x\ninner: { levle: warn, deeper: { cout: 1 } }\n",
            &[("T_INNER__BOGUS", "1"), ("T_EXTRA", "2")],
        )
        .unwrap_err();
        assert_eq!(err.source_name, "t.yml");
        let mut problems = err.problems.clone();
        problems.sort();
        assert_eq!(
            problems,
            [
                "unknown field `extra`",
                "unknown field `inner.bogus`",
                "unknown field `inner.deeper.cout`",
                "unknown field `inner.levle`",
                "unknown field `nmae`",
            ]
        );
    }

    #[test]
    fn a_type_error_names_its_path_after_the_unknown_fields() {
        let err = load("typo: 1\ninner: { deeper: { count: many } }\n", &[]).unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
        assert_eq!(err.problems[0], "unknown field `typo`");
        assert!(
            err.problems[1].starts_with("inner.deeper.count: invalid type: string \"many\""),
            "{err}"
        );
    }

    #[test]
    fn env_through_a_scalar_is_a_problem() {
        let err = load("", &[("T_NAME__SUB", "1")]).unwrap_err();
        assert_eq!(err.problems, ["name: invalid type: map, expected a string"]);
        let err = load("name: x\n", &[("T_NAME__SUB", "1")]).unwrap_err();
        assert_eq!(
            err.problems,
            ["environment variable T_NAME__SUB: `sub` is not inside a mapping"]
        );
    }

    #[test]
    fn checks_add_to_the_problems() {
        let err = Layers::from_yaml("t.yml", "bogus: 1\n")
            .unwrap()
            .deserialize::<Config>()
            .unwrap()
            .validate(|c| {
                let mut p = Vec::new();
                if c.limit < 100 {
                    p.push("limit: must be at least 100".to_string());
                }
                p.push("name: reserved".to_string());
                p
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration (t.yml):\n  - unknown field `bogus`\n  - limit: must be at least 100\n  - name: reserved"
        );
    }

    #[test]
    fn unreadable_and_malformed_files_fail_at_once() {
        let err = Layers::read(Some(Path::new("/nonexistent/c.yml"))).unwrap_err();
        assert!(
            err.problems[0].starts_with("cannot read /nonexistent/c.yml"),
            "{err}"
        );
        let err = Layers::from_yaml("t.yml", "a: [").unwrap_err();
        assert_eq!(err.problems.len(), 1);
        let err = Layers::from_yaml("t.yml", "- a\n- b\n").unwrap_err();
        assert_eq!(err.problems, ["the top level must be a mapping"]);
    }

    #[test]
    fn parse_yaml_is_strict() {
        let c: Config = parse_yaml("inline", "limit: 3").unwrap();
        assert_eq!(c.limit, 3);
        let err = parse_yaml::<Config>("inline", "limt: 3").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration (inline):\n  - unknown field `limt`"
        );
    }
}
