//! kumactl's configuration file (`~/.kumactl/config`): control planes, contexts and the current
//! context, in kumactl's YAML layout so that an existing kumactl configuration works as it is.
//! Keys this version does not know are kept when the file is rewritten.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml::Mapping;

use crate::error::CliError;

/// The whole file. Fields are in kumactl's (alphabetical) order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// Contexts: a control plane plus defaults.
    #[serde(default)]
    pub contexts: Vec<Context>,
    /// Known control planes.
    #[serde(default)]
    pub control_planes: Vec<ControlPlane>,
    /// The context in use.
    #[serde(default)]
    pub current_context: String,
    /// Keys of other kumactl versions.
    #[serde(flatten)]
    pub extra: Mapping,
}

/// `controlPlanes[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlPlane {
    /// Where it is.
    #[serde(default)]
    pub coordinates: Coordinates,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Other keys.
    #[serde(flatten)]
    pub extra: Mapping,
}

/// `controlPlanes[].coordinates`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coordinates {
    /// The API server.
    #[serde(default)]
    pub api_server: ApiServer,
    /// Other keys.
    #[serde(flatten)]
    pub extra: Mapping,
}

/// `controlPlanes[].coordinates.apiServer`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiServer {
    /// PEM file of the CA that signed an `https` API's certificate (later kumactl's key;
    /// written only when set, so kumactl 0.5 can still read the file).
    #[serde(
        rename = "caCertFile",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ca_cert_file: Option<String>,
    /// The API's URL.
    #[serde(default)]
    pub url: String,
    /// Other keys.
    #[serde(flatten)]
    pub extra: Mapping,
}

/// `contexts[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// The control plane's name.
    #[serde(default)]
    pub control_plane: String,
    /// Defaults for commands.
    #[serde(default)]
    pub defaults: Defaults,
    /// The context's name.
    #[serde(default)]
    pub name: String,
    /// Other keys.
    #[serde(flatten)]
    pub extra: Mapping,
}

/// `contexts[].defaults`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Defaults {
    /// The mesh used when `-m` is not given.
    #[serde(default)]
    pub mesh: String,
    /// Other keys.
    #[serde(flatten)]
    pub extra: Mapping,
}

/// Where the current context points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The API's URL.
    pub url: String,
    /// The CA of an `https` API, if not a public one.
    pub ca_cert_file: Option<String>,
    /// The context's default mesh (may be empty).
    pub mesh: String,
}

/// The default file location, `~/.kumactl/config`.
pub fn default_path() -> Result<PathBuf, CliError> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            CliError::Usage("HOME is not set; pass --config-file to name the configuration".into())
        })?;
    Ok(PathBuf::from(home).join(".kumactl").join("config"))
}

impl Config {
    /// kumactl's configuration when there is no file: control plane and context `local`,
    /// `http://localhost:5681`.
    pub fn kumactl_default() -> Config {
        let mut config = Config::default();
        config.upsert("local", "http://localhost:5681", None);
        config
    }

    /// Reads the file at `path`; a missing or empty file is kumactl's default.
    pub fn load(path: &Path) -> Result<Config, CliError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::kumactl_default())
            }
            Err(e) => {
                return Err(CliError::Usage(format!(
                    "could not read the configuration {}: {e}",
                    path.display()
                )))
            }
        };
        if text.trim().is_empty() {
            return Ok(Config::kumactl_default());
        }
        serde_yaml::from_str(&text).map_err(|e| {
            CliError::Usage(format!(
                "the configuration {} is not valid: {e}",
                path.display()
            ))
        })
    }

    /// Writes the file (through a temporary file, so a crash never leaves half a file),
    /// readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        let fail = |e: std::io::Error| {
            CliError::Usage(format!(
                "could not write the configuration {}: {e}",
                path.display()
            ))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let text = self.to_yaml();
        let tmp = path.with_extension("ursactl-tmp");
        write_private(&tmp, text.as_bytes()).map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }

    /// The configuration as YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }

    /// The current context's control plane and default mesh.
    pub fn current(&self) -> Result<Target, CliError> {
        if self.current_context.is_empty() {
            return Err(CliError::Usage(
                "there is no current context; add a control plane with \
                 `ursactl config control-planes add --name NAME --address URL`"
                    .into(),
            ));
        }
        let ctx = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "current context {:?} is not among the contexts of the configuration",
                    self.current_context
                ))
            })?;
        let cp = self
            .control_planes
            .iter()
            .find(|cp| cp.name == ctx.control_plane)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "context {:?} names Control Plane {:?}, which is not in the configuration",
                    ctx.name, ctx.control_plane
                ))
            })?;
        if cp.coordinates.api_server.url.is_empty() {
            return Err(CliError::Usage(format!(
                "Control Plane {:?} has no coordinates.apiServer.url",
                cp.name
            )));
        }
        Ok(Target {
            url: cp.coordinates.api_server.url.clone(),
            ca_cert_file: cp.coordinates.api_server.ca_cert_file.clone(),
            mesh: ctx.defaults.mesh.clone(),
        })
    }

    /// Whether a control plane of this name exists.
    pub fn has_control_plane(&self, name: &str) -> bool {
        self.control_planes.iter().any(|cp| cp.name == name)
    }

    /// Adds or replaces control plane `name` and its context of the same name, and makes it
    /// current (what `kumactl config control-planes add` does).
    pub fn upsert(&mut self, name: &str, url: &str, ca_cert_file: Option<String>) {
        match self.control_planes.iter_mut().find(|cp| cp.name == name) {
            Some(cp) => {
                cp.coordinates.api_server.url = url.to_string();
                cp.coordinates.api_server.ca_cert_file = ca_cert_file;
            }
            None => self.control_planes.push(ControlPlane {
                name: name.to_string(),
                coordinates: Coordinates {
                    api_server: ApiServer {
                        url: url.to_string(),
                        ca_cert_file,
                        ..ApiServer::default()
                    },
                    ..Coordinates::default()
                },
                ..ControlPlane::default()
            }),
        }
        match self.contexts.iter_mut().find(|c| c.name == name) {
            Some(ctx) => ctx.control_plane = name.to_string(),
            None => self.contexts.push(Context {
                name: name.to_string(),
                control_plane: name.to_string(),
                defaults: Defaults {
                    mesh: "default".into(),
                    ..Defaults::default()
                },
                ..Context::default()
            }),
        }
        self.current_context = name.to_string();
    }

    /// Removes control plane `name` and the contexts that use it. Returns whether the
    /// current context was among them.
    pub fn remove(&mut self, name: &str) -> bool {
        self.control_planes.retain(|cp| cp.name != name);
        let current = self.current_context.clone();
        let mut removed_current = false;
        self.contexts.retain(|c| {
            let gone = c.control_plane == name;
            removed_current |= gone && c.name == current;
            !gone
        });
        if removed_current {
            self.current_context.clear();
        }
        removed_current
    }

    /// Makes the context of control plane `name` current; false if there is none.
    pub fn switch(&mut self, name: &str) -> bool {
        let Some(ctx) = self
            .contexts
            .iter()
            .find(|c| c.control_plane == name || c.name == name)
        else {
            return false;
        };
        self.current_context = ctx.name.clone();
        true
    }

    /// The control plane of the current context, if any.
    pub fn current_control_plane(&self) -> Option<&str> {
        self.contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .map(|c| c.control_plane.as_str())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUMACTL: &str = "\
contexts:
- controlPlane: local
  defaults:
    mesh: default
  name: local
controlPlanes:
- coordinates:
    apiServer:
      url: http://localhost:5681
  name: local
currentContext: local
";

    #[test]
    fn kumactl_files_round_trip_and_keep_unknown_keys() {
        let c: Config = serde_yaml::from_str(KUMACTL).unwrap();
        assert_eq!(c, Config::kumactl_default());
        let target = c.current().unwrap();
        assert_eq!(
            (target.url.as_str(), target.mesh.as_str()),
            ("http://localhost:5681", "default")
        );
        assert_eq!(target.ca_cert_file, None);
        let with_extra = format!("{KUMACTL}futureKey: 1\ncontrolPlanes2: []\n").replace(
            "  name: local\ncurrentContext",
            "  name: local\n  credentials: {token: x}\ncurrentContext",
        );
        let c: Config = serde_yaml::from_str(&with_extra).unwrap();
        let again: Config = serde_yaml::from_str(&c.to_yaml()).unwrap();
        assert_eq!(again, c);
        assert!(c.to_yaml().contains("futureKey: 1"));
        assert!(c.to_yaml().contains("credentials:"));
    }

    #[test]
    fn add_switch_remove() {
        let mut c = Config::kumactl_default();
        c.upsert("prod", "https://cp:5681", Some("/ca.pem".into()));
        assert_eq!(c.current().unwrap().url, "https://cp:5681");
        assert_eq!(
            c.current().unwrap().ca_cert_file.as_deref(),
            Some("/ca.pem")
        );
        assert!(c
            .to_yaml()
            .contains("      caCertFile: /ca.pem\n      url: https://cp:5681\n"));
        assert!(c.switch("local"));
        assert_eq!(c.current_control_plane(), Some("local"));
        assert!(!c.switch("nope"));
        assert!(!c.remove("prod"));
        assert!(c.remove("local"));
        assert!(c.current().is_err());
        assert!(c.control_planes.is_empty() && c.contexts.is_empty());
    }
}
