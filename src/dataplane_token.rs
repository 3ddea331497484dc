//! Dataplane tokens (Kuma's `dataplaneTokenServer`): a JWT (HS256, [`crate::jwt`]) naming one
//! Dataplane, `{"Mesh": …, "Name": …}` as Kuma's claims, signed by a key kept in the store
//! ([`DATAPLANE_TOKEN_KEY`]), so every instance sharing the store accepts every instance's
//! tokens and a restart keeps them valid. Issued by the admin server's `POST /tokens` and by
//! `ursa-cp token --mesh M --name N`; `ursa-dp` sends its token as the `authorization`
//! metadata of its ADS stream, where the xDS server checks it (X11).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use ursa_actors::store::secrets::DATAPLANE_TOKEN_KEY;
use ursa_actors::store::{Store, StoreError};

use crate::jwt::{random, Signer, KEY_LEN};

/// What a dataplane token says (Kuma's claim names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataplaneClaims {
    /// The Dataplane's mesh.
    #[serde(rename = "Mesh")]
    pub mesh: String,
    /// The Dataplane's name.
    #[serde(rename = "Name")]
    pub name: String,
    /// Issued at (seconds since the epoch).
    #[serde(default)]
    pub iat: u64,
}

/// Why an ADS stream's token is refused (gRPC `UNAUTHENTICATED` or `PERMISSION_DENIED`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DataplaneTokenError {
    /// No `authorization` metadata.
    #[error("this control plane requires a dataplane token: send it as the `authorization` metadata of the ADS stream (ursa-dp --dataplane-token-file)")]
    Missing,
    /// Not a dataplane token of this control plane.
    #[error("the dataplane token is not valid")]
    Invalid,
    /// A valid token of another Dataplane.
    #[error("the dataplane token is for {mesh}.{name}, not for this dataplane")]
    OtherDataplane {
        /// The token's mesh.
        mesh: String,
        /// The token's name.
        name: String,
    },
}

/// Issues and checks dataplane tokens.
pub struct DataplaneTokens {
    signer: Signer,
}

impl DataplaneTokens {
    /// Loads (or, the first time on this store, creates) the signing key.
    pub async fn load(store: &dyn Store) -> Result<DataplaneTokens, StoreError> {
        let key = store
            .get_or_create_secret(DATAPLANE_TOKEN_KEY, Box::new(|| random(KEY_LEN)))
            .await?;
        Ok(DataplaneTokens {
            signer: Signer::new(&key),
        })
    }

    /// A token for Dataplane `name` of `mesh`.
    pub fn issue(&self, mesh: &str, name: &str) -> String {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.signer.sign(&DataplaneClaims {
            mesh: mesh.to_string(),
            name: name.to_string(),
            iat,
        })
    }

    /// The claims of `token` (the `authorization` metadata's value, with or without a
    /// `Bearer ` prefix), if this control plane signed it.
    pub fn verify(&self, token: Option<&str>) -> Result<DataplaneClaims, DataplaneTokenError> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let token = token.ok_or(DataplaneTokenError::Missing)?;
        let token = token
            .strip_prefix("Bearer ")
            .or_else(|| token.strip_prefix("bearer "))
            .unwrap_or(token)
            .trim();
        self.signer
            .verify(token)
            .map_err(|_| DataplaneTokenError::Invalid)
    }

    /// [`DataplaneTokens::verify`], and the token must name `mesh`.`name`.
    pub fn check(
        &self,
        token: Option<&str>,
        mesh: &str,
        name: &str,
    ) -> Result<DataplaneClaims, DataplaneTokenError> {
        let claims = self.verify(token)?;
        if claims.mesh != mesh || claims.name != name {
            return Err(DataplaneTokenError::OtherDataplane {
                mesh: claims.mesh,
                name: claims.name,
            });
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use ursa_actors::store::memory::MemoryStore;

    #[tokio::test]
    async fn tokens_name_one_dataplane_and_are_shared_through_the_store() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let tokens = DataplaneTokens::load(&*store).await.unwrap();
        let token = tokens.issue("default", "web");
        let claims = tokens.check(Some(&token), "default", "web").unwrap();
        assert_eq!(
            (claims.mesh.as_str(), claims.name.as_str()),
            ("default", "web")
        );
        assert!(tokens
            .check(Some(&format!("Bearer {token}")), "default", "web")
            .is_ok());
        assert_eq!(
            tokens.check(Some(&token), "default", "backend"),
            Err(DataplaneTokenError::OtherDataplane {
                mesh: "default".into(),
                name: "web".into()
            })
        );
        assert_eq!(
            tokens.check(Some(&token), "other", "web").unwrap_err(),
            DataplaneTokenError::OtherDataplane {
                mesh: "default".into(),
                name: "web".into()
            }
        );
        assert_eq!(
            tokens.check(None, "default", "web"),
            Err(DataplaneTokenError::Missing)
        );
        assert_eq!(
            tokens.check(Some("  "), "default", "web"),
            Err(DataplaneTokenError::Missing)
        );
        assert_eq!(
            tokens.check(Some("a.b.c"), "default", "web"),
            Err(DataplaneTokenError::Invalid)
        );
        // Another instance on the same store accepts it; one on another store does not.
        let again = DataplaneTokens::load(&*store).await.unwrap();
        assert!(again.check(Some(&token), "default", "web").is_ok());
        let elsewhere = DataplaneTokens::load(&MemoryStore::new()).await.unwrap();
        assert_eq!(
            elsewhere.check(Some(&token), "default", "web"),
            Err(DataplaneTokenError::Invalid)
        );
        // A user token (another key) is not a dataplane token.
        let users = crate::auth::Tokens::load(store.clone()).await.unwrap();
        let (user_token, _) = users.issue("alice", None);
        assert_eq!(
            tokens.check(Some(&user_token), "default", "web"),
            Err(DataplaneTokenError::Invalid)
        );
    }
}
