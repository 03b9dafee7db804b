//! The exposition formats a scrape reads: Prometheus text 0.0.4 and
//! OpenMetrics 1.0, parsed line by line with `nom`.
//!
//! A malformed line becomes a [`LineError`] carrying its line number and
//! the parse goes on with the next line, so one bad line does not cost the
//! whole body. Pathological bodies are refused outright ([`ParseError`]):
//! a line longer than [`ParseLimits::max_line_len`] or more samples than
//! [`ParseLimits::max_samples`].
//!
//! Histogram and summary lines (`_bucket{le="…"}`, `_sum`, `_count`,
//! `{quantile="…"}`) are plain samples here; `# HELP` and `# TYPE` are
//! kept as metadata, other comments (`# UNIT`, free text) are skipped.
//! OpenMetrics exemplars (`… # {trace_id="…"} 1.0`) are accepted and
//! dropped.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, satisfy, space0, space1};
use nom::combinator::{eof, opt, recognize, rest, verify};
use nom::multi::separated_list0;
use nom::sequence::{delimited, pair, preceded, terminated};
use nom::{IResult, Parser};

/// Which exposition format a body is in (from the response's
/// `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `text/plain; version=0.0.4`: timestamps in integer milliseconds.
    #[default]
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`: timestamps in
    /// seconds with a fraction, body ends with `# EOF`.
    OpenMetrics,
}

impl Format {
    /// The format a `Content-Type` header value announces; anything that is
    /// not OpenMetrics is read as the Prometheus text format.
    pub fn from_content_type(content_type: &str) -> Self {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Self::OpenMetrics
        } else {
            Self::Prometheus
        }
    }
}

/// Bounds that refuse pathological bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Longest accepted line, in bytes.
    pub max_line_len: usize,
    /// Most samples accepted in one body.
    pub max_samples: usize,
    /// Most line errors kept (the rest are counted in
    /// [`Exposition::errors_dropped`]).
    pub max_errors: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_line_len: 64 << 10,
            max_samples: 100_000,
            max_errors: 100,
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// Label pairs in the order they were written.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// The sample's own timestamp in milliseconds, if it had one.
    pub timestamp_ms: Option<i64>,
}

/// The `# TYPE` of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

/// `# HELP` or `# TYPE` of one metric family.
#[derive(Debug, Clone, PartialEq)]
pub enum Metadata {
    Help { name: String, text: String },
    Type { name: String, kind: MetricType },
}

/// A line that could not be read; the other lines were.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

/// Why a whole body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: longer than the limit of {limit} bytes")]
    LineTooLong { line: usize, limit: usize },
    #[error("more than the limit of {limit} samples")]
    TooManySamples { limit: usize },
}

/// What a body held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub metadata: Vec<Metadata>,
    /// Lines that could not be read, in order.
    pub errors: Vec<LineError>,
    /// Line errors beyond [`ParseLimits::max_errors`], counted only.
    pub errors_dropped: usize,
    /// Whether `# EOF` was seen.
    pub eof: bool,
}

impl Exposition {
    fn error(&mut self, limits: &ParseLimits, line: usize, message: impl Into<String>) {
        if self.errors.len() < limits.max_errors {
            self.errors.push(LineError {
                line,
                message: message.into(),
            });
        } else {
            self.errors_dropped += 1;
        }
    }
}

/// Parses a whole body. Line errors are collected in
/// [`Exposition::errors`]; only the limits make it fail.
pub fn parse(body: &str, format: Format, limits: &ParseLimits) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    let mut last_line = 0;
    for (index, raw) in body.split('\n').enumerate() {
        let number = index + 1;
        last_line = number;
        if raw.len() > limits.max_line_len {
            return Err(ParseError::LineTooLong {
                line: number,
                limit: limits.max_line_len,
            });
        }
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if out.eof {
            if !line.is_empty() {
                out.error(limits, number, "content after # EOF");
                break;
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        match read_line(line, format) {
            Ok(Line::Sample(sample)) => {
                if out.samples.len() >= limits.max_samples {
                    return Err(ParseError::TooManySamples {
                        limit: limits.max_samples,
                    });
                }
                out.samples.push(sample);
            }
            Ok(Line::Metadata(m)) => out.metadata.push(m),
            Ok(Line::Eof) => out.eof = true,
            Ok(Line::Comment) => {}
            Err(message) => out.error(limits, number, message),
        }
    }
    if format == Format::OpenMetrics && !out.eof {
        out.error(
            limits,
            last_line,
            "OpenMetrics body does not end with # EOF",
        );
    }
    Ok(out)
}

/// One line, read on its own (see [`read_line`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Sample(Sample),
    Metadata(Metadata),
    /// OpenMetrics' `# EOF`.
    Eof,
    /// Any other comment.
    Comment,
}

type PResult<'a, T> = IResult<&'a str, T>;

/// Reads one non-empty line (without its newline), for readers that stream
/// a large file rather than holding a body; the error is the message
/// [`parse`] would report for the line.
pub fn read_line(line: &str, format: Format) -> Result<Line, String> {
    if let Some(comment) = line.strip_prefix('#') {
        return read_comment(comment, format);
    }
    let (_, (name, labels, value, timestamp)) =
        sample_line(line).map_err(|_| format!("malformed sample line {:?}", truncate(line)))?;
    let value = parse_value(value)?;
    let timestamp_ms = timestamp.map(|t| parse_timestamp(t, format)).transpose()?;
    let mut seen: Vec<&str> = Vec::with_capacity(labels.len());
    for (label, _) in &labels {
        if seen.contains(&label.as_str()) {
            return Err(format!("duplicate label {label:?}"));
        }
        seen.push(label);
    }
    Ok(Line::Sample(Sample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
    }))
}

fn read_comment(comment: &str, format: Format) -> Result<Line, String> {
    if comment.trim() == "EOF" && format == Format::OpenMetrics {
        return Ok(Line::Eof);
    }
    let keyword: PResult<'_, (&str, &str)> =
        pair(preceded(space0, alt((tag("HELP"), tag("TYPE")))), rest).parse(comment);
    let Ok((_, (keyword, after))) = keyword else {
        return Ok(Line::Comment);
    };
    if !after.is_empty() && !after.starts_with([' ', '\t']) {
        // `# HELPER …` is free text, not a HELP line.
        return Ok(Line::Comment);
    }
    let parsed: PResult<'_, &str> = delimited(space1, metric_name, space0).parse(after);
    let Ok((text, name)) = parsed else {
        return Err(format!("# {keyword} without a valid metric name"));
    };
    if keyword == "HELP" {
        return Ok(Line::Metadata(Metadata::Help {
            name: name.to_string(),
            text: unescape(text),
        }));
    }
    let kind = match text.trim_end() {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "summary" => MetricType::Summary,
        "untyped" | "unknown" => MetricType::Unknown,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "info" => MetricType::Info,
        "stateset" => MetricType::StateSet,
        other => return Err(format!("# TYPE {name}: unknown type {other:?}")),
    };
    Ok(Line::Metadata(Metadata::Type {
        name: name.to_string(),
        kind,
    }))
}

/// Name, labels, value token and timestamp token of a sample line.
type SampleParts<'a> = (&'a str, Vec<(String, String)>, &'a str, Option<&'a str>);

/// `name{labels} value [timestamp] [# exemplar]`.
fn sample_line(i: &str) -> PResult<'_, SampleParts<'_>> {
    let (i, _) = space0(i)?;
    let (i, name) = metric_name(i)?;
    let (i, labels) = opt(preceded(space0, label_set)).parse(i)?;
    let (i, value) = preceded(space1, token).parse(i)?;
    let (i, timestamp) = opt(preceded(space1, verify(token, |t: &str| t != "#"))).parse(i)?;
    let (i, _) = opt(preceded(space1, exemplar)).parse(i)?;
    let (i, _) = terminated(space0, eof).parse(i)?;
    Ok((i, (name, labels.unwrap_or_default(), value, timestamp)))
}

/// An OpenMetrics exemplar, read and dropped: `# {labels} value [ts]`.
fn exemplar(i: &str) -> PResult<'_, ()> {
    let (i, _) = (char('#'), space1, label_set, space1, token).parse(i)?;
    let (i, _) = opt(preceded(space1, token)).parse(i)?;
    Ok((i, ()))
}

fn token(i: &str) -> PResult<'_, &str> {
    take_while1(|c: char| !c.is_ascii_whitespace())(i)
}

fn metric_name(i: &str) -> PResult<'_, &str> {
    recognize(pair(
        satisfy(|c| c.is_ascii_alphabetic() || c == '_' || c == ':'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
    ))
    .parse(i)
}

fn label_name(i: &str) -> PResult<'_, &str> {
    recognize(pair(
        satisfy(|c| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))
    .parse(i)
}

/// `{a="1", b="2",}`; a trailing comma is allowed.
fn label_set(i: &str) -> PResult<'_, Vec<(String, String)>> {
    let comma = || delimited(space0, char(','), space0);
    delimited(
        pair(char('{'), space0),
        terminated(separated_list0(comma(), label_pair), opt(comma())),
        pair(space0, char('}')),
    )
    .parse(i)
}

fn label_pair(i: &str) -> PResult<'_, (String, String)> {
    let (i, name) = label_name(i)?;
    let (i, _) = delimited(space0, char('='), space0).parse(i)?;
    let (i, value) = label_value(i)?;
    Ok((i, (name.to_string(), value)))
}

/// A quoted label value with `\\`, `\"` and `\n` escapes; any other
/// backslash is kept as written, as Prometheus does.
fn label_value(i: &str) -> PResult<'_, String> {
    let (i, _) = char('"')(i)?;
    let mut value = String::new();
    let mut chars = i.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((&i[at + 1..], value)),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, other)) => {
                    value.push('\\');
                    value.push(other);
                }
                None => break,
            },
            c => value.push(c),
        }
    }
    Err(nom::Err::Error(nom::error::Error::new(
        i,
        nom::error::ErrorKind::Char,
    )))
}

/// HELP text escapes: `\\` and `\n` (and `\"` in OpenMetrics).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Floats as Go's `ParseFloat` reads them in these formats: decimals,
/// exponents, `+Inf`, `-Inf`, `NaN`.
fn parse_value(token: &str) -> Result<f64, String> {
    let lower = token.to_ascii_lowercase();
    match lower.as_str() {
        "nan" => return Ok(f64::NAN),
        "+inf" | "inf" => return Ok(f64::INFINITY),
        "-inf" => return Ok(f64::NEG_INFINITY),
        // Rust also reads `infinity`; the formats do not have it.
        _ if lower.contains("inf") || lower.contains("nan") => {}
        _ => {
            if let Ok(v) = token.parse::<f64>() {
                return Ok(v);
            }
        }
    }
    Err(format!("invalid value {:?}", truncate(token)))
}

fn parse_timestamp(token: &str, format: Format) -> Result<i64, String> {
    let invalid = || format!("invalid timestamp {:?}", truncate(token));
    match format {
        Format::Prometheus => token.parse::<i64>().map_err(|_| invalid()),
        Format::OpenMetrics => {
            let seconds = token.parse::<f64>().map_err(|_| invalid())?;
            let ms = (seconds * 1000.0).round();
            // Within i64 milliseconds; the cast below cannot saturate.
            if ms.is_finite() && ms.abs() < 9.0e18 {
                Ok(ms as i64)
            } else {
                Err(invalid())
            }
        }
    }
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(80);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
