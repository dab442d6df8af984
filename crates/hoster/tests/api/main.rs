//! API tests: a real server on a loopback port, a real SQLite file, a real Docker engine.
//! One binary for all of them, so the suite links once.

mod access;
mod browser;
mod console;
mod dns_server;
mod doctor;
mod e2e;
mod hardening;
mod helpers;
mod limits;
mod openapi;
mod operator;
mod process;
mod templates;
mod testenv;
mod upgrade;
