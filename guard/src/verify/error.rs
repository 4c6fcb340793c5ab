//! Why a token was refused.

/// A refused token. Messages are safe to send to the client (e.g. as an RFC
/// 6750 `error_description`): they never echo the token or any value taken
/// from it.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is too large")]
    TooLarge,
    #[error("token is malformed")]
    Malformed,
    #[error("token type is not at+jwt")]
    UnsupportedType,
    #[error("token header carries a parameter that is not accepted")]
    ForbiddenHeader,
    #[error("token header has no key id")]
    MissingKeyId,
    #[error("token is signed with an unknown key")]
    UnknownKey,
    #[error("token algorithm is not accepted for its key")]
    AlgorithmMismatch,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("token issuer is not trusted")]
    WrongIssuer,
    #[error("token is not intended for this audience")]
    WrongAudience,
    #[error("token claims are invalid")]
    InvalidClaims,
    /// `exp - iat` is above the validator's maximum lifetime.
    #[error("token lifetime exceeds the accepted maximum")]
    LifetimeTooLong,
    /// Reserved for the revocation list (by `jti` or `sid`).
    #[error("token has been revoked")]
    Revoked,
}
