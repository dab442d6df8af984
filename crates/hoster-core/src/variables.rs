//! Template variables: what a creator declares, what a customer fills in, and the values a
//! deployment's compose file is interpolated with ([`crate::compose::interpolate`]).
//!
//! A deployment stores the values its customer gave and those generated for it (passwords,
//! secrets without a default); defaults come from the template at each start, and the four
//! built-ins from the deployment itself.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::problem::Problem;

/// What values a variable takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    String,
    Number,
    Boolean,
    /// One of `options`.
    Enum,
    /// Secret, and generated per deployment when the customer gives none.
    Password,
}

/// The characters a generated value is drawn from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Charset {
    /// `A-Z a-z 0-9`.
    #[default]
    Alphanumeric,
    /// `0-9 a-f`.
    Hex,
    /// `0-9`.
    Numeric,
    /// `a-z 0-9`.
    Lowercase,
    /// `A-Z a-z 0-9 - _`.
    Base64url,
}

impl Charset {
    fn alphabet(self) -> &'static [u8] {
        match self {
            Charset::Alphanumeric => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            Charset::Hex => b"0123456789abcdef",
            Charset::Numeric => b"0123456789",
            Charset::Lowercase => b"abcdefghijklmnopqrstuvwxyz0123456789",
            Charset::Base64url => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        }
    }
}

/// How a value is generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Generate {
    /// 8 to 256; 32 when absent.
    #[serde(default = "default_length")]
    pub length: usize,
    #[serde(default)]
    pub charset: Charset,
}

fn default_length() -> usize {
    32
}

impl Default for Generate {
    fn default() -> Self {
        Self {
            length: default_length(),
            charset: Charset::default(),
        }
    }
}

impl Generate {
    /// A value drawn with `random(n)`, which returns a uniform index below `n` (the shell passes
    /// the operating system's CSPRNG).
    pub fn value(&self, random: &mut dyn FnMut(usize) -> usize) -> String {
        let alphabet = self.charset.alphabet();
        (0..self.length)
            .map(|_| alphabet[random(alphabet.len())] as char)
            .collect()
    }
}

/// A value a customer supplies (or accepts the default of) when deploying.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// `UPPER_SNAKE_CASE`, as referenced by `${NAME}`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "type", default)]
    pub kind: Kind,
    /// The allowed values of an `enum`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// A string, number or boolean; kept as the text it interpolates as.
    #[serde(default, deserialize_with = "scalar_text", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// Never echoed back: its default is write-only, its values are revealed only to the
    /// deployment's owner on request. `password` variables are always secret.
    #[serde(default)]
    pub secret: bool,
    /// How a value is generated when the customer gives none (secrets without a default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<Generate>,
}

fn scalar_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => text_of(&v)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("a default is a string, a number or a boolean")),
    }
}

/// A JSON scalar as the text it interpolates as.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Variable {
    pub fn is_secret(&self) -> bool {
        self.secret || self.kind == Kind::Password
    }

    /// Whether a deployment that is given no value gets a generated one.
    pub fn generates(&self) -> bool {
        self.is_secret() && self.default.is_none()
    }

    /// The variable as responses show it: a secret's default withheld.
    pub fn redacted(self) -> Variable {
        Variable {
            default: if self.is_secret() { None } else { self.default },
            ..self
        }
    }

    /// Why `value` is not one of this variable's values; a secret's value is not repeated.
    fn refuses(&self, value: &str) -> Option<String> {
        if value.contains('\0') {
            return Some("must not contain NUL characters".into());
        }
        if value.len() > MAX_VALUE_BYTES {
            return Some(format!("is {} bytes; the limit is {MAX_VALUE_BYTES}", value.len()));
        }
        let shown = match self.is_secret() {
            true => "the value".to_string(),
            false => format!("`{value}`"),
        };
        match self.kind {
            Kind::Number if !value.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
                Some(format!("{shown} is not a number"))
            }
            Kind::Boolean if value != "true" && value != "false" => Some(format!("{shown} is not true or false")),
            Kind::Enum if !self.options.iter().any(|o| o == value) => {
                Some(format!("{shown} is not one of {}", self.options.join(", ")))
            }
            _ => None,
        }
    }
}

const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Names Hoster sets for every deployment; a template may use them without declaring them.
pub const BUILT_INS: [&str; 4] = [
    "HOSTER_DEPLOYMENT_ID",
    "HOSTER_DEPLOYMENT_NAME",
    "HOSTER_DOMAIN",
    "HOSTER_URL",
];

/// The built-in values of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltIns {
    pub deployment_id: String,
    pub deployment_name: String,
    pub domain: String,
    pub url: String,
}

impl BuiltIns {
    /// Stand-ins a template is validated with.
    pub fn placeholder() -> Self {
        Self {
            deployment_id: "dep_0000000000000000".into(),
            deployment_name: "app".into(),
            domain: "app.example.com".into(),
            url: "https://app.example.com".into(),
        }
    }

    /// The value of the built-in `name`; `None` for any other name.
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            "HOSTER_DEPLOYMENT_ID" => Some(&self.deployment_id),
            "HOSTER_DEPLOYMENT_NAME" => Some(&self.deployment_name),
            "HOSTER_DOMAIN" => Some(&self.domain),
            "HOSTER_URL" => Some(&self.url),
            _ => None,
        }
    }
}

/// A value a deployment holds for a variable.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assigned {
    pub value: String,
    /// Hoster generated it, rather than the customer giving it.
    #[serde(default)]
    pub generated: bool,
}

/// Values are secrets more often than not: debug output never shows them.
impl std::fmt::Debug for Assigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assigned")
            .field("value", &"<hidden>")
            .field("generated", &self.generated)
            .finish()
    }
}

/// A deployment's values by variable name.
pub type Values = BTreeMap<String, Assigned>;

/// A short digest (FNV-1a, 64 bits, hex) of a deployment's values: containers are labelled with
/// it, so a start after the values changed makes new containers instead of restarting ones with
/// the old environment. Deployments without values all have the same revision.
pub fn revision(values: &Values) -> String {
    let hash = values
        .iter()
        .flat_map(|(name, a)| [name.as_bytes(), b"=", a.value.as_bytes(), b"\0"])
        .flatten()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{hash:016x}")
}

/// The value `name` interpolates as for a deployment: a built-in, the deployment's own value,
/// or the template's default; `None` when unset.
pub fn lookup(declared: &[Variable], values: &Values, built_ins: &BuiltIns, name: &str) -> Option<String> {
    if let Some(v) = built_ins.get(name) {
        return Some(v.to_string());
    }
    if let Some(a) = values.get(name) {
        return Some(a.value.clone());
    }
    declared.iter().find(|v| v.name == name).and_then(|v| v.default.clone())
}

/// Values a template is checked with at create: defaults, and for required variables without
/// one and secrets to be generated, a value of the right type.
pub fn placeholders(declared: &[Variable]) -> Values {
    declared
        .iter()
        .filter(|v| v.default.is_none() && (v.required || v.generates()))
        .map(|v| {
            let value = match v.kind {
                Kind::Number => "1".to_string(),
                Kind::Boolean => "true".to_string(),
                Kind::Enum => v.options.first().cloned().unwrap_or_default(),
                Kind::String | Kind::Password => "placeholder".to_string(),
            };
            (
                v.name.clone(),
                Assigned {
                    value,
                    generated: false,
                },
            )
        })
        .collect()
}

/// Checks the declarations of a template, each problem under `variables[i]`.
pub fn check_declarations(p: &mut Vec<Problem>, declared: &[Variable], max: usize) {
    if declared.len() > max {
        p.push(Problem::field("variables", format!("at most {max} variables")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, v) in declared.iter().enumerate() {
        let field = |k: &str| format!("variables[{i}].{k}");
        let mut chars = v.name.chars();
        let well_formed = v.name.len() <= 64
            && chars.next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !well_formed {
            p.push(Problem::field(
                field("name"),
                format!("`{}` must be UPPER_SNAKE_CASE, at most 64 characters", v.name),
            ));
        }
        if BUILT_INS.contains(&v.name.as_str()) {
            p.push(Problem::field(field("name"), format!("`{}` is set by Hoster", v.name)));
        }
        if !seen.insert(&v.name) {
            p.push(Problem::field(field("name"), format!("`{}` is declared twice", v.name)));
        }
        if v.description.chars().count() > 1000 {
            p.push(Problem::field(field("description"), "must be at most 1000 characters"));
        }
        match (v.kind, v.options.is_empty()) {
            (Kind::Enum, true) => p.push(Problem::field(field("options"), "an enum lists its options")),
            (Kind::Enum, false) => {
                let distinct: std::collections::BTreeSet<_> = v.options.iter().collect();
                if distinct.len() != v.options.len() {
                    p.push(Problem::field(field("options"), "lists an option twice"));
                }
            }
            (_, false) => p.push(Problem::field(field("options"), "only an enum has options")),
            _ => {}
        }
        if let Some(default) = &v.default {
            if v.kind == Kind::Password {
                p.push(Problem::field(
                    field("default"),
                    "a password is generated for each deployment; describe it with `generate` instead",
                ));
            } else if let Some(why) = v.refuses(default) {
                p.push(Problem::field(field("default"), why));
            }
        }
        if let Some(g) = &v.generate {
            if !v.generates() {
                p.push(Problem::field(
                    field("generate"),
                    "only a password, or a secret without a default, is generated",
                ));
            }
            if !(8..=256).contains(&g.length) {
                p.push(Problem::field(field("generate.length"), "must be 8 to 256"));
            }
        }
    }
}

/// Every referenced name is declared or built in, and every declared one is referenced.
/// `used` maps each referenced name to the first place (field, path) it appears.
pub fn check_usage(p: &mut Vec<Problem>, declared: &[Variable], used: &BTreeMap<String, (String, String)>) {
    for (name, (field, path)) in used {
        if !BUILT_INS.contains(&name.as_str()) && !declared.iter().any(|v| &v.name == name) {
            p.push(Problem::at(
                field,
                path,
                format!("`${{{name}}}` is not a declared variable; declare it in `variables`"),
            ));
        }
    }
    for (i, v) in declared.iter().enumerate() {
        if !used.contains_key(&v.name) {
            p.push(Problem::field(
                format!("variables[{i}].name"),
                format!(
                    "`{}` is declared but never used in compose_spec or an interpolated config file",
                    v.name
                ),
            ));
        }
    }
}

/// A deployment's values after a customer's request: `given` (name → string, number, boolean,
/// or `null` to return to the template's default) laid over `current`, with values generated
/// for secrets that have none. Every problem is under `variables.NAME`.
pub fn assign(
    declared: &[Variable],
    given: &serde_json::Map<String, Value>,
    current: &Values,
    random: &mut dyn FnMut(usize) -> usize,
) -> Result<Values, Vec<Problem>> {
    let mut p = Vec::new();
    let mut values = current.clone();
    for (name, value) in given {
        let field = format!("variables.{name}");
        let Some(variable) = declared.iter().find(|v| &v.name == name) else {
            let why = match BUILT_INS.contains(&name.as_str()) {
                true => format!("`{name}` is set by Hoster"),
                false => format!("`{name}` is not a variable of this template"),
            };
            p.push(Problem::field(field, why));
            continue;
        };
        if value.is_null() {
            values.remove(name);
            continue;
        }
        let Some(text) = text_of(value) else {
            p.push(Problem::field(field, "must be a string, a number or a boolean"));
            continue;
        };
        let refused = match variable.required && text.is_empty() {
            true => Some("required: this template needs a value".to_string()),
            false => variable.refuses(&text),
        };
        match refused {
            Some(why) => p.push(Problem::field(field, why)),
            None => {
                values.insert(
                    name.clone(),
                    Assigned {
                        value: text,
                        generated: false,
                    },
                );
            }
        }
    }
    for v in declared {
        if values.contains_key(&v.name) {
            continue;
        }
        if v.generates() {
            let value = v.generate.unwrap_or_default().value(random);
            values.insert(v.name.clone(), Assigned { value, generated: true });
        } else if v.required && v.default.is_none() {
            p.push(Problem::field(
                format!("variables.{}", v.name),
                "required: this template needs a value",
            ));
        }
    }
    match p.is_empty() {
        true => Ok(values),
        false => Err(p),
    }
}

#[cfg(test)]
mod tests;
