//! Validation problems: every problem in a request is collected and reported at once.

use serde::Serialize;

/// One thing wrong with an input, located by the request field and, inside a compose
/// document, by the dotted path to the offending key (`services.web.build`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// The request field at fault, e.g. `name` or `compose_spec`.
    pub field: String,
    /// Where inside the field's document, for structured fields such as `compose_spec`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            path: None,
            message: message.into(),
        }
    }

    pub fn at(field: impl Into<String>, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            path: Some(path.into()),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(path) if !path.is_empty() => write!(f, "{}: {}: {}", self.field, path, self.message),
            _ => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// A non-empty list of problems, as returned by every validating function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// One sentence for the `error` field of a response: the first problem, and how many more.
    pub fn summary(&self) -> String {
        match self.0.as_slice() {
            [] => "invalid input".to_string(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} (and {} more problems, see details)", rest.len()),
        }
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

impl std::error::Error for Problems {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_the_first_problem_and_counts_the_rest() {
        let problems = Problems(vec![
            Problem::at("compose_spec", "services.web.build", "not supported, use an image"),
            Problem::field("name", "must not be empty"),
        ]);
        assert_eq!(
            problems.summary(),
            "compose_spec: services.web.build: not supported, use an image (and 1 more problems, see details)"
        );
        assert_eq!(
            Problems(vec![Problem::field("name", "too long")]).summary(),
            "name: too long"
        );
    }
}

/// Text that does not name a value of a type: what reading a stored column as an id, a status
/// or a role fails with (`TryFrom<String>`, as the store's row decoding asks for).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what}")]
pub struct Unrecognised {
    pub what: &'static str,
    pub value: String,
}

/// `TryFrom<String>` for a type with a `parse(&str) -> Option<Self>`.
macro_rules! try_from_text {
    ($type:ty, $what:expr) => {
        impl TryFrom<String> for $type {
            type Error = $crate::problem::Unrecognised;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                <$type>::parse(&value).ok_or($crate::problem::Unrecognised { what: $what, value })
            }
        }
    };
}
pub(crate) use try_from_text;
