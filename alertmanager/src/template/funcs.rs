//! The functions templates can call: Go's built-ins that rules use and
//! Prometheus's template functions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::gofmt::{format_g, sprintf};
use super::{QueryFn, Value};
use crate::{Error, Result};

const FUNCTIONS: &[&str] = &[
    "and",
    "args",
    "eq",
    "first",
    "ge",
    "gt",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "index",
    "join",
    "label",
    "le",
    "len",
    "lt",
    "match",
    "ne",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "query",
    "reReplaceAll",
    "safeHtml",
    "sortByLabel",
    "stripDomain",
    "stripPort",
    "strvalue",
    "title",
    "toLower",
    "toUpper",
    "trimSpace",
    "urlquery",
    "value",
];

pub(super) fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<()> {
    if args.len() == n {
        Ok(())
    } else {
        Err(Error::Template(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )))
    }
}

fn num(name: &str, v: &Value) -> Result<f64> {
    v.as_f64().ok_or_else(|| {
        Error::Template(format!(
            "error calling {name}: can't convert {:?} to float",
            v.to_text()
        ))
    })
}

fn text(v: &Value) -> String {
    v.to_text()
}

pub(super) fn call(name: &str, mut args: Vec<Value>, query: Option<QueryFn<'_>>) -> Result<Value> {
    let one = |args: &[Value]| -> Result<()> { arity(name, args, 1) };
    Ok(match name {
        "humanize" => {
            one(&args)?;
            Value::Str(humanize(num(name, &args[0])?))
        }
        "humanize1024" => {
            one(&args)?;
            Value::Str(humanize1024(num(name, &args[0])?))
        }
        "humanizeDuration" => {
            one(&args)?;
            Value::Str(humanize_duration(num(name, &args[0])?))
        }
        "humanizePercentage" => {
            one(&args)?;
            Value::Str(format!(
                "{}%",
                format_g(num(name, &args[0])? * 100.0, Some(4))
            ))
        }
        "humanizeTimestamp" => {
            one(&args)?;
            Value::Str(humanize_timestamp(num(name, &args[0])?))
        }
        "printf" => {
            if args.is_empty() {
                return Err(Error::Template("wrong number of args for printf".into()));
            }
            let fmt = text(&args[0]);
            Value::Str(sprintf(&fmt, &args[1..]))
        }
        "print" => Value::Str(go_print(&args)),
        "println" => {
            let parts: Vec<String> = args.iter().map(text).collect();
            Value::Str(format!("{}\n", parts.join(" ")))
        }
        "trimSpace" => {
            one(&args)?;
            Value::Str(text(&args[0]).trim().to_string())
        }
        "urlquery" => Value::Str(query_escape(&go_print(&args))),
        "toUpper" => {
            one(&args)?;
            Value::Str(text(&args[0]).to_uppercase())
        }
        "toLower" => {
            one(&args)?;
            Value::Str(text(&args[0]).to_lowercase())
        }
        "title" => {
            one(&args)?;
            Value::Str(title(&text(&args[0])))
        }
        "safeHtml" => {
            one(&args)?;
            Value::Str(text(&args[0]))
        }
        "strvalue" => {
            one(&args)?;
            match &args[0] {
                Value::Sample(l, _) => Value::Str(l.get("__value__").cloned().unwrap_or_default()),
                v => Value::Str(text(v)),
            }
        }
        "stripPort" => {
            one(&args)?;
            let s = text(&args[0]);
            Value::Str(strip_port(&s))
        }
        "stripDomain" => {
            one(&args)?;
            let s = text(&args[0]);
            let (host, port) = match s.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h.to_string(), format!(":{p}")),
                _ => (s.clone(), String::new()),
            };
            if host.parse::<std::net::IpAddr>().is_ok() {
                Value::Str(s)
            } else {
                let short = host.split('.').next().unwrap_or("").to_string();
                Value::Str(format!("{short}{port}"))
            }
        }
        "reReplaceAll" => {
            arity(name, &args, 3)?;
            let re = regex::Regex::new(&text(&args[0]))
                .map_err(|e| Error::Template(format!("error calling reReplaceAll: {e}")))?;
            Value::Str(
                re.replace_all(&text(&args[2]), text(&args[1]).as_str())
                    .into_owned(),
            )
        }
        "match" => {
            arity(name, &args, 2)?;
            let re = regex::Regex::new(&text(&args[0]))
                .map_err(|e| Error::Template(format!("error calling match: {e}")))?;
            Value::Bool(re.is_match(&text(&args[1])))
        }
        "query" => {
            one(&args)?;
            let Some(q) = query else {
                return Err(Error::Template(
                    "error calling query: queries are not available here".into(),
                ));
            };
            let result = q(&text(&args[0]))
                .map_err(|e| Error::Template(format!("error calling query: {e}")))?;
            Value::List(
                result
                    .into_iter()
                    .map(|s| {
                        let labels: BTreeMap<String, String> = s
                            .labels
                            .iter()
                            .map(|l| (l.name.clone(), l.value.clone()))
                            .collect();
                        Value::Sample(labels, s.value)
                    })
                    .collect(),
            )
        }
        "first" => {
            one(&args)?;
            match args.swap_remove(0) {
                Value::List(l) => l.into_iter().next().ok_or_else(|| {
                    Error::Template(
                        "error calling first: first() called on vector with no elements".into(),
                    )
                })?,
                v => {
                    return Err(Error::Template(format!(
                        "error calling first: {} is not a query result",
                        v.to_text()
                    )))
                }
            }
        }
        "value" => {
            one(&args)?;
            match &args[0] {
                Value::Sample(_, v) => Value::Num(*v),
                v => Value::Num(num(name, v)?),
            }
        }
        "label" => {
            arity(name, &args, 2)?;
            match &args[1] {
                Value::Sample(l, _) | Value::Map(l) => {
                    Value::Str(l.get(&text(&args[0])).cloned().unwrap_or_default())
                }
                _ => Value::Str(String::new()),
            }
        }
        "sortByLabel" => {
            arity(name, &args, 2)?;
            let key = text(&args[0]);
            match args.swap_remove(1) {
                Value::List(mut l) => {
                    l.sort_by(|a, b| {
                        let get = |v: &Value| match v {
                            Value::Sample(m, _) => m.get(&key).cloned().unwrap_or_default(),
                            _ => String::new(),
                        };
                        get(a).cmp(&get(b))
                    });
                    Value::List(l)
                }
                v => v,
            }
        }
        "args" => {
            let mut m = BTreeMap::new();
            for (i, a) in args.iter().enumerate() {
                m.insert(format!("arg{i}"), text(a));
            }
            Value::Map(m)
        }
        "len" => {
            one(&args)?;
            Value::Int(match &args[0] {
                Value::Str(s) => s.len() as i64,
                Value::Map(m) => m.len() as i64,
                Value::List(l) => l.len() as i64,
                v => {
                    return Err(Error::Template(format!(
                        "error calling len: len of type {}",
                        v.go_type()
                    )))
                }
            })
        }
        "index" => {
            arity(name, &args, 2)?;
            match (&args[0], &args[1]) {
                (Value::Map(m), k) => Value::Str(m.get(&text(k)).cloned().unwrap_or_default()),
                (Value::List(l), Value::Int(i)) => l
                    .get(usize::try_from(*i).unwrap_or(usize::MAX))
                    .cloned()
                    .ok_or_else(|| {
                        Error::Template(format!("error calling index: index out of range: {i}"))
                    })?,
                _ => return Err(Error::Template("error calling index: cannot index".into())),
            }
        }
        "join" => {
            arity(name, &args, 2)?;
            let sep = text(&args[0]);
            match &args[1] {
                Value::List(l) => Value::Str(l.iter().map(text).collect::<Vec<_>>().join(&sep)),
                v => Value::Str(text(v)),
            }
        }
        "not" => {
            one(&args)?;
            Value::Bool(!args[0].truthy())
        }
        "and" => args
            .iter()
            .find(|a| !a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Nil),
        "or" => args
            .iter()
            .find(|a| a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Nil),
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            if args.len() < 2 {
                return Err(Error::Template(format!("missing argument for {name}")));
            }
            if name == "eq" {
                // `eq a b c` is true when a equals any of the others.
                let first = &args[0];
                return Ok(Value::Bool(
                    args[1..]
                        .iter()
                        .any(|b| compare(first, b) == Some(std::cmp::Ordering::Equal)),
                ));
            }
            let ord = compare(&args[0], &args[1]).ok_or_else(|| {
                Error::Template(format!(
                    "error calling {name}: incompatible types for comparison"
                ))
            })?;
            use std::cmp::Ordering::*;
            Value::Bool(match name {
                "ne" => ord != Equal,
                "lt" => ord == Less,
                "le" => ord != Greater,
                "gt" => ord == Greater,
                _ => ord != Less,
            })
        }
        other => return Err(Error::Template(format!("function \"{other}\" not defined"))),
    })
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Int(_) | Value::Num(_), Value::Int(_) | Value::Num(_)) => {
            a.as_f64()?.partial_cmp(&b.as_f64()?)
        }
        (Value::Nil, Value::Nil) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

/// Go's `fmt.Sprint`: spaces only between operands that are not strings.
fn go_print(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&a.to_text());
    }
    out
}

fn strip_port(s: &str) -> String {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, _)) = rest.split_once(']') {
            return host.to_string();
        }
    }
    match s.rsplit_once(':') {
        Some((h, _)) if !h.contains(':') => h.to_string(),
        _ => s.to_string(),
    }
}

/// Go's deprecated `strings.Title`: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

/// Prometheus's `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return format_g(v, Some(4));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", format_g(v, Some(4)))
}

/// Prometheus's `humanize1024`: binary prefixes.
pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return format_g(v, Some(4));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", format_g(v, Some(4)))
}

/// Prometheus's `humanizeDuration`: `1d 2h 3m 4s`, or sub-second units.
pub fn humanize_duration(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return format_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", format_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let a = v.abs();
        let secs = a as i64;
        let (seconds, minutes, hours, days) = (
            secs % 60,
            (secs / 60) % 60,
            (secs / 3600) % 24,
            secs / 86400,
        );
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", format_g(a, Some(4)))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_g(v, Some(4)))
}

/// Prometheus's `humanizeTimestamp`: Go's `time.Time` print of the UTC time.
pub fn humanize_timestamp(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return format_g(v, Some(4));
    }
    // Prometheus goes through model.Time: millisecond precision.
    let ms = ((v * 1e9) as i64).div_euclid(1_000_000);
    let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return format_g(v, Some(4));
    };
    let mut frac = String::new();
    if t.timestamp_subsec_nanos() != 0 {
        frac = format!(".{:09}", t.timestamp_subsec_nanos());
        while frac.ends_with('0') {
            frac.pop();
        }
    }
    format!("{}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"))
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest
/// percent-encoded.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
