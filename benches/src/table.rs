//! Plain-text tables and the number formats the reports share.

use std::fmt::Write as _;

/// A table printed with aligned columns: the first left-aligned, the others
/// right-aligned, two spaces apart.
#[derive(Debug, Clone, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            rows: vec![header.into_iter().map(Into::into).collect()],
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// One line per row, each ending in a newline; short rows leave their
    /// last columns blank.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|col| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(col))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let line: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(col, &width)| {
                    let cell = row.get(col).map_or("", String::as_str);
                    if col == 0 {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        out
    }
}

/// `value / base` as `1.23x`, or `n/a` when there is no meaningful base.
pub fn ratio(value: f64, base: f64) -> String {
    if base > 0.0 && value.is_finite() {
        format!("{:.2}x", value / base)
    } else {
        "n/a".to_string()
    }
}

/// `1.23M`, `456.7k`, `89`.
pub fn rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2}M", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1}k", per_second / 1e3)
    } else {
        format!("{per_second:.0}")
    }
}

/// Bytes in MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut table = Table::new(["name", "value"]);
        table.push(vec!["a-long-name".into(), "1".into()]);
        table.push(vec!["b".into(), "12345".into()]);
        table.push(vec!["short-row".into()]);
        assert_eq!(
            table.render(),
            "name         value\n\
             a-long-name      1\n\
             b            12345\n\
             short-row\n"
        );
    }

    #[test]
    fn number_formats() {
        assert_eq!(ratio(1.0, 0.0), "n/a");
        assert_eq!(ratio(3.0, 2.0), "1.50x");
        assert_eq!(rate(1_234_567.0), "1.23M");
        assert_eq!(rate(45_600.0), "45.6k");
        assert_eq!(rate(12.0), "12");
        assert_eq!(mib(3 * 1024 * 1024 / 2), "1.5");
    }
}
