//! Reading label values as numbers: Go durations and humanized byte sizes,
//! as LogQL's label filters and `unwrap` do.

/// A Go duration (`1h2m`, `1.5s`, `300ms`, `-2us`) in seconds.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[u..];
    }
    Some(if neg { -total } else { total })
}

/// A humanized size (`42`, `5KB`, `1.5MiB`, `3 kb`) in bytes.
pub fn parse_bytes(s: &str) -> Option<f64> {
    let s = s.trim();
    let n = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    if n == 0 {
        return None;
    }
    let value: f64 = s[..n].parse().ok()?;
    let unit = s[n..].trim().to_ascii_lowercase();
    let scale = match unit.as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "pb" | "p" => 1e15,
        "kib" | "ki" => 1024.0,
        "mib" | "mi" => 1024.0 * 1024.0,
        "gib" | "gi" => 1024.0 * 1024.0 * 1024.0,
        "tib" | "ti" => 1024f64.powi(4),
        "pib" | "pi" => 1024f64.powi(5),
        _ => return None,
    };
    Some(value * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_bytes() {
        assert_eq!(parse_go_duration("1h2m3s"), Some(3723.0));
        assert_eq!(parse_go_duration("1.5s"), Some(1.5));
        assert_eq!(parse_go_duration("250ms"), Some(0.25));
        assert_eq!(parse_go_duration("-2us"), Some(-2e-6));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_bytes("5KB"), Some(5000.0));
        assert_eq!(parse_bytes("1.5MiB"), Some(1_572_864.0));
        assert_eq!(parse_bytes("42"), Some(42.0));
        assert_eq!(parse_bytes("4 kb"), Some(4000.0));
        assert_eq!(parse_bytes("x"), None);
    }
}
