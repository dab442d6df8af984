//! End to end: a real `hoster serve` process, a real Docker engine, the spec's examples.

mod backups;
mod catalog;
mod compose_keys;
mod console;
mod deployments;
mod examples;
mod faults;
mod operations;
mod proxy;
mod security;
mod tls;
mod upgrades;
mod variables;
