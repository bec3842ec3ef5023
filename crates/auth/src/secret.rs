//! Secrets compared and made the one way: in constant time, and from the OS-seeded CSPRNG.

use base64::Engine;
use subtle::ConstantTimeEq;

/// Whether two secrets are equal, in time that does not depend on where they differ (so that a
/// guesser learns nothing from how long a refusal takes). Different lengths are unequal.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A new random token: 256 bits, URL-safe base64 without padding (cookies, CSRF tokens).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_secrets_only() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
