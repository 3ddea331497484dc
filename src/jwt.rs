//! HS256 JSON Web Tokens, the one signing primitive of the control plane's tokens: user
//! tokens ([`crate::auth`]) and dataplane tokens ([`crate::dataplane_token`]) each sign with
//! their own key from the store, so neither kind of token is ever accepted as the other.
//!
//! `ring` (already built for rustls) computes and checks the HMAC in constant time and draws
//! the keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `{"alg":"HS256","typ":"JWT"}`, encoded.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// A token that is not `<header>.<claims>.<signature>` signed by the key, or whose claims do
/// not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a token signed by this control plane")]
pub struct Invalid;

/// Signs and verifies tokens with one HMAC-SHA256 key.
pub struct Signer {
    key: hmac::Key,
}

impl Signer {
    /// A signer with `key` (any length; the store's keys are [`KEY_LEN`] random bytes).
    pub fn new(key: &[u8]) -> Signer {
        Signer {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// The token carrying `claims`.
    pub fn sign(&self, claims: &impl Serialize) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signed = format!("{HEADER}.{payload}");
        let signature = URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, signed.as_bytes()));
        format!("{signed}.{signature}")
    }

    /// The claims of a token this key signed.
    pub fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<C, Invalid> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Invalid);
        };
        if header != HEADER {
            return Err(Invalid);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Invalid)?;
        let signed = &token[..header.len() + 1 + payload.len()];
        hmac::verify(&self.key, signed.as_bytes(), &signature).map_err(|_| Invalid)?;
        URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or(Invalid)
    }
}

/// Length of a signing key.
pub const KEY_LEN: usize = 32;

/// `n` random bytes from the system's CSPRNG.
pub fn random(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    // It failing means the machine cannot make keys at all.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator failed");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Claims {
        who: String,
    }

    #[test]
    fn signed_tokens_verify_and_anything_else_is_invalid() {
        let signer = Signer::new(&random(KEY_LEN));
        let token = signer.sign(&Claims { who: "a".into() });
        assert_eq!(
            signer.verify::<Claims>(&token),
            Ok(Claims { who: "a".into() })
        );
        let other = Signer::new(&random(KEY_LEN));
        assert_eq!(other.verify::<Claims>(&token), Err(Invalid));
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"who":"root"}"#);
        parts[1] = &forged;
        assert_eq!(signer.verify::<Claims>(&parts.join(".")), Err(Invalid));
        for bad in ["", "a.b", "a.b.c.d", &format!("x{token}")] {
            assert_eq!(signer.verify::<Claims>(bad), Err(Invalid), "{bad}");
        }
    }
}
