//! The `| pattern` parser: literal text and `<name>` captures (`<_>` skips).
//! A capture takes everything up to the next literal; a line that does not
//! fit the pattern yields no labels.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Capture(Option<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<Part>,
}

impl Pattern {
    pub fn parse(src: &str) -> Result<Self, String> {
        let mut parts: Vec<Part> = Vec::new();
        let mut rest = src;
        let mut named = 0;
        while !rest.is_empty() {
            let capture = rest.strip_prefix('<').and_then(|r| {
                let end = r.find('>')?;
                let name = &r[..end];
                let ok = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit());
                ok.then(|| (name, &r[end + 1..]))
            });
            match capture {
                Some((name, after)) => {
                    if matches!(parts.last(), Some(Part::Capture(_))) {
                        return Err(format!(
                            "invalid pattern {src:?}: consecutive captures must be separated by text"
                        ));
                    }
                    if name == "_" {
                        parts.push(Part::Capture(None));
                    } else {
                        named += 1;
                        parts.push(Part::Capture(Some(name.to_string())));
                    }
                    rest = after;
                }
                None => {
                    let c = rest.chars().next().unwrap_or('<');
                    match parts.last_mut() {
                        Some(Part::Literal(l)) => l.push(c),
                        _ => parts.push(Part::Literal(c.to_string())),
                    }
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        if named == 0 {
            return Err(format!(
                "invalid pattern {src:?}: at least one named capture is required"
            ));
        }
        Ok(Self { parts })
    }

    /// The captures of `line`, or `None` if it does not fit.
    pub fn matches<'a>(&self, line: &'a str) -> Option<Vec<(&str, &'a str)>> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while i < self.parts.len() {
            match &self.parts[i] {
                Part::Literal(l) => {
                    if !line[pos..].starts_with(l.as_str()) {
                        return None;
                    }
                    pos += l.len();
                }
                Part::Capture(name) => {
                    let (value, next) = match self.parts.get(i + 1) {
                        Some(Part::Literal(l)) => {
                            let at = line[pos..].find(l.as_str())?;
                            i += 1;
                            (&line[pos..pos + at], pos + at + l.len())
                        }
                        _ => (&line[pos..], line.len()),
                    };
                    if let Some(n) = name {
                        out.push((n.as_str(), value));
                    }
                    pos = next;
                }
            }
            i += 1;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log() {
        let p = Pattern::parse(r#"<ip> - - [<_>] "<method> <path> <_>" <status> <size>"#).unwrap();
        let got = p
            .matches(r#"10.0.0.1 - - [10/Oct/2023:13:55:36 +0000] "GET /api/v1 HTTP/1.1" 200 512"#)
            .unwrap();
        assert_eq!(
            got,
            [
                ("ip", "10.0.0.1"),
                ("method", "GET"),
                ("path", "/api/v1"),
                ("status", "200"),
                ("size", "512")
            ]
        );
        assert_eq!(p.matches("garbage"), None);
        assert!(Pattern::parse("<a><b>").is_err());
        assert!(Pattern::parse("no captures <_>").is_err());
    }
}
