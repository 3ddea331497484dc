//! Control-plane secrets kept in the store: signing keys and CA roots that every control-plane
//! instance sharing the store must agree on, and that must survive restarts.
//!
//! # The primitive
//!
//! [`Store::get_or_create_secret`](super::Store::get_or_create_secret)`(name, generate)` returns
//! the value stored under `name`; when there is none it stores `generate()`'s and returns that.
//! Instances racing to create the same secret end with one value, whichever insert landed first:
//! on PostgreSQL it is `INSERT … ON CONFLICT DO NOTHING` followed by a `SELECT` (table `secrets`,
//! migration 3); in memory a map entry under a lock. `generate` may therefore run on several
//! instances while only one result is kept: it must have no effect beyond returning bytes.
//!
//! [`Store::secrets`](super::Store::secrets)`(prefix)` lists every secret whose name starts with
//! `prefix`, in name order: a set of secrets created one by one (revoked token ids, say) is read
//! back in one call.
//!
//! Values are opaque bytes: never logged, never shown by the API or `GET /config`. There is no
//! update: a key is rotated by creating it under a new name; [`Store::delete_secrets`](super::Store::delete_secrets)
//! removes every secret under a prefix (a deleted mesh's CA).
//!
//! # Names
//!
//! `<purpose>/<detail>`, ASCII, at most [`MAX_NAME_LEN`] bytes ([`check_name`]). In use:
//! - [`USER_TOKEN_KEY`]: the HMAC key that signs user tokens (writer authentication);
//! - [`USER_TOKEN_REVOKED`]`<token id>`: one per revoked user token;
//! - [`DATAPLANE_TOKEN_KEY`]: the HMAC key that signs dataplane tokens;
//! - `ca/<mesh>/<mesh creation, µs>/<backend>`: a builtin CA's root
//!   ([`crate::ca::authorities::root_secret`]), deleted with its mesh;
//! - [`XDS_SELF_SIGNED`]`<xds host>`: the xDS server's self-signed certificate and key, so
//!   every instance and every restart present the certificate the Envoys' bootstraps trust.

use super::StoreError;

/// The HMAC-SHA256 key that signs user tokens.
pub const USER_TOKEN_KEY: &str = "user-token/signing-key";

/// The HMAC-SHA256 key that signs dataplane tokens.
pub const DATAPLANE_TOKEN_KEY: &str = "dataplane-token/signing-key";

/// Prefix of the xDS server's self-signed certificate (followed by the host it names).
pub const XDS_SELF_SIGNED: &str = "xds-server/self-signed/";

/// Prefix of the revocation entry of a user token (followed by the token's id).
pub const USER_TOKEN_REVOKED: &str = "user-token/revoked/";

/// Longest secret name.
pub const MAX_NAME_LEN: usize = 512;

/// Makes the value of a secret that does not exist yet.
pub type Generate = Box<dyn FnOnce() -> Vec<u8> + Send>;

/// A secret's name must be non-empty printable ASCII of at most [`MAX_NAME_LEN`] bytes.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(StoreError::Internal(format!(
            "invalid secret name {:?}: expected 1 to {MAX_NAME_LEN} printable ASCII characters",
            name.chars().take(64).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name(USER_TOKEN_KEY).is_ok());
        assert!(check_name(&format!("{USER_TOKEN_REVOKED}abc")).is_ok());
        for bad in ["", "a b", "é", &"x".repeat(MAX_NAME_LEN + 1)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
