//! Token secrets: generated from the operating system's CSPRNG, handed to
//! the client once, and kept only as their SHA-256.
//!
//! Why an unkeyed hash suffices: a secret is 256 uniformly random bits, so
//! the hash cannot be reversed or guessed (SHA-256 preimage resistance);
//! salts and slow hashes only help secrets a human chose. A copy of the data
//! directory therefore holds no usable token. Stored tokens are found by
//! their hash, and the hash found is compared again in constant time.

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ring::{
    digest::{digest, SHA256},
    rand::{SecureRandom, SystemRandom},
};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// Random bytes in a secret.
const SECRET_BYTES: usize = 32;

/// Marks a string as an s2-lite token (helps secret scanners).
const SECRET_PREFIX: &str = "s2l_";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// A token secret in the clear; only ever given to the client.
pub struct Secret(String);

impl Secret {
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = [0u8; SECRET_BYTES];
        SystemRandom::new().fill(&mut bytes).map_err(|_| RandomError)?;
        Ok(Self(format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The SHA-256 of a secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    pub fn of(presented: &str) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, presented.as_bytes()).as_ref());
        Self(out)
    }

    /// Equality without an early exit on the first differing byte.
    pub fn matches(&self, other: &SecretHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_distinct_and_hash_consistently() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert!(a.expose().len() >= SECRET_PREFIX.len() + 43);
        assert_ne!(a.expose(), b.expose());
        assert!(a.hash().matches(&SecretHash::of(a.expose())));
        assert!(!a.hash().matches(&b.hash()));
        assert!(!format!("{a:?}").contains(&a.expose()[4..]));
    }
}
