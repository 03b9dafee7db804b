//! The PromQL function table: names, argument types and return types. The
//! parser type-checks calls against it; the engine dispatches on the name.

use crate::ast::ValueType;

/// A function's signature.
#[derive(Debug, PartialEq, Eq)]
pub struct FunctionSig {
    pub name: &'static str,
    /// Types of the arguments, in order.
    pub args: &'static [ValueType],
    /// How many trailing arguments of `args` may be left out.
    pub optional: usize,
    /// The last argument may repeat (`label_join`'s source labels).
    pub variadic: bool,
    pub returns: ValueType,
}

use ValueType::{Matrix as M, Scalar as S, String as Str, Vector as V};

macro_rules! sig {
    ($name:literal, [$($arg:expr),*], $ret:expr) => {
        sig!($name, [$($arg),*], $ret, optional = 0, variadic = false)
    };
    ($name:literal, [$($arg:expr),*], $ret:expr, optional = $opt:literal) => {
        sig!($name, [$($arg),*], $ret, optional = $opt, variadic = false)
    };
    ($name:literal, [$($arg:expr),*], $ret:expr, optional = $opt:literal, variadic = $var:literal) => {
        FunctionSig { name: $name, args: &[$($arg),*], optional: $opt, variadic: $var, returns: $ret }
    };
}

/// Every function of Prometheus 2.x (float samples).
pub static FUNCTIONS: &[FunctionSig] = &[
    sig!("abs", [V], V),
    sig!("absent", [V], V),
    sig!("absent_over_time", [M], V),
    sig!("acos", [V], V),
    sig!("acosh", [V], V),
    sig!("asin", [V], V),
    sig!("asinh", [V], V),
    sig!("atan", [V], V),
    sig!("atanh", [V], V),
    sig!("avg_over_time", [M], V),
    sig!("ceil", [V], V),
    sig!("changes", [M], V),
    sig!("clamp", [V, S, S], V),
    sig!("clamp_max", [V, S], V),
    sig!("clamp_min", [V, S], V),
    sig!("cos", [V], V),
    sig!("cosh", [V], V),
    sig!("count_over_time", [M], V),
    sig!("day_of_month", [V], V, optional = 1),
    sig!("day_of_week", [V], V, optional = 1),
    sig!("day_of_year", [V], V, optional = 1),
    sig!("days_in_month", [V], V, optional = 1),
    sig!("deg", [V], V),
    sig!("delta", [M], V),
    sig!("deriv", [M], V),
    sig!("exp", [V], V),
    sig!("floor", [V], V),
    sig!("histogram_quantile", [S, V], V),
    sig!("holt_winters", [M, S, S], V),
    sig!("hour", [V], V, optional = 1),
    sig!("idelta", [M], V),
    sig!("increase", [M], V),
    sig!("irate", [M], V),
    sig!(
        "label_join",
        [V, Str, Str, Str],
        V,
        optional = 0,
        variadic = true
    ),
    sig!("label_replace", [V, Str, Str, Str, Str], V),
    sig!("last_over_time", [M], V),
    sig!("ln", [V], V),
    sig!("log10", [V], V),
    sig!("log2", [V], V),
    sig!("max_over_time", [M], V),
    sig!("min_over_time", [M], V),
    sig!("minute", [V], V, optional = 1),
    sig!("month", [V], V, optional = 1),
    sig!("pi", [], S),
    sig!("predict_linear", [M, S], V),
    sig!("present_over_time", [M], V),
    sig!("quantile_over_time", [S, M], V),
    sig!("rad", [V], V),
    sig!("rate", [M], V),
    sig!("resets", [M], V),
    sig!("round", [V, S], V, optional = 1),
    sig!("scalar", [V], S),
    sig!("sgn", [V], V),
    sig!("sin", [V], V),
    sig!("sinh", [V], V),
    sig!("sort", [V], V),
    sig!("sort_desc", [V], V),
    sig!("sqrt", [V], V),
    sig!("stddev_over_time", [M], V),
    sig!("stdvar_over_time", [M], V),
    sig!("sum_over_time", [M], V),
    sig!("tan", [V], V),
    sig!("tanh", [V], V),
    sig!("time", [], S),
    sig!("timestamp", [V], V),
    sig!("vector", [S], V),
    sig!("year", [V], V, optional = 1),
];

/// The signature of function `name`.
pub fn lookup(name: &str) -> Option<&'static FunctionSig> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(FUNCTIONS.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(lookup("rate").map(|f| f.returns), Some(ValueType::Vector));
        assert!(lookup("nope").is_none());
    }
}
