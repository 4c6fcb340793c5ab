//! Login protection and request budgets.
//!
//! **Failed logins** are budgeted per account (keyed by a digest of the
//! folded username, so unknown emails are throttled exactly like real ones)
//! in the store, so every instance shares one count, and an attempt is
//! *reserved* before argon2 runs: parallel attempts cannot overshoot. Two
//! budgets per window:
//! - per account and client address (`failures_per_address`): one attacker
//!   address gets a few guesses at an account and then waits, without
//!   touching anyone else's budget;
//! - per account from addresses that never logged in to it
//!   (`failures_per_account`): many attacker addresses together still get
//!   only a few guesses per window. Addresses the account has logged in from
//!   (within 90 days) do not count here and are not stopped by it, so an
//!   attack cannot lock the real user out of their usual address.
//!
//! A successful login clears its address's count and gives back its
//! reservation; a failure keeps it. There is no growing back-off, which an
//! attacker could keep re-arming for a few requests an hour.
//!
//! **Request rates** (in memory, per instance): password grants, sign-ups,
//! refreshes and feed polls per client address, each with its own budget so
//! a broken client loop cannot starve logins. IPv6 clients are keyed by
//! their /64 (`ipv6_prefix`).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::Deserialize;

use crate::store::{LoginAttempt, Reservation, Store, StoreError};
use crate::telemetry;

/// The fixed-size key of an account's budgets: SHA-256 of the folded
/// username, so whatever a client sends as a username, the throttle keeps 32
/// bytes per account and never the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountKey([u8; 32]);

impl AccountKey {
    /// The key of a username already folded by [`super::email::fold`].
    pub fn of(folded: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, folded.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        Self(key)
    }
}

/// A refusal: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many attempts; retry in {0:?}")]
pub struct Throttled(pub Duration);

/// Why a login attempt may not go ahead.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error(transparent)]
    Throttled(#[from] Throttled),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Budgets; `0` disables one. Rates are per minute (burst = the same number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    pub login_per_ip: u32,
    pub signup_per_ip: u32,
    pub refresh_per_ip: u32,
    pub feed_per_ip: u32,
    /// RFC 7009 revocations per client address, and per session (or per
    /// client, for service tokens): each new revocation grows every guard's
    /// list, so one account must not be able to grow it without bound.
    pub revoke_per_ip: u32,
    pub revoke_per_session: u32,
    /// client_credentials grants per client: each token issued is recorded
    /// until it expires (so removing the client can revoke it), so this
    /// bounds those records per client.
    pub tokens_per_client: u32,
    /// Failed logins per account from one client address per window.
    pub failures_per_address: u32,
    /// Failed logins per account per window from all addresses that never
    /// logged in to it.
    pub failures_per_account: u32,
    /// Length of the failure window, in seconds.
    pub failure_window_secs: u64,
    /// IPv6 clients share the budgets of their prefix of this length: one
    /// customer usually gets a whole /64, so counting single addresses
    /// would hand out 2^64 budgets.
    pub ipv6_prefix: u8,
    /// Password-reset requests and token redemptions (and email verifications).
    pub reset_per_ip: u32,
    /// Password-reset requests per email address, known or not.
    pub reset_per_account: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            login_per_ip: 60,
            signup_per_ip: 10,
            refresh_per_ip: 300,
            feed_per_ip: 120,
            revoke_per_ip: 60,
            revoke_per_session: 10,
            tokens_per_client: 120,
            failures_per_address: 5,
            failures_per_account: 20,
            failure_window_secs: 900,
            ipv6_prefix: 64,
            reset_per_ip: 10,
            reset_per_account: 2,
        }
    }
}

/// How long a successful login makes its address known to the account.
const KNOWN_FOR_SECS: i64 = 90 * 86_400;

/// All budgets of one instance; the failure budgets live in the store.
pub struct Throttle {
    config: ThrottleConfig,
    store: Arc<dyn Store>,
    login_ip: Limiter<IpAddr>,
    signup_ip: Limiter<IpAddr>,
    refresh_ip: Limiter<IpAddr>,
    feed_ip: Limiter<IpAddr>,
    revoke_ip: Limiter<IpAddr>,
    revoke_session: Limiter<String>,
    client_tokens: Limiter<String>,
    reset_ip: Limiter<IpAddr>,
    reset_account: Limiter<String>,
}

struct Limiter<K: Hash + Eq + Clone>(Option<DefaultKeyedRateLimiter<K>>);

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// 0 per minute disables the limit.
    fn per_minute(n: u32) -> Self {
        Self(NonZeroU32::new(n).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))))
    }

    fn check(&self, key: &K) -> Result<(), Throttled> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        limiter
            .check_key(key)
            .map_err(|not_until| Throttled(not_until.wait_time_from(DefaultClock::default().now())))
    }

    fn retain_recent(&self) {
        if let Some(limiter) = &self.0 {
            limiter.retain_recent();
        }
    }
}

/// A reserved login attempt. Settle it with [`Attempt::succeeded`] or
/// [`Attempt::release`]; left unsettled (a wrong password, or a request
/// abandoned while hashing) it stays spent.
#[must_use]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    account: AccountKey,
    source: String,
    /// Whether it was reserved at all, and against the account budget too.
    reserved: Option<bool>,
}

impl Attempt<'_> {
    /// The password was right: the address's count is cleared, the address
    /// becomes known to the account, and the reservation is given back.
    pub async fn succeeded(self) {
        self.settle(Some(now())).await;
    }

    /// The attempt was not decided (the hasher was busy, the store failed):
    /// it is given back.
    pub async fn release(self) {
        self.settle(None).await;
    }

    async fn settle(self, succeeded_at: Option<i64>) {
        let Some(counted) = self.reserved else {
            return;
        };
        let settled = self
            .throttle
            .store
            .settle_login(&self.account.0, &self.source, counted, succeeded_at)
            .await;
        if let Err(error) = settled {
            tracing::warn!(%error, "could not settle a login attempt; it stays counted");
        }
    }
}

impl Throttle {
    pub fn new(config: ThrottleConfig, store: Arc<dyn Store>) -> Self {
        Self {
            config,
            store,
            login_ip: Limiter::per_minute(config.login_per_ip),
            signup_ip: Limiter::per_minute(config.signup_per_ip),
            refresh_ip: Limiter::per_minute(config.refresh_per_ip),
            feed_ip: Limiter::per_minute(config.feed_per_ip),
            revoke_ip: Limiter::per_minute(config.revoke_per_ip),
            revoke_session: Limiter::per_minute(config.revoke_per_session),
            client_tokens: Limiter::per_minute(config.tokens_per_client),
            reset_ip: Limiter::per_minute(config.reset_per_ip),
            reset_account: Limiter::per_minute(config.reset_per_account),
        }
    }

    /// Before a password check: the address's rate, then a reservation
    /// against the account's failure budgets.
    pub async fn login(
        &self,
        ip: IpAddr,
        account: AccountKey,
    ) -> Result<Attempt<'_>, AttemptError> {
        let address = self.address(ip);
        counted(self.login_ip.check(&address), "login")?;
        let source = address.to_string();
        let reserved = match self.reservation(&account, &source).await? {
            None => None,
            Some(Reservation::Granted { counted }) => Some(counted),
            Some(Reservation::Refused { retry_at }) => {
                let wait = u64::try_from(retry_at - now()).unwrap_or(0).max(1);
                telemetry::throttled("login");
                return Err(Throttled(Duration::from_secs(wait)).into());
            }
        };
        Ok(Attempt {
            throttle: self,
            account,
            source,
            reserved,
        })
    }

    /// `None` when both failure budgets are off.
    async fn reservation(
        &self,
        account: &AccountKey,
        source: &str,
    ) -> Result<Option<Reservation>, StoreError> {
        let limit = |n: u32| if n == 0 { i64::MAX } else { i64::from(n) };
        if self.config.failures_per_address == 0 && self.config.failures_per_account == 0 {
            return Ok(None);
        }
        let now = now();
        let attempt = LoginAttempt {
            account: &account.0,
            source,
            now,
            window_secs: i64::try_from(self.config.failure_window_secs).unwrap_or(i64::MAX),
            per_source: limit(self.config.failures_per_address),
            per_account: limit(self.config.failures_per_account),
            known_since: now - KNOWN_FOR_SECS,
        };
        self.store.reserve_login(&attempt).await.map(Some)
    }

    pub fn signup(&self, ip: IpAddr) -> Result<(), Throttled> {
        counted(self.signup_ip.check(&self.address(ip)), "signup")
    }

    pub fn refresh(&self, ip: IpAddr) -> Result<(), Throttled> {
        counted(self.refresh_ip.check(&self.address(ip)), "refresh")
    }

    pub fn feed(&self, ip: IpAddr) -> Result<(), Throttled> {
        counted(self.feed_ip.check(&self.address(ip)), "feed")
    }

    /// Before a reset request (`account` is the normalised email, known or
    /// not) or a token redemption (`None`).
    pub fn reset(&self, ip: IpAddr, account: Option<&str>) -> Result<(), Throttled> {
        let verdict = self
            .reset_ip
            .check(&self.address(ip))
            .and_then(|()| match account {
                Some(account) => self.reset_account.check(&account.to_owned()),
                None => Ok(()),
            });
        counted(verdict, "reset")
    }

    /// Before any work of an RFC 7009 revocation.
    pub fn revoke(&self, ip: IpAddr) -> Result<(), Throttled> {
        counted(self.revoke_ip.check(&self.address(ip)), "revoke")
    }

    /// Before revoking a verified token of session (or client) `id`: ids
    /// come from verified tokens only, so they are Signet's own and bounded.
    pub fn revoke_in_session(&self, id: &str) -> Result<(), Throttled> {
        counted(self.revoke_session.check(&id.to_owned()), "revoke")
    }

    /// Before a client_credentials grant of an authenticated client.
    pub fn client_token(&self, client_id: &str) -> Result<(), Throttled> {
        counted(
            self.client_tokens.check(&client_id.to_owned()),
            "client_credentials",
        )
    }

    /// The key of an address's budgets: IPv4 addresses (mapped ones
    /// included) as they are, IPv6 addresses cut to `ipv6_prefix` bits.
    fn address(&self, ip: IpAddr) -> IpAddr {
        address_key(ip, self.config.ipv6_prefix)
    }

    /// Forgets idle state so memory and the failure table stay bounded:
    /// counts whose window has passed, and addresses no longer known.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        for limiter in [
            &self.login_ip,
            &self.signup_ip,
            &self.refresh_ip,
            &self.feed_ip,
            &self.revoke_ip,
            &self.reset_ip,
        ] {
            limiter.retain_recent();
        }
        self.revoke_session.retain_recent();
        self.client_tokens.retain_recent();
        self.reset_account.retain_recent();
        let now = now();
        let window = i64::try_from(self.config.failure_window_secs).unwrap_or(i64::MAX);
        self.store
            .prune_logins(now.saturating_sub(window), now - KNOWN_FOR_SECS)
            .await
    }
}

/// IPv4 addresses (mapped ones included) as they are, IPv6 addresses cut
/// to `prefix` bits.
fn address_key(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u32::from(prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        v4 => v4,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn counted(verdict: Result<(), Throttled>, budget: &'static str) -> Result<(), Throttled> {
    if verdict.is_err() {
        telemetry::throttled(budget);
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), 64),
            ip("2001:db8:1:2::")
        );
        assert_eq!(address_key(ip("::ffff:192.0.2.7"), 64), ip("192.0.2.7"));
        assert_eq!(address_key(ip("192.0.2.7"), 64), ip("192.0.2.7"));
        assert_eq!(address_key(ip("2001:db8:1:2::1"), 48), ip("2001:db8:1::"));
        assert_eq!(address_key(ip("2001:db8::1"), 128), ip("2001:db8::1"));
    }

    #[test]
    fn rate_limits_refuse_with_a_wait() {
        let limiter = Limiter::per_minute(2);
        let ip = IpAddr::from([10, 0, 0, 1]);
        assert!(limiter.check(&ip).is_ok() && limiter.check(&ip).is_ok());
        let Err(Throttled(wait)) = limiter.check(&ip) else {
            panic!("the third request in a minute is refused")
        };
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(30));
        assert!(limiter.check(&IpAddr::from([10, 0, 0, 2])).is_ok());
        assert!(Limiter::per_minute(0).check(&ip).is_ok(), "0 disables");
    }
}
