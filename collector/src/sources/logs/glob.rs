//! Path patterns: `*`, `?` and `[…]` classes within one path component
//! (`/var/log/pods/*/*/*.log`), expanded by walking only the directories
//! the pattern can reach. `**` is not supported: container layouts have a
//! fixed depth.

use std::path::{Component, Path, PathBuf};

/// A validated pattern, split into components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    text: String,
    /// The leading components without wildcards.
    base: PathBuf,
    /// The rest, each possibly with wildcards.
    rest: Vec<String>,
}

impl PathPattern {
    /// Parses an absolute pattern.
    pub fn new(text: &str) -> Result<Self, String> {
        let path = Path::new(text);
        if !path.is_absolute() {
            return Err(format!("{text:?}: must be an absolute path"));
        }
        let mut base = PathBuf::from("/");
        let mut rest = Vec::new();
        for component in path.components() {
            let Component::Normal(c) = component else {
                if matches!(component, Component::ParentDir) {
                    return Err(format!("{text:?}: `..` is not allowed"));
                }
                continue;
            };
            let c = c
                .to_str()
                .ok_or_else(|| format!("{text:?}: not valid UTF-8"))?;
            if c.contains("**") {
                return Err(format!(
                    "{text:?}: `**` is not supported; use one `*` per directory level"
                ));
            }
            if rest.is_empty() && !has_wildcard(c) {
                base.push(c);
            } else {
                check_classes(c).map_err(|e| format!("{text:?}: {e}"))?;
                rest.push(c.to_string());
            }
        }
        Ok(Self {
            text: text.to_string(),
            base,
            rest,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The deepest directory without wildcards (watched for new entries).
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Every existing file the pattern matches (symlinks followed), and
    /// every directory walked to find them.
    pub fn expand(&self, files: &mut Vec<PathBuf>, dirs: &mut Vec<PathBuf>) {
        if self.rest.is_empty() {
            if self.base.is_file() {
                files.push(self.base.clone());
            }
            return;
        }
        let mut level = vec![self.base.clone()];
        for (depth, part) in self.rest.iter().enumerate() {
            let last = depth + 1 == self.rest.len();
            let mut next = Vec::new();
            for dir in &level {
                if !has_wildcard(part) {
                    next.push(dir.join(part));
                    continue;
                }
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                dirs.push(dir.clone());
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    if name.to_str().is_some_and(|n| matches(part, n)) {
                        next.push(entry.path());
                    }
                }
            }
            next.sort();
            if last {
                files.extend(next.into_iter().filter(|p| p.is_file()));
            } else {
                level = next.into_iter().filter(|p| p.is_dir()).collect();
            }
        }
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn check_classes(s: &str) -> Result<(), String> {
    let mut open = false;
    for c in s.chars() {
        match c {
            '[' if !open => open = true,
            ']' if open => open = false,
            _ => {}
        }
    }
    if open {
        Err("unclosed `[`".into())
    } else {
        Ok(())
    }
}

/// Whether `name` matches the one-component pattern. Names starting with
/// `.` only match a pattern that starts with `.`, as in a shell.
pub fn matches(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, len)) = class(&p[pi..], n[ni]) {
                        if ok {
                            pi += len;
                            ni += 1;
                            continue;
                        }
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class at the start of `p` (`[abc]`, `[a-z]`,
/// `[!x]`); returns whether it matched and the class's length.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while let Some(&x) = p.get(i) {
        if x == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            let end = p[i + 2];
            hit |= x <= c && c <= end;
            i += 3;
        } else {
            hit |= x == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_matching() {
        assert!(matches("*.log", "0.log"));
        assert!(!matches("*.log", "0.log.20240101-000000"));
        assert!(matches("*.log*", "0.log.20240101-000000"));
        assert!(matches("?.log", "1.log"));
        assert!(!matches("?.log", "12.log"));
        assert!(matches("[0-9]*.log", "12.log"));
        assert!(!matches("[!0-9]*", "12.log"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(!matches("*", ".hidden"));
        assert!(matches(".*", ".hidden"));
        assert!(matches("*", ""));
    }

    #[test]
    fn expands_a_pod_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in [
            "ns_a_1/app/0.log",
            "ns_a_1/app/0.log.20240101-000000",
            "ns_b_2/web/3.log",
        ] {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "x").unwrap();
        }
        std::fs::create_dir_all(root.join("ns_c_3/dir.log")).unwrap();
        let pattern = PathPattern::new(&format!("{}/*/*/*.log", root.display())).unwrap();
        assert_eq!(pattern.base(), root);
        let (mut files, mut dirs) = (Vec::new(), Vec::new());
        pattern.expand(&mut files, &mut dirs);
        assert_eq!(
            files,
            vec![root.join("ns_a_1/app/0.log"), root.join("ns_b_2/web/3.log")]
        );
        assert!(dirs.contains(&root.to_path_buf()));
        assert!(dirs.contains(&root.join("ns_a_1")));

        let exact = PathPattern::new(&format!("{}/ns_b_2/web/3.log", root.display())).unwrap();
        let mut files = Vec::new();
        exact.expand(&mut files, &mut Vec::new());
        assert_eq!(files.len(), 1);

        assert!(PathPattern::new("relative/*.log").is_err());
        assert!(PathPattern::new("/var/log/**/*.log").is_err());
        assert!(PathPattern::new("/var/log/[a.log").is_err());
    }
}
