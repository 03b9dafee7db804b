//! Relabeling, in Prometheus's `relabel_configs` schema: rewriting,
//! keeping or dropping a label set by rules applied in order.
//!
//! Supported actions: `replace` (default), `keep`, `drop`, `keepequal`,
//! `dropequal`, `hashmod`, `labelmap`, `labeldrop`, `labelkeep`,
//! `lowercase`, `uppercase`. Regexes are fully anchored, as in Prometheus;
//! replacements expand `$1`, `${1}`, `$name` and `${name}`.
//!
//! `hashmod` sets `target_label` to the MD5 digest of the joined source
//! values, read as a big-endian integer from its last 8 bytes, modulo
//! `modulus`: Prometheus's definition, so collectors and Prometheus
//! servers sharding targets with the same rule agree on every shard.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

/// One rule as written in YAML.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RelabelConfig {
    #[serde(default)]
    pub source_labels: Vec<String>,
    #[serde(default = "default_separator")]
    pub separator: String,
    #[serde(default)]
    pub target_label: Option<String>,
    #[serde(default = "default_regex")]
    pub regex: String,
    #[serde(default = "default_replacement")]
    pub replacement: String,
    /// Divisor for `hashmod`; required (non-zero) there, ignored elsewhere.
    #[serde(default)]
    pub modulus: u64,
    #[serde(default)]
    pub action: Action,
}

fn default_separator() -> String {
    ";".into()
}

fn default_regex() -> String {
    "(.*)".into()
}

fn default_replacement() -> String {
    "$1".into()
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
    HashMod,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Relabel {
    source_labels: Vec<String>,
    separator: String,
    target_label: String,
    regex: Regex,
    replacement: String,
    modulus: u64,
    action: Action,
}

impl RelabelConfig {
    /// Checks the rule as Prometheus does at load; the error says which
    /// field is wrong.
    pub fn compile(&self) -> Result<Relabel, String> {
        let regex = Regex::new(&format!("^(?:{})$", self.regex))
            .map_err(|e| format!("regex {:?}: {e}", self.regex))?;
        let target = self.target_label.clone().unwrap_or_default();
        let needs_target = matches!(
            self.action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && target.is_empty() {
            return Err(format!("action {:?} needs target_label", self.action));
        }
        match self.action {
            Action::HashMod if self.modulus == 0 => {
                return Err("action HashMod needs a non-zero modulus".into());
            }
            Action::LabelDrop | Action::LabelKeep
                if !self.source_labels.is_empty() || !target.is_empty() =>
            {
                return Err(format!(
                    "action {:?} takes only regex (no source_labels or target_label)",
                    self.action
                ));
            }
            Action::HashMod
            | Action::Lowercase
            | Action::Uppercase
            | Action::KeepEqual
            | Action::DropEqual
                if !sightline_model::is_valid_label_name(&target) =>
            {
                return Err(format!("target_label {target:?} is not a valid label name"));
            }
            _ => {}
        }
        Ok(Relabel {
            source_labels: self.source_labels.clone(),
            separator: self.separator.clone(),
            target_label: target,
            regex,
            replacement: self.replacement.clone(),
            modulus: self.modulus,
            action: self.action,
        })
    }
}

/// Compiles every rule, reporting each bad one by index.
pub fn compile_all(rules: &[RelabelConfig], field: &str) -> Result<Vec<Relabel>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        match r.compile() {
            Ok(c) => out.push(c),
            Err(e) => errors.push(format!("{field}[{i}]: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Applies `rules` in order; `false` means the label set is dropped.
/// Labels left with an empty value are removed, as Prometheus does.
pub fn apply(rules: &[Relabel], labels: &mut BTreeMap<String, String>) -> bool {
    for r in rules {
        if !r.apply(labels) {
            return false;
        }
    }
    labels.retain(|_, v| !v.is_empty());
    true
}

impl Relabel {
    fn source_value(&self, labels: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        for (i, name) in self.source_labels.iter().enumerate() {
            if i > 0 {
                out.push_str(&self.separator);
            }
            if let Some(v) = labels.get(name) {
                out.push_str(v);
            }
        }
        out
    }

    fn apply(&self, labels: &mut BTreeMap<String, String>) -> bool {
        match self.action {
            Action::Keep => self.regex.is_match(&self.source_value(labels)),
            Action::Drop => !self.regex.is_match(&self.source_value(labels)),
            Action::KeepEqual | Action::DropEqual => {
                let equal = labels.get(&self.target_label).map_or("", String::as_str)
                    == self.source_value(labels);
                equal == (self.action == Action::KeepEqual)
            }
            Action::Replace => {
                let value = self.source_value(labels);
                let Some(caps) = self.regex.captures(&value) else {
                    return true;
                };
                let mut target = String::new();
                caps.expand(&self.target_label, &mut target);
                if !sightline_model::is_valid_label_name(&target) {
                    return true;
                }
                let mut replaced = String::new();
                caps.expand(&self.replacement, &mut replaced);
                if replaced.is_empty() {
                    labels.remove(&target);
                } else {
                    labels.insert(target, replaced);
                }
                true
            }
            Action::Lowercase | Action::Uppercase => {
                let value = self.source_value(labels);
                let value = if self.action == Action::Lowercase {
                    value.to_lowercase()
                } else {
                    value.to_uppercase()
                };
                labels.insert(self.target_label.clone(), value);
                true
            }
            Action::LabelMap => {
                let mut added = Vec::new();
                for (name, value) in labels.iter() {
                    if let Some(caps) = self.regex.captures(name) {
                        let mut new_name = String::new();
                        caps.expand(&self.replacement, &mut new_name);
                        added.push((new_name, value.clone()));
                    }
                }
                labels.extend(added);
                true
            }
            Action::LabelDrop => {
                labels.retain(|name, _| !self.regex.is_match(name));
                true
            }
            Action::LabelKeep => {
                labels.retain(|name, _| self.regex.is_match(name));
                true
            }
            Action::HashMod => {
                // `compile` refuses a zero modulus; `max(1)` keeps the
                // division total regardless.
                let shard = hash_mod(&self.source_value(labels), self.modulus.max(1));
                labels.insert(self.target_label.clone(), shard.to_string());
                true
            }
        }
    }
}

/// Prometheus's `hashmod`: the last 8 bytes of the MD5 digest of `value`
/// as a big-endian `u64`, modulo `modulus` (non-zero).
pub fn hash_mod(value: &str, modulus: u64) -> u64 {
    use md5::{Digest, Md5};
    let digest: [u8; 16] = Md5::digest(value.as_bytes()).into();
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..]);
    u64::from_be_bytes(tail) % modulus
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Vec<Relabel> {
        let configs: Vec<RelabelConfig> = serde_yaml::from_str(yaml).unwrap();
        compile_all(&configs, "relabel_configs").unwrap()
    }

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn replace_keep_drop_and_label_actions() {
        let r = rules(
            r#"
- source_labels: [__address__]
  regex: '([^:]+):\d+'
  target_label: host
- source_labels: [job, host]
  separator: '/'
  target_label: path
- source_labels: [mode]
  regex: idle
  action: drop
- regex: 'k8s_(.+)'
  action: labelmap
  replacement: 'kube_$1'
- regex: 'k8s_.+'
  action: labeldrop
- source_labels: [Zone]
  target_label: zone
  action: lowercase
"#,
        );
        let mut l = set(&[
            ("__address__", "10.0.0.1:9100"),
            ("job", "node"),
            ("mode", "user"),
            ("k8s_pod", "a"),
            ("Zone", "EU-West"),
        ]);
        assert!(apply(&r, &mut l));
        assert_eq!(l["host"], "10.0.0.1");
        assert_eq!(l["path"], "node/10.0.0.1");
        assert_eq!(l["kube_pod"], "a");
        assert!(!l.contains_key("k8s_pod"));
        assert_eq!(l["zone"], "eu-west");
        let mut idle = set(&[("mode", "idle")]);
        assert!(!apply(&r, &mut idle));
    }

    #[test]
    fn unanchored_looking_regexes_are_anchored_and_empty_results_delete() {
        let r = rules(
            r#"
- source_labels: [a]
  regex: 'b'
  action: keep
- source_labels: [c]
  target_label: d
  replacement: ''
"#,
        );
        let mut l = set(&[("a", "abc")]);
        assert!(!apply(&r, &mut l), "`b` must match the whole value");
        let mut l = set(&[("a", "b"), ("c", "x"), ("d", "old")]);
        assert!(apply(&r, &mut l));
        assert!(!l.contains_key("d"));
    }

    #[test]
    fn bad_rules_are_reported_with_their_index() {
        let configs: Vec<RelabelConfig> = serde_yaml::from_str(
            r#"
- action: replace
- regex: '('
  target_label: x
- action: hashmod
  target_label: x
- action: hashmod
  modulus: 4
- action: hashmod
  modulus: 4
  target_label: 'not a name'
"#,
        )
        .unwrap();
        let errors = compile_all(&configs, "relabel_configs").unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[0].starts_with("relabel_configs[0]: action Replace needs target_label"));
        assert!(errors[1].starts_with("relabel_configs[1]: regex"));
        assert!(errors[2].contains("non-zero modulus"), "{}", errors[2]);
        assert!(
            errors[3].contains("HashMod needs target_label"),
            "{}",
            errors[3]
        );
        assert!(
            errors[4].contains("not a valid label name"),
            "{}",
            errors[4]
        );
    }

    #[test]
    fn hash_mod_is_the_tail_of_the_md5_digest() {
        // RFC 1321 test vectors: MD5("") = d41d8cd98f00b204 e9800998ecf8427e,
        // MD5("abc") = 900150983cd24fb0 d6963f7d28e17f72.
        assert_eq!(hash_mod("", u64::MAX), 0xe980_0998_ecf8_427e);
        assert_eq!(hash_mod("abc", u64::MAX), 0xd696_3f7d_28e1_7f72);
        assert_eq!(hash_mod("abc", 1000), 0xd696_3f7d_28e1_7f72 % 1000);
        assert_eq!(hash_mod("abc", 1), 0);
    }

    #[test]
    fn hashmod_joins_sources_and_sets_the_target() {
        let r = rules(
            r#"
- source_labels: [job, __address__]
  separator: '/'
  action: hashmod
  modulus: 1000
  target_label: shard
- source_labels: [shard]
  regex: '1..'
  action: keep
"#,
        );
        let mut l = set(&[("job", "node"), ("__address__", "10.0.0.1:9100")]);
        let expected = hash_mod("node/10.0.0.1:9100", 1000);
        let kept = apply(&r, &mut l);
        assert_eq!(l.get("shard").cloned(), Some(expected.to_string()));
        assert_eq!(kept, (100..200).contains(&expected));
    }
}
