//! User tokens for writer authentication (`apiServer.auth`): JWTs (HS256) whose HMAC-SHA256
//! key is a control-plane secret in the store ([`USER_TOKEN_KEY`]), so every instance sharing
//! the store accepts every instance's tokens, and a restart keeps them valid. A token names its
//! user (`sub`) and has an id (`jti`); revoking the id (one secret per revoked id,
//! [`USER_TOKEN_REVOKED`]) refuses it on this instance at once and on the others within
//! [`REVOCATION_REFRESH`].
//!
//! They are signed and checked by [`crate::jwt`], as dataplane tokens are, with a key of
//! their own.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use ursa_actors::store::secrets::{USER_TOKEN_KEY, USER_TOKEN_REVOKED};
use ursa_actors::store::{Store, StoreError};

use crate::jwt::{random, Signer, KEY_LEN};

/// How often revocations made through other instances are read.
pub const REVOCATION_REFRESH: Duration = Duration::from_secs(2);

/// What a user token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: String,
    /// The token's id, for revoking it.
    pub jti: String,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at (seconds since the epoch), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
}

/// Why a token is refused (the 401's details).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization: Bearer …` header.
    #[error("this request needs a user token: send Authorization: Bearer <token> (apiServer.auth.enabled)")]
    Missing,
    /// Not a token signed by this control plane.
    #[error("the user token is not valid")]
    Invalid,
    /// Past its `exp`.
    #[error("the user token has expired")]
    Expired,
    /// Its id was revoked.
    #[error("the user token has been revoked")]
    Revoked,
}

/// Issues and checks user tokens.
pub struct Tokens {
    signer: Signer,
    revoked: RwLock<HashSet<String>>,
    store: Arc<dyn Store>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Tokens {
    /// Loads (or, the first time on this store, creates) the signing key and the revocations.
    pub async fn load(store: Arc<dyn Store>) -> Result<Tokens, StoreError> {
        let key = store
            .get_or_create_secret(USER_TOKEN_KEY, Box::new(|| random(KEY_LEN)))
            .await?;
        let tokens = Tokens {
            signer: Signer::new(&key),
            revoked: RwLock::new(HashSet::new()),
            store,
        };
        tokens.refresh().await?;
        Ok(tokens)
    }

    /// A token for `user`, valid for `valid_for` (forever when `None`).
    pub fn issue(&self, user: &str, valid_for: Option<Duration>) -> (String, Claims) {
        let iat = now();
        let claims = Claims {
            sub: user.to_string(),
            jti: URL_SAFE_NO_PAD.encode(random(12)),
            iat,
            exp: valid_for.map(|d| iat + d.as_secs().max(1)),
        };
        (self.signer.sign(&claims), claims)
    }

    /// The claims of a valid, unexpired, unrevoked token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let claims: Claims = self.signer.verify(token).map_err(|_| TokenError::Invalid)?;
        if claims.exp.is_some_and(|exp| now() >= exp) {
            return Err(TokenError::Expired);
        }
        if self.is_revoked(&claims.jti) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// The claims of an `Authorization` header's bearer token.
    pub fn check_header(&self, authorization: Option<&str>) -> Result<Claims, TokenError> {
        let value = authorization.ok_or(TokenError::Missing)?.trim();
        let (scheme, token) = value.split_once(' ').ok_or(TokenError::Missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::Missing);
        }
        self.verify(token.trim())
    }

    fn is_revoked(&self, id: &str) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }

    /// Revokes the token with id `id` (kept in the store, for every instance).
    pub async fn revoke(&self, id: &str) -> Result<(), StoreError> {
        let name = format!("{USER_TOKEN_REVOKED}{id}");
        let at = now().to_string().into_bytes();
        self.store
            .get_or_create_secret(&name, Box::new(move || at))
            .await?;
        self.revoked
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string());
        Ok(())
    }

    /// Reads the revocations the store holds (other instances').
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let found = self.store.secrets(USER_TOKEN_REVOKED).await?;
        let ids: HashSet<String> = found
            .into_iter()
            .filter_map(|(name, _)| name.strip_prefix(USER_TOKEN_REVOKED).map(str::to_string))
            .collect();
        let mut revoked = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        revoked.extend(ids);
        Ok(())
    }

    /// Keeps reading revocations every [`REVOCATION_REFRESH`] (run as a task).
    pub async fn refresh_forever(self: Arc<Self>) {
        let mut every = tokio::time::interval(REVOCATION_REFRESH);
        loop {
            every.tick().await;
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "could not read user-token revocations");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ursa_actors::store::memory::MemoryStore;

    #[tokio::test]
    async fn tokens_verify_expire_and_revoke() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let tokens = Tokens::load(store.clone()).await.unwrap();
        let (token, claims) = tokens.issue("alice", None);
        assert_eq!(tokens.verify(&token).unwrap(), claims);
        assert_eq!(
            tokens
                .check_header(Some(&format!("Bearer {token}")))
                .unwrap()
                .sub,
            "alice"
        );
        assert_eq!(tokens.check_header(None), Err(TokenError::Missing));
        assert_eq!(
            tokens.check_header(Some("Basic abc")),
            Err(TokenError::Missing)
        );
        // Tampering with the payload breaks the signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"root","jti":"x","iat":0}"#);
        parts[1] = &forged;
        assert_eq!(tokens.verify(&parts.join(".")), Err(TokenError::Invalid));
        assert_eq!(tokens.verify("a.b"), Err(TokenError::Invalid));
        // Another store's key signs tokens this one refuses; the same store's key is shared.
        let other = Tokens::load(Arc::new(MemoryStore::new())).await.unwrap();
        assert_eq!(other.verify(&token), Err(TokenError::Invalid));
        let again = Tokens::load(store.clone()).await.unwrap();
        assert!(again.verify(&token).is_ok());
        let (short, _) = tokens.issue("bob", Some(Duration::from_secs(1)));
        let mut c = tokens.verify(&short).unwrap();
        c.exp = Some(1);
        assert_eq!(
            tokens.verify(&tokens.signer.sign(&c)),
            Err(TokenError::Expired)
        );
        tokens.revoke(&claims.jti).await.unwrap();
        assert_eq!(tokens.verify(&token), Err(TokenError::Revoked));
        // Another instance learns it at its next refresh.
        assert!(again.verify(&token).is_ok());
        again.refresh().await.unwrap();
        assert_eq!(again.verify(&token), Err(TokenError::Revoked));
    }
}
