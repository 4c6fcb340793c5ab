//! Login protection: rate limits per client IP and per account (keyed by the
//! normalised username, so unknown emails are throttled exactly like real
//! ones), exponential back-off per account after repeated failures, and
//! separate budgets for sign-up, refresh and the revocation feed so a broken
//! client loop cannot starve logins. Limits are per instance (in memory):
//! sharing them through PostgreSQL would put a write on every attempt; with
//! N instances behind a balancer the effective limits are up to N times the
//! configured ones, which the defaults leave room for.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::Deserialize;

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

/// Requests per minute for each budget (burst = the same number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    pub login_per_ip: u32,
    pub login_per_account: u32,
    pub signup_per_ip: u32,
    pub refresh_per_ip: u32,
    pub feed_per_ip: u32,
    /// Consecutive failures after which the account must wait: 1 s after
    /// this many, doubling with each further failure.
    pub failures_before_backoff: u32,
    /// Longest back-off, in seconds.
    pub max_backoff_secs: u64,
    /// IPv6 clients share the budgets of their prefix of this length: one
    /// customer usually gets a whole /64, so counting single addresses
    /// would hand out 2^64 budgets.
    pub ipv6_prefix: u8,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            login_per_ip: 60,
            login_per_account: 10,
            signup_per_ip: 10,
            refresh_per_ip: 300,
            feed_per_ip: 120,
            failures_before_backoff: 5,
            max_backoff_secs: 900,
            ipv6_prefix: 64,
        }
    }
}

/// Most accounts tracked for back-off; beyond, the oldest entries go first.
const MAX_TRACKED_ACCOUNTS: usize = 100_000;

struct Failures {
    count: u32,
    blocked_until: Option<Instant>,
    last: Instant,
}

/// All budgets of one instance.
pub struct Throttle {
    config: ThrottleConfig,
    login_ip: Limiter<IpAddr>,
    login_account: Limiter<AccountKey>,
    signup_ip: Limiter<IpAddr>,
    refresh_ip: Limiter<IpAddr>,
    feed_ip: Limiter<IpAddr>,
    failures: Mutex<HashMap<AccountKey, Failures>>,
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

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            login_ip: Limiter::per_minute(config.login_per_ip),
            login_account: Limiter::per_minute(config.login_per_account),
            signup_ip: Limiter::per_minute(config.signup_per_ip),
            refresh_ip: Limiter::per_minute(config.refresh_per_ip),
            feed_ip: Limiter::per_minute(config.feed_per_ip),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Before a password grant: IP budget, account budget, account back-off.
    pub fn login(&self, ip: IpAddr, account: &AccountKey) -> Result<(), Throttled> {
        let verdict = self
            .backoff(account)
            .and_then(|()| self.login_ip.check(&self.address(ip)))
            .and_then(|()| self.login_account.check(account));
        counted(verdict, "login")
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

    /// The key of an address's budgets: IPv4 addresses (mapped ones
    /// included) as they are, IPv6 addresses cut to `ipv6_prefix` bits.
    pub fn address(&self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let bits = u32::from(self.config.ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
            v4 => v4,
        }
    }

    /// A failed login: past the allowance, each failure doubles the wait.
    pub fn failed(&self, account: &AccountKey) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= MAX_TRACKED_ACCOUNTS && !failures.contains_key(account) {
            evict_oldest(&mut failures);
        }
        let now = Instant::now();
        let entry = failures.entry(*account).or_insert(Failures {
            count: 0,
            blocked_until: None,
            last: now,
        });
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        let over = (entry.count + 1).saturating_sub(self.config.failures_before_backoff);
        if over > 0 {
            let seconds = 1u64
                .checked_shl(over - 1)
                .unwrap_or(u64::MAX)
                .min(self.config.max_backoff_secs);
            entry.blocked_until = Some(now + Duration::from_secs(seconds));
        }
    }

    /// A successful login resets the account's failures.
    pub fn succeeded(&self, account: &AccountKey) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(account);
        }
    }

    /// Forgets idle state so memory stays bounded.
    pub fn prune(&self) {
        for limiter in [
            &self.login_ip,
            &self.signup_ip,
            &self.refresh_ip,
            &self.feed_ip,
        ] {
            limiter.retain_recent();
        }
        self.login_account.retain_recent();
        let horizon = Duration::from_secs(self.config.max_backoff_secs.max(3600));
        if let Ok(mut failures) = self.failures.lock() {
            failures.retain(|_, f| f.last.elapsed() < horizon);
        }
    }

    fn backoff(&self, account: &AccountKey) -> Result<(), Throttled> {
        let Ok(failures) = self.failures.lock() else {
            return Ok(());
        };
        match failures.get(account).and_then(|f| f.blocked_until) {
            Some(until) if until > Instant::now() => Err(Throttled(until - Instant::now())),
            _ => Ok(()),
        }
    }
}

fn counted(verdict: Result<(), Throttled>, budget: &'static str) -> Result<(), Throttled> {
    if verdict.is_err() {
        telemetry::throttled(budget);
    }
    verdict
}

fn evict_oldest(failures: &mut HashMap<AccountKey, Failures>) {
    if let Some(oldest) = failures.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| *k) {
        failures.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_and_resets() {
        let throttle = Throttle::new(ThrottleConfig {
            login_per_account: 0,
            login_per_ip: 0,
            failures_before_backoff: 2,
            ..ThrottleConfig::default()
        });
        let ip = IpAddr::from([127, 0, 0, 1]);
        let (ada, bob) = (
            AccountKey::of("ada@example.com"),
            AccountKey::of("bob@example.com"),
        );
        throttle.failed(&ada);
        assert!(throttle.login(ip, &ada).is_ok());
        throttle.failed(&ada);
        let Err(Throttled(first)) = throttle.login(ip, &ada) else {
            panic!("blocked")
        };
        throttle.failed(&ada);
        let Err(Throttled(second)) = throttle.login(ip, &ada) else {
            panic!("blocked")
        };
        assert!(first <= Duration::from_secs(1) && second > Duration::from_secs(1));
        assert!(throttle.login(ip, &bob).is_ok(), "per account");
        throttle.succeeded(&ada);
        assert!(throttle.login(ip, &ada).is_ok());
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_prefix() {
        let throttle = Throttle::new(ThrottleConfig::default());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            throttle.address(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(throttle.address(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(throttle.address(ip("192.0.2.7")), ip("192.0.2.7"));
        let wide = Throttle::new(ThrottleConfig {
            ipv6_prefix: 48,
            ..ThrottleConfig::default()
        });
        assert_eq!(wide.address(ip("2001:db8:1:2::1")), ip("2001:db8:1::"));
        let exact = Throttle::new(ThrottleConfig {
            ipv6_prefix: 128,
            ..ThrottleConfig::default()
        });
        assert_eq!(exact.address(ip("2001:db8::1")), ip("2001:db8::1"));
    }

    #[test]
    fn rate_limits_refuse_with_a_wait() {
        let throttle = Throttle::new(ThrottleConfig {
            signup_per_ip: 2,
            ..ThrottleConfig::default()
        });
        let ip = IpAddr::from([10, 0, 0, 1]);
        assert!(throttle.signup(ip).is_ok() && throttle.signup(ip).is_ok());
        let Err(Throttled(wait)) = throttle.signup(ip) else {
            panic!("third sign-up in a minute is refused")
        };
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(30));
        assert!(throttle.signup(IpAddr::from([10, 0, 0, 2])).is_ok());
    }
}
