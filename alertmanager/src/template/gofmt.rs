//! Number formatting as Go's `fmt` prints it, which users' templates (and
//! the notifications built from them) depend on: `%g`, `%e`, `%f`, `%v`
//! and `printf`'s verbs.

use super::Value;

/// Decimal digits (no trailing zeros) and the position of the decimal point:
/// `v = 0.d1d2… × 10^dp`. `prec` significant digits, or the shortest
/// round-trip representation.
fn digits(v: f64, prec: Option<usize>) -> (String, i32) {
    let s = match prec {
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
        None => format!("{:e}", v.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: String = mant.chars().filter(char::is_ascii_digit).collect();
    while d.len() > 1 && d.ends_with('0') {
        d.pop();
    }
    if d == "0" {
        return (d, 1);
    }
    (d, exp + 1)
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

fn exp_form(neg: bool, d: &str, dp: i32, min_frac: Option<usize>) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(&d[..1]);
    let mut frac = d[1..].to_string();
    if let Some(n) = min_frac {
        while frac.len() < n {
            frac.push('0');
        }
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    let e = dp - 1;
    out.push_str(&format!("e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs()));
    out
}

/// Go's `%g` (`prec` = `None` for `%v`/shortest).
pub fn format_g(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let neg = v.is_sign_negative() && v != 0.0;
    let (d, dp) = digits(v, prec.map(|p| if p == 0 { 1 } else { p }));
    let nd = d.len() as i32;
    let mut eprec = match prec {
        Some(p) => p.max(1) as i32,
        None => 6,
    };
    if prec.is_some() && eprec > nd && nd >= dp {
        eprec = nd;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        return exp_form(neg, &d, dp, None);
    }
    fixed_from_digits(neg, &d, dp, (nd - dp).max(0) as usize)
}

fn fixed_from_digits(neg: bool, d: &str, dp: i32, frac: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if dp <= 0 {
        out.push('0');
    } else {
        for i in 0..dp as usize {
            out.push(d.as_bytes().get(i).map_or('0', |&b| b as char));
        }
    }
    if frac > 0 {
        out.push('.');
        for i in 0..frac as i32 {
            let idx = dp + i;
            let c = if idx < 0 {
                '0'
            } else {
                d.as_bytes().get(idx as usize).map_or('0', |&b| b as char)
            };
            out.push(c);
        }
    }
    out
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: shortest digits, `%e` form.
pub fn format_e_shortest(v: f64) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let (d, dp) = digits(v, None);
    exp_form(v.is_sign_negative() && v != 0.0, &d, dp, None)
}

/// Go's `%e` with precision (default 6).
pub fn format_e(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let s = format!("{:.*e}", prec, v);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// Go's `%f` with precision (default 6).
pub fn format_f(v: f64, prec: usize) -> String {
    special(v).unwrap_or_else(|| format!("{v:.prec$}"))
}

/// Go's `%v` of a value.
pub fn format_v(v: &Value) -> String {
    v.to_text()
}

/// Go's `fmt.Sprintf` for the verbs templates use.
pub fn sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "-+ 0#".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let body = format_one(verb, prec, &flags, arg);
        let width: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len < width {
            let pad = width - len;
            if flags.contains('-') {
                out.push_str(&body);
                out.extend(std::iter::repeat_n(' ', pad));
            } else if flags.contains('0') && !matches!(arg, Value::Str(_)) {
                let (sign, digits) = match body.strip_prefix('-') {
                    Some(rest) => ("-", rest),
                    None => ("", body.as_str()),
                };
                out.push_str(sign);
                out.extend(std::iter::repeat_n('0', pad));
                out.push_str(digits);
            } else {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    let extra: Vec<&Value> = args.collect();
    if !extra.is_empty() {
        out.push_str("%!(EXTRA ");
        let parts: Vec<String> = extra
            .iter()
            .map(|v| format!("{}={}", v.go_type(), v.to_text()))
            .collect();
        out.push_str(&parts.join(", "));
        out.push(')');
    }
    out
}

fn format_one(verb: char, prec: Option<usize>, flags: &str, arg: &Value) -> String {
    let plus = |s: String, v: f64| {
        if flags.contains('+') && v >= 0.0 {
            format!("+{s}")
        } else if flags.contains(' ') && v >= 0.0 {
            format!(" {s}")
        } else {
            s
        }
    };
    let bad = || format!("%!{verb}({}={})", arg.go_type(), arg.to_text());
    match (verb, arg) {
        ('v', v) => v.to_text(),
        ('s', Value::Str(s)) => match prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        },
        ('s', v @ (Value::Map(_) | Value::Bool(_) | Value::Nil)) => v.to_text(),
        ('q', Value::Str(s)) => format!("{s:?}"),
        ('d', Value::Int(i)) => plus(i.to_string(), *i as f64),
        ('x', Value::Int(i)) => format!("{i:x}"),
        ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
        ('t', Value::Bool(b)) => b.to_string(),
        ('f' | 'F', v) => match v.as_f64() {
            Some(f) if !matches!(v, Value::Str(_)) => plus(format_f(f, prec.unwrap_or(6)), f),
            _ => bad(),
        },
        ('e', v) => match v.as_f64() {
            Some(f) if !matches!(v, Value::Str(_)) => plus(format_e(f, prec.unwrap_or(6)), f),
            _ => bad(),
        },
        ('g', v) => match v.as_f64() {
            Some(f) if !matches!(v, Value::Str(_)) => plus(format_g(f, prec), f),
            _ => bad(),
        },
        _ => bad(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_matches_go() {
        assert_eq!(format_g(1.0, Some(4)), "1");
        assert_eq!(format_g(1234.5, Some(4)), "1234");
        assert_eq!(format_g(12345.0, Some(4)), "1.234e+04");
        assert_eq!(format_g(100000.0, Some(4)), "1e+05");
        assert_eq!(format_g(120.0, Some(4)), "120");
        assert_eq!(format_g(0.0001234, Some(4)), "0.0001234");
        assert_eq!(format_g(0.00001234, Some(4)), "1.234e-05");
        assert_eq!(format_g(1.0, None), "1");
        assert_eq!(format_g(0.5, None), "0.5");
        assert_eq!(format_g(1e6, None), "1e+06");
        assert_eq!(format_g(123456.0, None), "123456");
        assert_eq!(format_g(1234567.0, None), "1.234567e+06");
        assert_eq!(format_g(-2.5, None), "-2.5");
        assert_eq!(format_g(f64::INFINITY, None), "+Inf");
    }

    #[test]
    fn printf_verbs() {
        let args = [Value::Num(2.71666), Value::Str("x".into()), Value::Int(7)];
        assert_eq!(sprintf("%.2f %s %d", &args), "2.72 x 7");
        assert_eq!(sprintf("%5.1f|%-3s|%03d", &args), "  2.7|x  |007");
        assert_eq!(sprintf("%d", &[Value::Num(1.5)]), "%!d(float64=1.5)");
        assert_eq!(sprintf("%e", &[Value::Num(1234.5)]), "1.234500e+03");
        assert_eq!(sprintf("100%%", &[]), "100%");
    }
}
