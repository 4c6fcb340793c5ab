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

/// A refusal: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Password-reset requests and token redemptions (and email verifications).
    pub reset_per_ip: u32,
    /// Password-reset requests per email address, known or not.
    pub reset_per_account: u32,
    /// Consecutive failures after which the account must wait: 1 s after
    /// this many, doubling with each further failure.
    pub failures_before_backoff: u32,
    /// Longest back-off, in seconds.
    pub max_backoff_secs: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            login_per_ip: 60,
            login_per_account: 10,
            signup_per_ip: 10,
            refresh_per_ip: 300,
            feed_per_ip: 120,
            reset_per_ip: 10,
            reset_per_account: 2,
            failures_before_backoff: 5,
            max_backoff_secs: 900,
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
    login_account: Limiter<String>,
    signup_ip: Limiter<IpAddr>,
    refresh_ip: Limiter<IpAddr>,
    feed_ip: Limiter<IpAddr>,
    reset_ip: Limiter<IpAddr>,
    reset_account: Limiter<String>,
    failures: Mutex<HashMap<String, Failures>>,
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
            reset_ip: Limiter::per_minute(config.reset_per_ip),
            reset_account: Limiter::per_minute(config.reset_per_account),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Before a password grant: IP budget, account budget, account back-off.
    pub fn login(&self, ip: IpAddr, account: &str) -> Result<(), Throttled> {
        let verdict = self
            .backoff(account)
            .and_then(|()| self.login_ip.check(&ip))
            .and_then(|()| self.login_account.check(&account.to_owned()));
        counted(verdict, "login")
    }

    pub fn signup(&self, ip: IpAddr) -> Result<(), Throttled> {
        counted(self.signup_ip.check(&ip), "signup")
    }

    pub fn refresh(&self, ip: IpAddr) -> Result<(), Throttled> {
        counted(self.refresh_ip.check(&ip), "refresh")
    }

    pub fn feed(&self, ip: IpAddr) -> Result<(), Throttled> {
        counted(self.feed_ip.check(&ip), "feed")
    }

    /// Before a reset request (`account` is the normalised email, known or
    /// not) or a token redemption (`None`).
    pub fn reset(&self, ip: IpAddr, account: Option<&str>) -> Result<(), Throttled> {
        let verdict = self.reset_ip.check(&ip).and_then(|()| match account {
            Some(account) => self.reset_account.check(&account.to_owned()),
            None => Ok(()),
        });
        counted(verdict, "reset")
    }

    /// A failed login: past the allowance, each failure doubles the wait.
    pub fn failed(&self, account: &str) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= MAX_TRACKED_ACCOUNTS && !failures.contains_key(account) {
            evict_oldest(&mut failures);
        }
        let now = Instant::now();
        let entry = failures.entry(account.to_owned()).or_insert(Failures {
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
    pub fn succeeded(&self, account: &str) {
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
            &self.reset_ip,
        ] {
            limiter.retain_recent();
        }
        self.login_account.retain_recent();
        self.reset_account.retain_recent();
        let horizon = Duration::from_secs(self.config.max_backoff_secs.max(3600));
        if let Ok(mut failures) = self.failures.lock() {
            failures.retain(|_, f| f.last.elapsed() < horizon);
        }
    }

    fn backoff(&self, account: &str) -> Result<(), Throttled> {
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

fn evict_oldest(failures: &mut HashMap<String, Failures>) {
    if let Some(oldest) = failures
        .iter()
        .min_by_key(|(_, f)| f.last)
        .map(|(k, _)| k.clone())
    {
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
        throttle.failed("ada@example.com");
        assert!(throttle.login(ip, "ada@example.com").is_ok());
        throttle.failed("ada@example.com");
        let Err(Throttled(first)) = throttle.login(ip, "ada@example.com") else {
            panic!("blocked")
        };
        throttle.failed("ada@example.com");
        let Err(Throttled(second)) = throttle.login(ip, "ada@example.com") else {
            panic!("blocked")
        };
        assert!(first <= Duration::from_secs(1) && second > Duration::from_secs(1));
        assert!(throttle.login(ip, "bob@example.com").is_ok(), "per account");
        throttle.succeeded("ada@example.com");
        assert!(throttle.login(ip, "ada@example.com").is_ok());
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
