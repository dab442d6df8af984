//! Hoster's imperative shell: everything that touches the world (SQLite, HTTP, Docker, the
//! clock, randomness) around the pure `hoster_core`.
#![forbid(unsafe_code)]

pub mod acme;
pub mod api;
pub mod backup;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod console;
pub mod deployer;
pub mod dns;
pub mod doctor;
pub mod domains;
pub mod http;
pub mod metrics;
pub mod paths;
pub mod private_fs;
pub mod proxy;
pub mod relay;
pub mod runtime;
pub mod sealing;
pub mod server;
pub mod store;
pub mod tls;
pub mod tokens;
