//! Tokens Signet issues: RFC 9068 access tokens and opaque refresh tokens,
//! and the sessions that tie them together.

pub mod access;
pub mod claims;
pub mod claims_hook;
pub mod introspection;
pub mod recent;
pub mod refresh;
pub mod revocations;
pub mod scope;
pub mod sessions;
