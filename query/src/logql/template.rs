//! The template language of `line_format` and `label_format`: the subset of
//! Go's text/template that log pipelines use — text, `{{ .label }}`,
//! `{{ __line__ }}`, `{{ __timestamp__ }}`, string literals, and one-argument
//! functions applied as calls (`{{ upper .a }}`) or pipes
//! (`{{ .a | upper }}`). A missing label renders as the empty string.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    Label(String),
    Line,
    Timestamp,
    Literal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Lower,
    Upper,
    TrimSpace,
    Title,
    Length,
}

impl Func {
    fn from_name(n: &str) -> Option<Self> {
        Some(match n {
            "lower" | "ToLower" | "toLower" => Func::Lower,
            "upper" | "ToUpper" | "toUpper" => Func::Upper,
            "trim" | "trimSpace" | "TrimSpace" => Func::TrimSpace,
            "title" | "Title" => Func::Title,
            "len" | "length" => Func::Length,
            _ => return None,
        })
    }

    fn apply(self, s: String) -> String {
        match self {
            Func::Lower => s.to_lowercase(),
            Func::Upper => s.to_uppercase(),
            Func::TrimSpace => s.trim().to_string(),
            Func::Title => {
                let mut out = String::with_capacity(s.len());
                let mut start = true;
                for c in s.chars() {
                    if start {
                        out.extend(c.to_uppercase());
                    } else {
                        out.push(c);
                    }
                    start = !c.is_alphanumeric();
                }
                out
            }
            Func::Length => s.chars().count().to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Action(Operand, Vec<Func>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// What a template can read.
#[derive(Debug)]
pub struct TemplateInput<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub line: &'a str,
    pub ts_ns: i64,
}

impl Template {
    pub fn parse(src: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = src;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("unclosed action in template {src:?}"))?;
            let action = after[..close].trim_matches(|c: char| c.is_whitespace() || c == '-');
            parts.push(parse_action(action)?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self { parts })
    }

    pub fn render(&self, input: &TemplateInput<'_>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Action(op, funcs) => {
                    let mut v = match op {
                        Operand::Label(l) => input.labels.get(l).cloned().unwrap_or_default(),
                        Operand::Line => input.line.to_string(),
                        Operand::Timestamp => chrono::DateTime::from_timestamp_nanos(input.ts_ns)
                            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                        Operand::Literal(s) => s.clone(),
                    };
                    for f in funcs {
                        v = f.apply(v);
                    }
                    out.push_str(&v);
                }
            }
        }
        out
    }
}

fn parse_operand(word: &str) -> Result<Operand, String> {
    if let Some(name) = word.strip_prefix('.') {
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(format!("invalid label reference {word:?} in template"));
        }
        return Ok(Operand::Label(name.to_string()));
    }
    match word {
        "__line__" => Ok(Operand::Line),
        "__timestamp__" => Ok(Operand::Timestamp),
        w if w.len() >= 2
            && (w.starts_with('"') && w.ends_with('"')
                || w.starts_with('`') && w.ends_with('`')) =>
        {
            Ok(Operand::Literal(w[1..w.len() - 1].to_string()))
        }
        w => Err(format!("unsupported template operand {w:?}")),
    }
}

fn parse_action(action: &str) -> Result<Part, String> {
    let mut segments = action.split('|').map(str::trim);
    let head = segments.next().unwrap_or_default();
    let words: Vec<&str> = head.split_whitespace().collect();
    let (operand, mut funcs) = match words.as_slice() {
        [w] => (parse_operand(w)?, Vec::new()),
        [f, w] => {
            let func =
                Func::from_name(f).ok_or_else(|| format!("unknown template function {f:?}"))?;
            (parse_operand(w)?, vec![func])
        }
        _ => return Err(format!("unsupported template action {{{{{action}}}}}")),
    };
    for s in segments {
        funcs.push(Func::from_name(s).ok_or_else(|| format!("unknown template function {s:?}"))?);
    }
    Ok(Part::Action(operand, funcs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let labels: BTreeMap<String, String> = [
            ("level".to_string(), "warn".to_string()),
            ("msg".to_string(), " hi ".to_string()),
        ]
        .into();
        let input = TemplateInput {
            labels: &labels,
            line: "raw",
            ts_ns: 1_500_000_000,
        };
        let t = Template::parse("{{.level | upper}}: {{ trim .msg }} [{{__line__}}] {{.missing}}|")
            .unwrap();
        assert_eq!(t.render(&input), "WARN: hi [raw] |");
        let t = Template::parse("{{ __timestamp__ }}").unwrap();
        assert_eq!(t.render(&input), "1970-01-01T00:00:01.500Z");
        assert!(Template::parse("{{ .a").is_err());
        assert!(Template::parse("{{ printf \"%s\" .a }}").is_err());
    }
}
