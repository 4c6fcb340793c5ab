//! Signet: a token authentication service. Users register and log in with a
//! password; Signet issues RFC 9068 access tokens and rotating refresh tokens
//! and publishes the keys that verify them.

pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod keys;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod webhooks;
