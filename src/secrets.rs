//! Small shared primitives for secrets: randomness and hashing.

use ring::rand::SecureRandom;

/// `N` bytes from the operating system's CSPRNG.
pub fn random<const N: usize>() -> Result<[u8; N], ring::error::Unspecified> {
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new().fill(&mut bytes)?;
    Ok(bytes)
}

/// SHA-256, the form in which high-entropy secrets are stored.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}
