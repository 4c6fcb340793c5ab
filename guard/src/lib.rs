//! `signet-guard`: validates Signet access tokens inside other services,
//! offline, with the keys from Signet's JWKS.
//!
//! - [`crypto`]: the ring backend for jsonwebtoken (install it once at start).
//! - [`jwk`]: JWK / JWK Set types and RFC 7638 thumbprints.
//! - [`verify`]: the token validator.

pub mod crypto;
pub mod jwk;
pub mod verify;

pub use jwk::{Jwk, JwkError, JwkSet};
pub use verify::{Audience, Claims, KeySet, NoCustomClaims, TokenError, Validator};
