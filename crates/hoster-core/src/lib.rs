//! Hoster's functional core.
//!
//! Everything here is pure: no I/O, no async, no clock, no randomness. The shell passes in
//! what the outside world provides (the time, random bytes, stored rows) and gets back
//! decisions: validated values, parsed compose models, allowed state transitions.
#![forbid(unsafe_code)]

pub mod access;
pub mod compose;
pub mod deployment;
pub mod error_code;
pub mod hostname;
pub mod id;
pub mod import;
pub mod plan;
pub mod problem;
pub mod rate;
pub mod schedule;
pub mod slug;
pub mod template;
pub mod usage;
pub mod variables;
