//! argon2id hashing off the async threads, behind a semaphore sized to the
//! cores: a flood of logins queues (boundedly) instead of exhausting memory
//! or stalling the runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::config::Argon2Config;
use crate::telemetry;

/// Hashing could not be done; never says anything about the password.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes are already waiting; the caller should retry later.
    #[error("password hashing is saturated")]
    Busy,
    #[error("password hashing failed")]
    Failed,
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password is right; `rehash` when the hash used outdated parameters.
    Match {
        rehash: bool,
    },
    Mismatch,
}

/// Bounded argon2id hasher shared by the whole process.
pub struct Hasher {
    argon2: Argon2<'static>,
    params: Params,
    permits: Arc<Semaphore>,
    max_waiting: usize,
    waiting: AtomicUsize,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    /// Hash of a random password, verified when the account does not exist
    /// so that unknown emails cost the same time as wrong passwords.
    dummy: String,
}

impl Hasher {
    /// `permits` hashes run at once; up to 64 per permit may wait.
    pub fn new(config: Argon2Config, permits: usize) -> Result<Self, HashError> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|_| HashError::Failed)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy = dummy_phc(&config)?;
        let permits = permits.max(1);
        Ok(Self {
            argon2,
            params,
            permits: Arc::new(Semaphore::new(permits)),
            max_waiting: permits * 64,
            waiting: AtomicUsize::new(0),
            in_flight: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
            dummy,
        })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        let argon2 = self.argon2.clone();
        self.run(move || {
            argon2
                .hash_password(password.expose_secret().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|_| HashError::Failed)
        })
        .await?
    }

    /// Checks `password` against `stored`, or against a dummy hash when there
    /// is no account, taking the same time either way.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<Verdict, HashError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.clone());
        let argon2 = self.argon2.clone();
        let params = self.params.clone();
        self.run(move || {
            let Ok(hash) = PasswordHash::new(&phc) else {
                return Verdict::Mismatch;
            };
            let ok = argon2
                .verify_password(password.expose_secret().as_bytes(), &hash)
                .is_ok();
            match (known && ok, outdated(&hash, &params)) {
                (true, rehash) => Verdict::Match { rehash },
                (false, _) => Verdict::Mismatch,
            }
        })
        .await
    }

    /// Hashes waiting for a slot right now.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Most hashes ever seen running at once (for tests and metrics).
    pub fn peak_concurrency(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
        // Leaves the queue however the wait ends, including when the request
        // is cancelled (client gone, timeout) while waiting.
        let in_queue = Queued(&self.waiting);
        if queued >= self.max_waiting {
            return Err(HashError::Busy);
        }
        telemetry::hash_queue(queued + 1);
        let started = std::time::Instant::now();
        let permit = self.permits.clone().acquire_owned().await;
        drop(in_queue);
        telemetry::hash_wait(started.elapsed());
        let permit = permit.map_err(|_| HashError::Failed)?;
        let in_flight = self.in_flight.clone();
        let peak = self.peak.clone();
        tokio::task::spawn_blocking(move || {
            let now = in_flight.fetch_add(1, Ordering::AcqRel) + 1;
            peak.fetch_max(now, Ordering::AcqRel);
            let result = work();
            in_flight.fetch_sub(1, Ordering::AcqRel);
            drop(permit);
            result
        })
        .await
        .map_err(|_| HashError::Failed)
    }
}

/// One place in the wait queue, given back on drop.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let left = self.0.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        telemetry::hash_queue(left);
    }
}

/// True when the hash was not made with argon2id and the configured cost.
fn outdated(hash: &PasswordHash, params: &Params) -> bool {
    let Ok(used) = Params::try_from(hash) else {
        return true;
    };
    hash.algorithm.as_str() != "argon2id"
        || used.m_cost() != params.m_cost()
        || used.t_cost() != params.t_cost()
        || used.p_cost() != params.p_cost()
}

/// A PHC string with a random salt and a random digest under `config`'s
/// parameters. Verifying against it costs a full argon2 run, like a real
/// hash, but making it costs nothing: start-up stays cheap whatever the
/// parameters.
fn dummy_phc(config: &Argon2Config) -> Result<String, HashError> {
    use base64::Engine as _;
    let mut random = [0u8; 48];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
        .map_err(|_| HashError::Failed)?;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let (salt, digest) = random.split_at(16);
    let phc = format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        config.memory_kib,
        config.iterations,
        config.parallelism,
        b64.encode(salt),
        b64.encode(digest)
    );
    PasswordHash::new(&phc).map_err(|_| HashError::Failed)?;
    Ok(phc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Config {
        Argon2Config {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = Hasher::new(cheap(), 2).unwrap();
        let phc = hasher.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        let good = hasher
            .verify("correct horse".into(), Some(phc.clone()))
            .await;
        assert_eq!(good.unwrap(), Verdict::Match { rehash: false });
        let bad = hasher.verify("wrong horse".into(), Some(phc)).await;
        assert_eq!(bad.unwrap(), Verdict::Mismatch);
        let none = hasher.verify("anything".into(), None).await;
        assert_eq!(none.unwrap(), Verdict::Mismatch);
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs_but_is_free_to_make() {
        let heavy = Argon2Config {
            memory_kib: 4 * 1024 * 1024,
            iterations: 16,
            parallelism: 4,
        };
        let hasher = Hasher::new(heavy, 1).unwrap();
        let dummy = PasswordHash::new(&hasher.dummy).unwrap();
        assert!(!outdated(&dummy, &hasher.params), "{}", hasher.dummy);
    }

    #[tokio::test]
    async fn changed_parameters_ask_for_a_rehash() {
        let old = Hasher::new(cheap(), 1).unwrap();
        let phc = old.hash("correct horse".into()).await.unwrap();
        let mut stronger = cheap();
        stronger.iterations = 2;
        let new = Hasher::new(stronger, 1).unwrap();
        let verdict = new.verify("correct horse".into(), Some(phc)).await;
        assert_eq!(verdict.unwrap(), Verdict::Match { rehash: true });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_waiters_leave_the_queue() {
        let slow = Argon2Config {
            memory_kib: 8192,
            iterations: 4,
            parallelism: 1,
        };
        let hasher = Arc::new(Hasher::new(slow, 1).unwrap());
        let waiters: Vec<_> = (0..20)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash("correct horse".into()).await })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(hasher.queue_depth() > 0, "some were waiting");
        for waiter in &waiters {
            waiter.abort();
        }
        for waiter in waiters {
            let _ = waiter.await;
        }
        assert_eq!(
            hasher.queue_depth(),
            0,
            "every cancelled waiter left the queue"
        );
        assert!(hasher.hash("correct horse".into()).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrency_is_bounded() {
        let hasher = Arc::new(Hasher::new(cheap(), 2).unwrap());
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash("correct horse".into()).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert!(hasher.peak_concurrency() >= 1);
        assert!(
            hasher.peak_concurrency() <= 2,
            "{}",
            hasher.peak_concurrency()
        );
    }
}
