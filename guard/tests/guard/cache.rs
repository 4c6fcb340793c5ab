//! The verified-token cache, and the guard without network (test helpers).

use std::time::Duration;

use signet_guard::testing::{TestIssuer, TokenClaims};
use signet_guard::{Guard, GuardError, NoCustomClaims, TokenError};

use super::{Tenant, now};

#[test]
fn cache_hit_still_honours_revocation() {
    let issuer = TestIssuer::new();
    let guard = issuer.guard();
    let by_sid = issuer.mint(TokenClaims::new().sid("s1").jti("j1"));
    let by_jti = issuer.mint(TokenClaims::new().sid("s2").jti("j2"));
    for token in [&by_sid, &by_jti] {
        assert!(guard.verify_offline::<NoCustomClaims>(token).is_ok());
        assert!(guard.verify_offline::<NoCustomClaims>(token).is_ok());
    }
    assert_eq!(guard.status().cached_tokens, 2);

    guard.revoke_sid("s1", now() + 60);
    guard.revoke_jti("j2", now() + 60);
    let revoked = Err(GuardError::Token(TokenError::Revoked));
    assert_eq!(
        guard.verify_offline::<NoCustomClaims>(&by_sid).map(|_| ()),
        revoked
    );
    assert_eq!(
        guard.verify_offline::<NoCustomClaims>(&by_jti).map(|_| ()),
        revoked
    );
}

#[test]
fn cache_hit_never_outlives_exp() {
    let issuer = TestIssuer::new();
    let guard = issuer
        .guard_builder()
        .leeway(Duration::ZERO)
        .build_with_keys(issuer.key_set());
    let exp = now() + 2;
    let token = issuer.mint(TokenClaims::new().exp(exp));
    assert!(guard.verify_offline::<NoCustomClaims>(&token).is_ok());
    assert!(guard.verify_offline::<NoCustomClaims>(&token).is_ok());
    assert_eq!(guard.status().cached_tokens, 1);
    while now() < exp {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        guard.verify_offline::<NoCustomClaims>(&token).map(|_| ()),
        Err(GuardError::Token(TokenError::Expired))
    );
}

#[test]
fn cache_keeps_typed_claims_apart() {
    let issuer = TestIssuer::new();
    let guard = issuer.guard();
    let token = issuer.mint(TokenClaims::new().claim("tenant", "acme"));
    let plain = guard.verify_offline::<NoCustomClaims>(&token).unwrap();
    let typed = guard.verify_offline::<Tenant>(&token).unwrap();
    assert_eq!(typed.custom.tenant, "acme");
    assert_eq!(plain.jti, typed.jti);
    // Missing custom claim: refused for the type that needs it only.
    let bare = issuer.mint(TokenClaims::new());
    assert!(guard.verify_offline::<NoCustomClaims>(&bare).is_ok());
    assert_eq!(
        guard.verify_offline::<Tenant>(&bare).map(|_| ()),
        Err(GuardError::Token(TokenError::InvalidClaims))
    );
}

#[test]
fn cache_disabled_and_bounded() {
    let issuer = TestIssuer::new();
    let off = issuer
        .guard_builder()
        .token_cache_capacity(0)
        .build_with_keys(issuer.key_set());
    let token = issuer.mint(TokenClaims::new());
    assert!(off.verify_offline::<NoCustomClaims>(&token).is_ok());
    assert_eq!(off.status().cached_tokens, 0);

    let small = issuer
        .guard_builder()
        .token_cache_capacity(32)
        .build_with_keys(issuer.key_set());
    for _ in 0..500 {
        let token = issuer.mint(TokenClaims::new());
        assert!(small.verify_offline::<NoCustomClaims>(&token).is_ok());
    }
    assert!(small.status().cached_tokens <= 32);
}

#[test]
fn refused_tokens_are_not_cached() {
    let issuer = TestIssuer::new();
    let guard = issuer.guard();
    let other = TestIssuer::new();
    let forged = other.mint(TokenClaims::new().kid(issuer.kid()));
    for _ in 0..2 {
        assert_eq!(
            guard.verify_offline::<NoCustomClaims>(&forged).map(|_| ()),
            Err(GuardError::Token(TokenError::BadSignature))
        );
    }
    assert_eq!(guard.status().cached_tokens, 0);
}

#[test]
fn builder_scopes_are_required() {
    let issuer = TestIssuer::new();
    let guard = issuer
        .guard_builder()
        .require_scope("orders:read")
        .require_scope("orders:write")
        .build_with_keys(issuer.key_set());
    let partial = issuer.mint(TokenClaims::new().scope("orders:read"));
    assert_eq!(
        guard.verify_offline::<NoCustomClaims>(&partial).map(|_| ()),
        Err(GuardError::InsufficientScope {
            scope: "orders:read orders:write".into()
        })
    );
    let full = issuer.mint(TokenClaims::new().scope("orders:write orders:read"));
    assert!(guard.verify_offline::<NoCustomClaims>(&full).is_ok());
}

#[test]
fn helpers_need_no_runtime_and_check_everything() {
    let issuer = TestIssuer::new();
    let guard: Guard = issuer.guard();
    assert!(guard.is_ready());
    let cases = [
        (TokenClaims::new().exp(now() - 120), TokenError::Expired),
        (TokenClaims::new().aud("other"), TokenError::WrongAudience),
        (
            TokenClaims::new().iss("https://evil"),
            TokenError::WrongIssuer,
        ),
        (TokenClaims::new().nbf(now() + 600), TokenError::NotYetValid),
        (TokenClaims::new().kid("nope"), TokenError::UnknownKey),
        (TokenClaims::new().without("jti"), TokenError::InvalidClaims),
    ];
    for (claims, expected) in cases {
        let token = issuer.mint(claims);
        assert_eq!(
            guard.verify_offline::<NoCustomClaims>(&token).map(|_| ()),
            Err(GuardError::Token(expected.clone())),
            "{expected:?}"
        );
    }
}
