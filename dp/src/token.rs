//! The dataplane token (X11): read from `--dataplane-token-file` (Kuma's
//! `KUMA_DATAPLANE_RUNTIME_TOKEN_PATH`) and written into the Envoy bootstrap as the
//! `authorization` initial metadata of the ADS gRPC service, which Envoy sends on every
//! stream. The bootstrap file is private to the agent (mode 0600), like the token file.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use crate::agent::DpError;

/// The token in `file`, trimmed; an empty file is an error.
pub fn read(file: &Path) -> Result<String, DpError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        DpError::Local(format!(
            "could not read the dataplane token file {}: {e}",
            file.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() || token.contains(['\n', '\r']) {
        return Err(DpError::Local(format!(
            "{} holds no dataplane token (one line expected)",
            file.display()
        )));
    }
    Ok(token.to_string())
}

/// `bootstrap` (YAML) with `token` as the `authorization` metadata of every ADS gRPC service.
pub fn with_token(bootstrap: &str, token: &str) -> Result<String, DpError> {
    let bad = |why: &str| DpError::Refused(format!("the bootstrap from the control plane {why}"));
    let mut doc: Value =
        serde_yaml::from_str(bootstrap).map_err(|e| bad(&format!("is not YAML: {e}")))?;
    let services = doc
        .get_mut("dynamic_resources")
        .and_then(|d| d.get_mut("ads_config"))
        .and_then(|a| a.get_mut("grpc_services"))
        .and_then(Value::as_sequence_mut)
        .ok_or_else(|| bad("has no dynamic_resources.ads_config.grpc_services"))?;
    for service in services.iter_mut() {
        let Some(service) = service.as_mapping_mut() else {
            continue;
        };
        let mut header = Mapping::new();
        header.insert("key".into(), "authorization".into());
        header.insert("value".into(), token.into());
        service.insert(
            "initial_metadata".into(),
            Value::Sequence(vec![Value::Mapping(header)]),
        );
    }
    serde_yaml::to_string(&doc).map_err(|e| bad(&format!("could not be rewritten: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_becomes_the_ads_authorization_metadata() {
        let yaml = "dynamic_resources:\n  ads_config:\n    api_type: GRPC\n    grpc_services:\n    - envoy_grpc:\n        cluster_name: ads_cluster\n";
        let out = with_token(yaml, "a.b.c").unwrap();
        let v: Value = serde_yaml::from_str(&out).unwrap();
        let md = &v["dynamic_resources"]["ads_config"]["grpc_services"][0]["initial_metadata"][0];
        assert_eq!(md["key"], "authorization");
        assert_eq!(md["value"], "a.b.c");
        assert_eq!(
            v["dynamic_resources"]["ads_config"]["grpc_services"][0]["envoy_grpc"]["cluster_name"],
            "ads_cluster"
        );
        assert!(with_token("x: 1\n", "t").is_err());
        let dir = std::env::temp_dir().join(format!("ursa-dp-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "tok\n").unwrap();
        assert_eq!(read(&file).unwrap(), "tok");
        std::fs::write(&file, "\n").unwrap();
        assert!(read(&file).is_err());
        assert!(read(&dir.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
