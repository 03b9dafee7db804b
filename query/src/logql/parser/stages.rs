//! The pipeline half of the grammar: line filters, parser and formatting
//! stages, label filter expressions.

use regex::Regex;
use sightline_model::{MatchOp, Matcher};

use super::{PResult, Parser};
use crate::logql::ast::*;
use crate::logql::pattern::Pattern;
use crate::logql::template::Template;
use crate::logql::values::{parse_bytes, parse_go_duration};
use crate::parser::skip_space;

impl Parser<'_> {
    pub(super) fn pipeline(&mut self) -> PResult<Vec<Stage>> {
        let mut stages = Vec::new();
        loop {
            self.ws();
            let r = self.rest();
            let op = if r.starts_with("|=") {
                Some(LineOp::Contains)
            } else if r.starts_with("!=") {
                Some(LineOp::NotContains)
            } else if r.starts_with("|~") {
                Some(LineOp::Matches)
            } else if r.starts_with("!~") {
                Some(LineOp::NotMatches)
            } else {
                None
            };
            if let Some(op) = op {
                self.pos += 2;
                stages.push(Stage::LineFilter(self.line_filter(op)?));
                continue;
            }
            if !r.starts_with('|') {
                return Ok(stages);
            }
            self.pos += 1;
            stages.push(self.stage()?);
        }
    }

    fn line_filter(&mut self, op: LineOp) -> PResult<LineFilter> {
        let mut alternatives = Vec::new();
        loop {
            let at = {
                self.ws();
                self.pos
            };
            let s = self.string()?;
            alternatives.push(match op {
                LineOp::Contains | LineOp::NotContains => LinePattern::Text(s),
                LineOp::Matches | LineOp::NotMatches => LinePattern::Regex(
                    Regex::new(&s)
                        .map_err(|e| self.err_at(at, format!("invalid regex {s:?}: {e}")))?,
                ),
            });
            if !self.eat_keyword("or") {
                return Ok(LineFilter { op, alternatives });
            }
        }
    }

    fn stage(&mut self) -> PResult<Stage> {
        let start = {
            self.ws();
            self.pos
        };
        let word = self.peek_ident().unwrap_or("");
        let is_filter = {
            let after = skip_space(&self.rest()[word.len()..]);
            after.starts_with(['=', '!', '>', '<'])
        };
        if is_filter || word.is_empty() || word == "__error__" {
            return Ok(Stage::LabelFilter(self.label_filter_or()?));
        }
        self.pos += word.len();
        Ok(match word {
            "json" | "unpack" => Stage::Json(self.extraction_params(true)?),
            "logfmt" => {
                loop {
                    self.ws();
                    if self.rest().starts_with("--strict") {
                        self.pos += "--strict".len();
                    } else if self.rest().starts_with("--keep-empty") {
                        self.pos += "--keep-empty".len();
                    } else {
                        break;
                    }
                }
                let params = self.extraction_params(false)?;
                Stage::Logfmt(
                    params
                        .into_iter()
                        .map(|(n, path)| {
                            let key = match path.first() {
                                Some(PathStep::Key(k)) => k.clone(),
                                _ => n.clone(),
                            };
                            (n, key)
                        })
                        .collect(),
                )
            }
            "regexp" => {
                self.ws();
                let at = self.pos;
                let s = self.string()?;
                let re = Regex::new(&s)
                    .map_err(|e| self.err_at(at, format!("invalid regex {s:?}: {e}")))?;
                if re.capture_names().flatten().next().is_none() {
                    return Err(self.err_at(at, "at least one named capture must be supplied"));
                }
                Stage::Regexp(re)
            }
            "pattern" => {
                self.ws();
                let at = self.pos;
                let s = self.string()?;
                Stage::Pattern(Pattern::parse(&s).map_err(|m| self.err_at(at, m))?)
            }
            "line_format" => {
                self.ws();
                let at = self.pos;
                let s = self.string()?;
                Stage::LineFormat(Template::parse(&s).map_err(|m| self.err_at(at, m))?)
            }
            "label_format" => {
                let mut out = Vec::new();
                loop {
                    let dst = self.ident()?.to_string();
                    self.expect("=")?;
                    self.ws();
                    if self.rest().starts_with(['"', '`']) {
                        let at = self.pos;
                        let s = self.string()?;
                        let template = Template::parse(&s).map_err(|m| self.err_at(at, m))?;
                        out.push(LabelFormat::Template { dst, template });
                    } else {
                        let src = self.ident()?.to_string();
                        out.push(LabelFormat::Rename { dst, src });
                    }
                    if !self.eat(",") {
                        break;
                    }
                }
                Stage::LabelFormat(out)
            }
            "drop" | "keep" => {
                let mut out = Vec::new();
                loop {
                    let name = self.ident()?.to_string();
                    self.ws();
                    let r = self.rest();
                    let op = if r.starts_with("=~") {
                        Some((MatchOp::RegexMatch, 2))
                    } else if r.starts_with("!~") {
                        Some((MatchOp::RegexNoMatch, 2))
                    } else if r.starts_with("!=") {
                        Some((MatchOp::NotEqual, 2))
                    } else if r.starts_with('=') {
                        Some((MatchOp::Equal, 1))
                    } else {
                        None
                    };
                    match op {
                        Some((op, len)) => {
                            self.pos += len;
                            let at = self.pos;
                            let v = self.string()?;
                            let m = Matcher::new(op, name, v)
                                .map_err(|e| self.err_at(at, e.to_string()))?;
                            out.push(NameOrMatcher::Matcher(m));
                        }
                        None => out.push(NameOrMatcher::Name(name)),
                    }
                    if !self.eat(",") {
                        break;
                    }
                }
                if word == "drop" {
                    Stage::Drop(out)
                } else {
                    Stage::Keep(out)
                }
            }
            "decolorize" => Stage::Decolorize,
            "unwrap" => {
                let conv = match self.peek_ident() {
                    Some(c @ ("bytes" | "duration" | "duration_seconds")) => {
                        let after = skip_space(&self.rest()[c.len()..]);
                        if after.starts_with('(') {
                            self.pos += c.len();
                            self.expect("(")?;
                            Some(if c == "bytes" {
                                Conversion::Bytes
                            } else {
                                Conversion::Duration
                            })
                        } else {
                            None
                        }
                    }
                    _ => None,
                };
                let label = self.ident()?.to_string();
                if conv.is_some() {
                    self.expect(")")?;
                }
                Stage::Unwrap(Unwrap {
                    label,
                    conversion: conv.unwrap_or(Conversion::Number),
                })
            }
            _ => {
                self.pos = start;
                return Err(self.unexpected());
            }
        })
    }

    /// `json` / `logfmt` parameters: `a, b="x.y[0]"`.
    fn extraction_params(&mut self, json: bool) -> PResult<Vec<(String, Vec<PathStep>)>> {
        let mut out = Vec::new();
        if self.peek_ident().is_none() {
            return Ok(out);
        }
        loop {
            let name = self.ident()?.to_string();
            let path = if self.eat("=") {
                let at = {
                    self.ws();
                    self.pos
                };
                let s = self.string()?;
                if json {
                    parse_json_path(&s).map_err(|m| self.err_at(at, m))?
                } else {
                    vec![PathStep::Key(s)]
                }
            } else {
                vec![PathStep::Key(name.clone())]
            };
            out.push((name, path));
            if !self.eat(",") {
                return Ok(out);
            }
        }
    }

    fn label_filter_or(&mut self) -> PResult<LabelFilter> {
        let mut lhs = self.label_filter_and()?;
        while self.eat_keyword("or") {
            let rhs = self.label_filter_and()?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_and(&mut self) -> PResult<LabelFilter> {
        let mut lhs = self.label_filter_primary()?;
        loop {
            if self.eat_keyword("and") || self.eat(",") {
                let rhs = self.label_filter_primary()?;
                lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
            } else {
                return Ok(lhs);
            }
        }
    }

    fn label_filter_primary(&mut self) -> PResult<LabelFilter> {
        if self.eat("(") {
            let f = self.label_filter_or()?;
            self.expect(")")?;
            return Ok(f);
        }
        let name = self.ident()?.to_string();
        self.ws();
        let ops: [(&str, Option<MatchOp>, CmpOp); 9] = [
            ("=~", Some(MatchOp::RegexMatch), CmpOp::Eq),
            ("!~", Some(MatchOp::RegexNoMatch), CmpOp::Ne),
            ("==", Some(MatchOp::Equal), CmpOp::Eq),
            ("!=", Some(MatchOp::NotEqual), CmpOp::Ne),
            (">=", None, CmpOp::Ge),
            ("<=", None, CmpOp::Le),
            (">", None, CmpOp::Gt),
            ("<", None, CmpOp::Lt),
            ("=", Some(MatchOp::Equal), CmpOp::Eq),
        ];
        let Some(&(tok, mop, cmp)) = ops.iter().find(|(t, _, _)| self.rest().starts_with(t)) else {
            return Err(self.unexpected());
        };
        self.pos += tok.len();
        self.ws();
        if self.rest().starts_with(['"', '`', '\'']) {
            let Some(mop) = mop else {
                return Err(self.err(format!("syntax error: unexpected string, {tok} needs a number, duration or bytes value")));
            };
            let at = self.pos;
            let v = self.string()?;
            let m = Matcher::new(mop, name, v).map_err(|e| self.err_at(at, e.to_string()))?;
            return Ok(LabelFilter::String(m));
        }
        if matches!(tok, "=~" | "!~") {
            return Err(self.err("syntax error: a regular expression matcher needs a string"));
        }
        let at = self.pos;
        let r = self.rest();
        let len = r
            .char_indices()
            .take_while(|&(_, c)| {
                c.is_alphanumeric() || c == '.' || c == 'µ' || c == '-' || c == '+'
            })
            .last()
            .map_or(0, |(i, c)| i + c.len_utf8());
        let text = &r[..len];
        if text.is_empty() {
            return Err(self.unexpected());
        }
        self.pos += len;
        let (value, conversion) = if let Ok(v) = text.parse::<f64>() {
            (v, Conversion::Number)
        } else if let Some(d) = parse_go_duration(text) {
            (d, Conversion::Duration)
        } else if let Some(b) = parse_bytes(text) {
            (b, Conversion::Bytes)
        } else {
            return Err(self.err_at(
                at,
                format!("syntax error: invalid value {text:?}: not a number, duration or bytes"),
            ));
        };
        Ok(LabelFilter::Numeric {
            name,
            op: cmp,
            value,
            conversion,
        })
    }
}

/// `a.b[0]["c d"]`
fn parse_json_path(s: &str) -> Result<Vec<PathStep>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    let bad = || format!("invalid JSON path {s:?}");
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(bad)?;
            let inner = r[..end].trim();
            if let Some(key) = inner.strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
                out.push(PathStep::Key(key.to_string()));
            } else {
                out.push(PathStep::Index(inner.parse().map_err(|_| bad())?));
            }
            rest = &r[end + 1..];
        } else {
            let r = rest.strip_prefix('.').unwrap_or(rest);
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(bad());
            }
            out.push(PathStep::Key(r[..end].to_string()));
            rest = &r[end..];
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}
