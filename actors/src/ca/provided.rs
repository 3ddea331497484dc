//! The `provided` CA: a root certificate and key the operator gives through `conf.cert` and
//! `conf.key` data sources (`file`, `inline`, `inlineString`; `secret` names a Secret, which
//! Ursa does not store yet). The checks the API makes when the Mesh is written (§6.2.5, D15)
//! are made again when the CA is loaded for issuing: a file may have changed since, or become
//! unreadable, which is then reported for the dataplanes that needed it, never a crash.

use std::sync::Arc;

use super::{Ca, CaError};
use crate::kinds::mesh::mtls::{check_root_ca, load_provided, CaBackend, CaFiles, Mtls};

/// The provided CA `backend` of `mtls`, in mesh `mesh`, from `files` (read beforehand with
/// [`CaFiles::read`]).
pub fn load(
    mesh: &str,
    mtls: &Mtls,
    backend: &CaBackend,
    files: &CaFiles,
) -> Result<Arc<Ca>, CaError> {
    let fail = |reason: String| CaError::Provided {
        backend: backend.name.clone(),
        reason,
    };
    debug_assert_eq!(mtls.enabled_backend, backend.name);
    let (cert, key) = load_provided(backend, mesh, files).map_err(fail)?;
    if let Some(problem) = check_root_ca(&cert, &key).into_iter().next() {
        return Err(fail(problem));
    }
    let cert = String::from_utf8(cert).map_err(|_| fail("the certificate is not PEM".into()))?;
    let key = String::from_utf8(key).map_err(|_| fail("the key is not PEM".into()))?;
    Ca::from_pem(&backend.name, &cert, &key).map_err(fail)
}
