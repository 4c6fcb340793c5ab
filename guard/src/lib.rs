//! `signet-guard`: validates Signet access tokens inside other services,
//! offline, with the keys from Signet's JWKS and the revocations from its
//! feed — no call to Signet per request.
//!
//! - [`Guard`] (from [`Guard::builder`]): the validator with its JWKS cache,
//!   revocation follower and verified-token cache.
//! - [`GuardLayer`], [`RequireScope`], [`RequireRecentAuth`] /
//!   [`RecentAuth`] (step-up), and [`Claims<C>`] as an axum extractor: see
//!   [`mod@axum`].
//! - [`verify`]: the stateless validator underneath ([`Validator`],
//!   [`KeySet`]).
//! - [`crypto`]: the ring backend for jsonwebtoken (installed on first use).
//! - [`jwk`]: JWK / JWK Set types and RFC 7638 thumbprints.
//! - [`feed`]: the JSON of Signet's revocation feed.
//! - `testing` (feature `test-helpers`): a local issuer and token minter.

pub mod axum;
mod backoff;
mod builder;
pub mod crypto;
pub mod feed;
mod fetch;
mod guard;
pub mod jwk;
mod jwks;
mod revocations;
#[cfg(feature = "test-helpers")]
pub mod testing;
mod token_cache;
pub mod verify;

pub use self::axum::{
    AuthError, AuthRejection, GuardLayer, RecentAuth, RequireRecentAuth, RequireScope,
};
pub use builder::{BuildError, GuardBuilder};
pub use fetch::FetchError;
pub use guard::{Guard, GuardError, GuardStatus};
pub use jwk::{Jwk, JwkError, JwkSet};
pub use revocations::FailMode;
pub use verify::{Audience, Claims, KeySet, NoCustomClaims, TokenError, Validator};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
