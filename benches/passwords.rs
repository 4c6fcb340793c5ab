//! Cost of one argon2id computation with the server's default parameters
//! (OWASP: m = 19456 KiB, t = 2, p = 1), which bounds the password grant.
//!
//! - passwords/signet_hash: `signet::auth::passwords::Hasher::hash` — what
//!   sign-up pays (semaphore + `spawn_blocking` + argon2id + PHC encoding).
//! - passwords/signet_verify: `Hasher::verify` of the right password — what
//!   every password-grant login pays.
//! - passwords/argon2_verify: the raw `argon2` crate verifying the same PHC
//!   string, without the server's wrapper (the floor for a login).
//! - passwords/argon2_hash_raw: the raw `argon2` crate hashing into a 32-byte
//!   buffer with a fixed salt (no PHC string, no salt generation).
//!
//! Run: `cargo bench --bench passwords` (add `-- --measurement-time 10` etc.).
//!
//! On a noisy machine the four criterion benches run minutes apart under
//! different load. `SIGNET_BENCH_INTERLEAVE=ROUNDS` adds, after criterion, an
//! interleaved measurement: each round times a few calls of every variant back
//! to back, so they share the same background load; it prints the median and
//! minimum per call, the median per-round ratio of the server's verify to the
//! raw verify, and minor page faults per call (the 19 MiB argon2 buffer). It
//! also times the raw verify run through `tokio::task::spawn_blocking`, to
//! tell the cost of the blocking-pool thread from the cost of the wrapper.

use std::hint::black_box;
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordVerifier as _, Version};
use criterion::{Criterion, SamplingMode, criterion_group};
use signet::auth::passwords::{Hasher, Verdict};
use signet::config::Argon2Config;

const PASSWORD: &str = "correct horse battery staple 7";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    hasher: Hasher,
    phc: String,
    raw: Argon2<'static>,
}

fn fixture() -> Fixture {
    let config = Argon2Config::default();
    assert_eq!(
        (config.memory_kib, config.iterations, config.parallelism),
        (19_456, 2, 1),
        "the server's default argon2 parameters changed; update bench/README.md"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let hasher = Hasher::new(config, 1).expect("hasher");
    let phc = runtime
        .block_on(hasher.hash(PASSWORD.into()))
        .expect("hash");
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert_eq!(
        runtime
            .block_on(hasher.verify(PASSWORD.into(), Some(phc.clone())))
            .expect("verify"),
        Verdict::Match { rehash: false }
    );

    let params = Params::new(
        config.memory_kib,
        config.iterations,
        config.parallelism,
        None,
    )
    .expect("params");
    let raw = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let parsed = PasswordHash::new(&phc).expect("phc");
    raw.verify_password(PASSWORD.as_bytes(), &parsed)
        .expect("raw verify");
    Fixture {
        runtime,
        hasher,
        phc,
        raw,
    }
}

fn passwords(c: &mut Criterion) {
    let Fixture {
        runtime,
        hasher,
        phc,
        raw,
    } = fixture();

    let mut group = c.benchmark_group("passwords");
    // One argon2id run takes tens of milliseconds: few, flat samples.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(8));

    group.bench_function("signet_hash", |b| {
        b.iter(|| {
            runtime
                .block_on(hasher.hash(black_box(PASSWORD).into()))
                .expect("hash")
        })
    });
    group.bench_function("signet_verify", |b| {
        b.iter(|| {
            runtime
                .block_on(hasher.verify(black_box(PASSWORD).into(), Some(phc.clone())))
                .expect("verify")
        })
    });
    group.bench_function("argon2_verify", |b| {
        b.iter(|| {
            let hash = PasswordHash::new(black_box(&phc)).expect("phc");
            raw.verify_password(black_box(PASSWORD.as_bytes()), &hash)
                .expect("raw verify")
        })
    });
    group.bench_function("argon2_hash_raw", |b| {
        let salt = [7u8; 16];
        let mut out = [0u8; 32];
        b.iter(|| {
            raw.hash_password_into(black_box(PASSWORD.as_bytes()), &salt, &mut out)
                .expect("raw hash");
            black_box(out)
        })
    });
    group.finish();
}

/// Minor page faults of the whole process so far (Linux; 0 elsewhere).
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the parenthesised command name; minflt is field 10.
            let rest = &stat[stat.rfind(')')? + 2..];
            rest.split_whitespace().nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn interleaved(rounds: usize) {
    const CALLS: usize = 4;
    let f = fixture();
    let salt = [7u8; 16];
    let mut out = [0u8; 32];
    let names = [
        "signet_hash",
        "signet_verify",
        "argon2_verify",
        "argon2_hash_raw",
        "argon2_verify_spawn_blocking",
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut faults: Vec<u64> = vec![0; names.len()];
    let mut ratios = Vec::new();
    for _ in 0..rounds {
        for (i, times) in times.iter_mut().enumerate() {
            let faults_before = minor_faults();
            let start = Instant::now();
            for _ in 0..CALLS {
                match i {
                    0 => {
                        black_box(f.runtime.block_on(f.hasher.hash(PASSWORD.into())).unwrap());
                    }
                    1 => {
                        black_box(
                            f.runtime
                                .block_on(f.hasher.verify(PASSWORD.into(), Some(f.phc.clone())))
                                .unwrap(),
                        );
                    }
                    2 => {
                        let hash = PasswordHash::new(black_box(&f.phc)).unwrap();
                        f.raw.verify_password(PASSWORD.as_bytes(), &hash).unwrap();
                    }
                    3 => {
                        f.raw
                            .hash_password_into(PASSWORD.as_bytes(), &salt, &mut out)
                            .unwrap();
                        black_box(out);
                    }
                    _ => {
                        // The raw verify on tokio's blocking pool, as the
                        // server runs it but without its semaphore.
                        let raw = f.raw.clone();
                        let phc = f.phc.clone();
                        f.runtime
                            .block_on(async move {
                                tokio::task::spawn_blocking(move || {
                                    let hash = PasswordHash::new(&phc).unwrap();
                                    raw.verify_password(PASSWORD.as_bytes(), &hash).unwrap();
                                })
                                .await
                            })
                            .unwrap();
                    }
                }
            }
            times.push(start.elapsed().as_secs_f64() * 1e3 / CALLS as f64);
            faults[i] += minor_faults() - faults_before;
        }
        let last = |i: usize| *times[i].last().unwrap();
        ratios.push(last(1) / last(2));
    }
    println!("interleaved: {rounds} rounds x {CALLS} calls per variant, ms per call");
    for (i, name) in names.iter().enumerate() {
        let min = times[i].iter().copied().fold(f64::INFINITY, f64::min);
        let per_call = faults[i] as f64 / (rounds * CALLS) as f64;
        println!(
            "  {name:<28} median {:>8.3}  min {min:>8.3}  minor faults/call {per_call:>8.0}",
            median(&mut times[i])
        );
    }
    println!(
        "  signet_verify / argon2_verify, median of per-round ratios: {:.3}",
        median(&mut ratios)
    );
}

criterion_group!(benches, passwords);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if let Some(rounds) = std::env::var("SIGNET_BENCH_INTERLEAVE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        interleaved(rounds);
    }
}
