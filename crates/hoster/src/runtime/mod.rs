//! The container engine. Owns every call to Docker; knows nothing of SQL or HTTP.

mod containers;
mod engine;
mod objects;

pub use containers::{ContainerState, ContainerStatus, ContainerSummary, Health};
pub use engine::{Engine, EngineError, EngineInfo, public_reason};
