//! The environment layer: variables laid over the YAML tree by path.

use serde_yaml::{Mapping, Value};

/// Environment values are YAML scalars, so `SIGHTLINE_INGEST__MAX_BODY_BYTES=1000`
/// is a number; anything that does not parse as a scalar stays a string.
pub(crate) fn parse_value(raw: &str) -> Value {
    match serde_yaml::from_str::<Value>(raw) {
        Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::String(_))) => v,
        _ => Value::String(raw.to_string()),
    }
}

/// Sets `path` in `root` to `value`, creating the mappings on the way.
pub(crate) fn set_path(root: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty field path".into());
    };
    let mut node = root;
    for key in parents {
        let Value::Mapping(map) = node else {
            return Err(format!("`{key}` is not inside a mapping"));
        };
        node = map
            .entry(Value::String(key.clone()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    match node {
        Value::Mapping(map) => {
            map.insert(Value::String(last.clone()), value);
            Ok(())
        }
        _ => Err(format!("`{last}` is not inside a mapping")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn values_are_scalars() {
        assert_eq!(parse_value("1000"), Value::Number(1000.into()));
        assert_eq!(parse_value("true"), Value::Bool(true));
        assert_eq!(parse_value("15s"), Value::String("15s".into()));
        assert_eq!(
            parse_value("http://x:9700"),
            Value::String("http://x:9700".into())
        );
        assert_eq!(parse_value("[a, b]"), Value::String("[a, b]".into()));
        assert_eq!(parse_value("a: b"), Value::String("a: b".into()));
        assert_eq!(parse_value(""), Value::String(String::new()));
    }

    #[test]
    fn paths_create_mappings_and_replace_values() {
        let mut root: Value = serde_yaml::from_str("a: { b: 1 }\nc: 2\n").unwrap();
        let p = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        set_path(&mut root, &p("a.b"), Value::Number(5.into())).unwrap();
        set_path(&mut root, &p("x.y.z"), Value::Bool(true)).unwrap();
        assert_eq!(
            root,
            serde_yaml::from_str::<Value>("a: { b: 5 }\nc: 2\nx: { y: { z: true } }\n").unwrap()
        );
        assert_eq!(
            set_path(&mut root, &p("c.d"), Value::Null),
            Err("`d` is not inside a mapping".into())
        );
        assert_eq!(
            set_path(&mut root, &p("c.d.e"), Value::Null),
            Err("`d` is not inside a mapping".into())
        );
        assert!(set_path(&mut root, &[], Value::Null).is_err());
    }
}
