//! API keys: one organization per key, sent as the `x-api-key` metadata. Only the SHA-256 of a
//! key is stored; the key itself is shown once, when created.

use sha2::{Digest, Sha256};

/// The request metadata that carries the API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Prefix of every key, so that a leaked key is recognizable.
const KEY_PREFIX: &str = "oef_";

/// A new random API key: `oef_` and 32 random bytes in hex.
pub fn generate_key() -> String {
    format!("{KEY_PREFIX}{}", random_hex(32))
}

/// Creates a key for `org` (named `name`, for the records), stores its hash and returns the key,
/// which is not stored anywhere: print it once.
pub async fn create_api_key(
    store: &dyn crate::store::Storage,
    org: &str,
    name: &str,
) -> Result<String, crate::store::StoreError> {
    let key = generate_key();
    store.add_api_key(&hash_key(&key), org, name).await?;
    Ok(key)
}

/// The stored form of a key: its SHA-256, lowercase hex.
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
    out
}

/// `n` bytes from the operating system's random source, in hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never seen on supported systems): fall back to a hash of the time
        // and a process-wide counter, still unique.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seed = format!(
            "{}:{}:{}",
            crate::store::now_us(),
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let digest = Sha256::digest(seed.as_bytes());
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = digest[i % digest.len()];
        }
    }
    hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashed() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert!(a.starts_with("oef_") && a.len() == 4 + 64);
        assert_eq!(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
