//! Docker Compose documents: parsed from YAML into a typed, normalised model.
//!
//! Every syntax Compose allows for a supported key (short and long port forms, environment as a
//! map or a list, ...) becomes one canonical value, so the planner never sees syntax. A key
//! Hoster would not honour is rejected with its path rather than silently ignored.

pub mod document;
pub mod engine_rules;
pub mod interpolate;
pub mod locate;
mod model;
mod parse;
pub mod policy;
mod render;
mod units;
mod yaml;

pub use model::*;
pub use parse::{Limits, Located, check_document, load, parse, parse_and_check, parse_value};
pub use units::{format_bytes, format_duration, parse_bytes, parse_duration};

#[cfg(test)]
mod tests;
