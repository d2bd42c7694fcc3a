//! Signing keys: parsed once from configuration, looked up by the key id a token names.

use crate::format::MAX_KEY_ID_LEN;
use crate::TokenError;

/// The keys that verify tokens and the one that signs new ones.
///
/// Rotation: add the new key, make it active, keep the old one until its tokens no longer
/// matter, then remove it; tokens naming a removed key stop verifying.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
    active: usize,
}

#[derive(Clone)]
pub(crate) struct SigningKey {
    pub(crate) id: String,
    pub(crate) secret: [u8; 32],
}

impl KeyRing {
    /// Parses the configuration format `id:hex64,id2:hex64` (`keys.signing`); `active` names
    /// the signing key, empty meaning the first. Errors never quote key material.
    pub fn parse(signing: &str, active: &str) -> Result<KeyRing, TokenError> {
        let mut keys = Vec::new();
        for (index, entry) in signing.split(',').enumerate() {
            let entry_number = index + 1;
            let (id, hex_key) = entry.trim().split_once(':').ok_or_else(|| {
                TokenError::InvalidKeyRing(format!("entry {entry_number} is not `id:hex`"))
            })?;
            let mut secret = [0u8; 32];
            hex::decode_to_slice(hex_key, &mut secret).map_err(|_| {
                TokenError::InvalidKeyRing(format!(
                    "key of entry {entry_number} is not 64 hexadecimal characters"
                ))
            })?;
            keys.push((id, secret));
        }
        KeyRing::from_keys(keys, active)
    }

    /// Builds a ring from raw keys; `active` empty means the first.
    pub fn from_keys<'a>(
        keys: impl IntoIterator<Item = (&'a str, [u8; 32])>,
        active: &str,
    ) -> Result<KeyRing, TokenError> {
        let mut ring = Vec::new();
        for (id, secret) in keys {
            check_key_id(id)?;
            if ring.iter().any(|key: &SigningKey| key.id == id) {
                return Err(TokenError::InvalidKeyRing(format!(
                    "key id `{id}` is listed twice"
                )));
            }
            ring.push(SigningKey {
                id: id.to_owned(),
                secret,
            });
        }
        if ring.is_empty() {
            return Err(TokenError::InvalidKeyRing("no signing key".into()));
        }
        let active = if active.is_empty() {
            0
        } else {
            ring.iter()
                .position(|key| key.id == active)
                .ok_or_else(|| {
                    TokenError::InvalidKeyRing(format!(
                        "active key `{active}` is not among the signing keys"
                    ))
                })?
        };
        Ok(KeyRing { keys: ring, active })
    }

    /// Id of the key that signs new tokens.
    pub fn active_key_id(&self) -> &str {
        &self.active_key().id
    }

    /// Ids of every key that verifies, active first or not, in configuration order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|key| key.id.as_str())
    }

    pub(crate) fn active_key(&self) -> &SigningKey {
        // `active` is an index checked at construction.
        &self.keys[self.active]
    }

    pub(crate) fn find(&self, id: &[u8]) -> Option<&SigningKey> {
        self.keys.iter().find(|key| key.id.as_bytes() == id)
    }
}

/// Key ids travel in every token: short and URL-neutral.
fn check_key_id(id: &str) -> Result<(), TokenError> {
    let well_formed = !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if well_formed {
        Ok(())
    } else {
        Err(TokenError::InvalidKeyRing(format!(
            "key id `{}` must be 1-{MAX_KEY_ID_LEN} characters of A-Z a-z 0-9 _ -",
            id.escape_debug()
        )))
    }
}

impl std::fmt::Debug for KeyRing {
    // Ids only: a ring printed in a log must not leak its secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .field("active", &self.active_key_id())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const KEY_B: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    #[test]
    fn parses_several_keys_and_defaults_active_to_first() {
        let ring = KeyRing::parse(&format!("k1:{KEY_A}, k2:{KEY_B}"), "").expect("valid ring");
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(ring.active_key_id(), "k1");
        assert_eq!(ring.find(b"k2").map(|key| key.secret[0]), Some(0x1f));
    }

    #[test]
    fn honours_named_active_key() {
        let ring = KeyRing::parse(&format!("k1:{KEY_A},k2:{KEY_B}"), "k2").expect("valid ring");
        assert_eq!(ring.active_key_id(), "k2");
    }

    #[test]
    fn rejects_bad_configurations() {
        let cases = [
            (String::new(), ""),
            (format!("k1{KEY_A}"), ""),
            ("k1:abcd".to_owned(), ""),
            (format!("k1:{}zz", &KEY_A[..62]), ""),
            (format!("k1:{KEY_A},k1:{KEY_B}"), ""),
            (format!("k1:{KEY_A}"), "k9"),
            (format!("k.1:{KEY_A}"), ""),
            (format!("{}:{KEY_A}", "k".repeat(17)), ""),
            (format!(":{KEY_A}"), ""),
            (format!("k1:{KEY_A},"), ""),
        ];
        for (signing, active) in cases {
            assert!(
                matches!(
                    KeyRing::parse(&signing, active),
                    Err(TokenError::InvalidKeyRing(_))
                ),
                "accepted {signing:?} / {active:?}"
            );
        }
    }

    #[test]
    fn errors_and_debug_never_show_key_material() {
        let ring = KeyRing::parse(&format!("k1:{KEY_A}"), "").expect("valid ring");
        assert!(!format!("{ring:?}").contains(KEY_A));
        let error =
            KeyRing::parse(&format!("k1:{KEY_A},k2:{}", &KEY_B[..60]), "").expect_err("short key");
        assert!(!error.to_string().contains(&KEY_B[..60]));
    }
}
