//! The container engine. Owns every call to Docker; knows nothing of SQL or HTTP.

mod engine;

pub use engine::{Engine, EngineError};
