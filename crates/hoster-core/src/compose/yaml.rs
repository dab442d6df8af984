//! YAML → `serde_json::Value`, read as Compose reads it (YAML 1.2): `yes`, `off`, `n` are
//! strings, not booleans, and a number keeps the spelling it was written in (`010`, `1e3`,
//! `0x1F`, `1.50`) wherever a string is expected, since `environment: {F: 010}` must reach the
//! container as `F=010`. A number written canonically (`8080`, `0.5`) stays a number.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

/// A node as the YAML library typed it, each child with where it was written.
enum Node {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(String, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Node, E> {
                Ok(Node::Bool(b))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Node, E> {
                Ok(Node::Unsigned(n))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Node, E> {
                Ok(Node::Signed(n))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Node, E> {
                Ok(Node::Float(n))
            }
            fn visit_str<E>(self, s: &str) -> Result<Node, E> {
                Ok(Node::Text(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Node, E> {
                Ok(Node::Text(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                // Keys as written: `80: x` and `true: x` are the strings "80" and "true".
                while let Some(key) = map.next_key::<String>()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Node::Map(entries))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// Parses one YAML document within `budget`.
pub fn from_str(yaml: &str, budget: Option<serde_saphyr::Budget>) -> Result<Value, serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        budget: budget,
        // YAML 1.2, as Compose reads it: `yes`, `on`, `n` are strings.
        strict_booleans: true,
        // Infinity and NaN keep their spelling (see `to_value`).
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
    };
    let root: Spanned<Node> = serde_saphyr::from_str_with_options(yaml, options)?;
    Ok(to_value(root, yaml))
}

/// The text a scalar was written as, when the span points at exactly that scalar.
fn written<'a>(node: &Spanned<Node>, yaml: &'a str) -> Option<&'a str> {
    let span = node.defined.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    yaml.get(start..start.checked_add(len)?).map(str::trim)
}

/// A number as JSON, unless it was written in a spelling JSON would lose: then that spelling.
fn number(value: Number, canonical: String, node: &Spanned<Node>, yaml: &str, same: impl Fn(&str) -> bool) -> Value {
    match written(node, yaml) {
        Some(text) if text != canonical && same(text) => Value::String(text.to_string()),
        _ => Value::Number(value),
    }
}

fn to_value(node: Spanned<Node>, yaml: &str) -> Value {
    let parses_to = |n: f64| move |text: &str| yaml_number(text).is_some_and(|t| t == n || (t.is_nan() && n.is_nan()));
    match node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Text(s) => Value::String(s),
        Node::Unsigned(n) => number(n.into(), n.to_string(), &node, yaml, parses_to(n as f64)),
        Node::Signed(n) => number(n.into(), n.to_string(), &node, yaml, parses_to(n as f64)),
        Node::Float(f) => match Number::from_f64(f) {
            Some(n) => {
                let canonical = n.to_string();
                number(n, canonical, &node, yaml, parses_to(f))
            }
            // JSON has no infinity or NaN: keep the YAML spelling.
            None => Value::String(written(&node, yaml).unwrap_or(".nan").to_string()),
        },
        Node::Seq(items) => Value::Array(items.into_iter().map(|i| to_value(i, yaml)).collect()),
        Node::Map(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k, to_value(v, yaml)))
                .collect::<Map<_, _>>(),
        ),
    }
}

/// The value of a YAML 1.2 number literal (decimal, `0x`, `0o`, floats, `.inf`, `.nan`).
fn yaml_number(text: &str) -> Option<f64> {
    let t = text.replace('_', "");
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1.0, rest.to_string()),
        None => (1.0, t.trim_start_matches('+').to_string()),
    };
    let lower = digits.to_ascii_lowercase();
    let radix = |prefix: &str, radix: u32| {
        lower
            .strip_prefix(prefix)
            .and_then(|d| u64::from_str_radix(d, radix).ok())
            .map(|v| v as f64)
    };
    let value = radix("0x", 16)
        .or_else(|| radix("0o", 8))
        .or_else(|| radix("0b", 2))
        .or_else(|| match lower.as_str() {
            ".inf" => Some(f64::INFINITY),
            ".nan" => Some(f64::NAN),
            _ => lower.parse::<f64>().ok(),
        })?;
    Some(sign * value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Value {
        from_str(yaml, None).unwrap()
    }

    #[test]
    fn scalars_keep_their_spelling_where_json_would_lose_it() {
        let v = read(
            "{A: n, B: yes, C: off, D: true, E: 8080, F: 010, G: 0.5, H: 1e3, I: 0x1F, J: 1.50, K: +5, \
             L: .inf, M: '010', N: ~, O: -3, P: 1_000, Q: False}",
        );
        let expected = serde_json::json!({
            "A": "n", "B": "yes", "C": "off", "D": true, "E": 8080, "F": "010", "G": 0.5,
            "H": "1e3", "I": "0x1F", "J": "1.50", "K": "+5", "L": ".inf", "M": "010", "N": null,
            "O": -3, "P": "1_000", "Q": false
        });
        assert_eq!(v, expected);
    }

    #[test]
    fn aliases_and_keys() {
        let v = read("x: &a 1e3\ny: *a\n80: port\ntrue: t\n");
        assert_eq!(v["y"], v["x"]);
        assert_eq!(v["80"], "port");
        assert_eq!(v["true"], "t");
    }
}
