//! axum 0.8 integration.
//!
//! - [`GuardLayer`]: validates the bearer token of every request (or, with
//!   [`GuardLayer::optional`], of those that carry one) and puts the claims
//!   and the [`Guard`](crate::Guard) in the request extensions.
//! - [`Claims<C>`](crate::Claims) is an extractor (typed custom claims `C`),
//!   and `Option<Claims<C>>` its optional variant: no token gives `None`, a
//!   bad token is still refused.
//! - [`RequireScope`]: a layer refusing tokens without a scope (403
//!   `insufficient_scope` naming it).
//! - [`RequireRecentAuth`] (layer) and [`RecentAuth`] (extractor): step-up,
//!   refusing an old `auth_time` (401 `insufficient_user_authentication`
//!   with `max_age`, RFC 9470).
//!
//! Rejections are [`AuthRejection`]s: RFC 6750 challenges and RFC 9457
//! problem bodies.

mod bearer;
mod extract;
mod layer;
mod recent;
mod rejection;

pub use layer::{GuardLayer, GuardService, RequireScope, RequireScopeService};
pub use recent::{RecentAuth, RequireRecentAuth, RequireRecentAuthService};
pub use rejection::{AuthError, AuthRejection};
