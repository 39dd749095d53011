//! Seller API keys: `mk_` + 32 random bytes in base64url (46 characters).
//! The edge recognises them by the prefix and validates them like sessions.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "mk_";
pub const KEY_LEN: usize = 46;

pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn is_well_formed(key: &str) -> bool {
    key.len() == KEY_LEN
        && key.starts_with(KEY_PREFIX)
        && key[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// What lists show of a key.
pub fn display_prefix(key: &str) -> String {
    key.chars().take(11).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(is_well_formed(&a));
        assert!(!is_well_formed("mk_short"));
        assert!(!is_well_formed(&a.replacen("mk_", "xx_", 1)));
        assert_eq!(hash(&a).len(), 64);
        assert_eq!(display_prefix(&a).len(), 11);
    }
}
