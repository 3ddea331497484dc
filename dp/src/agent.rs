//! The agent's flow (Kuma's `kuma-dp run`): ask the control plane's catalog where the
//! bootstrap server is, optionally register the Dataplane, fetch the Envoy bootstrap, write it
//! and run Envoy, forwarding SIGINT/SIGTERM and exiting with Envoy's status. Meanwhile the
//! access-log server (`crate::access_log`) takes Envoy's gRPC access logs.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use ursa_wire::{BootstrapRequest, Catalog};

/// What `ursa-dp run` needs.
#[derive(Clone, Debug)]
pub struct DpOptions {
    /// Base URL of the control plane's API, e.g. `http://localhost:5681`.
    pub cp_address: String,
    /// Mesh of the dataplane.
    pub mesh: String,
    /// Name of the dataplane.
    pub name: String,
    /// Envoy admin port or range (`9901`, `30001-65535`); empty = no admin.
    pub admin_port: String,
    /// The Envoy binary.
    pub binary_path: String,
    /// Where the bootstrap is written; a temporary folder when absent.
    pub config_dir: Option<PathBuf>,
    /// A Dataplane resource (YAML or JSON) to create or update before starting.
    pub dataplane_file: Option<PathBuf>,
    /// Envoy's drain time in seconds.
    pub drain_time_s: u32,
    /// The dataplane token's file (`--dataplane-token-file`).
    pub dataplane_token_file: Option<PathBuf>,
}

/// Why the agent could not start Envoy.
#[derive(Debug, thiserror::Error)]
pub enum DpError {
    /// The control plane did not answer.
    #[error("could not reach the control plane at {url}: {reason}")]
    Unreachable {
        /// What was requested.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The control plane answered with an error.
    #[error("{0}")]
    Refused(String),
    /// The Dataplane does not exist in the control plane.
    #[error("Dataplane {mesh}/{name} was not found in the control plane: create it first (PUT /meshes/{mesh}/dataplanes/{name}) or pass --dataplane-file")]
    DataplaneNotFound {
        /// Its mesh.
        mesh: String,
        /// Its name.
        name: String,
    },
    /// A local file problem.
    #[error("{0}")]
    Local(String),
}

/// An HTTP answer: status and body.
struct Answer {
    status: u16,
    body: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn call(method: &str, url: &str, body: Option<&Value>) -> Result<Answer, DpError> {
    let unreachable = |e: ureq::Error| DpError::Unreachable {
        url: url.to_string(),
        reason: e.to_string(),
    };
    let agent = agent();
    let resp = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("PUT", Some(b)) => agent
            .put(url)
            .header("content-type", "application/json")
            .send(b.to_string()),
        (_, Some(b)) => agent
            .post(url)
            .header("content-type", "application/json")
            .send(b.to_string()),
        (_, None) => agent.post(url).send_empty(),
    }
    .map_err(unreachable)?;
    let status = resp.status().as_u16();
    let body = resp.into_body().read_to_string().map_err(unreachable)?;
    Ok(Answer { status, body })
}

/// Kuma's error JSON as one line: `title (details); field: message …`.
fn describe_error(status: u16, body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return format!("({status}): {}", body.trim());
    };
    let mut out = format!(
        "{} ({})",
        v["title"].as_str().unwrap_or("error"),
        v["details"].as_str().unwrap_or("")
    );
    for c in v["causes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "; {}: {}",
            c["field"].as_str().unwrap_or(""),
            c["message"].as_str().unwrap_or("")
        ));
    }
    out
}

/// The control plane's catalog; it names a bootstrap server.
pub fn catalog(cp: &str) -> Result<Catalog, DpError> {
    let url = format!("{}/catalog", cp.trim_end_matches('/'));
    let answer = call("GET", &url, None)?;
    if answer.status != 200 {
        return Err(DpError::Refused(format!(
            "GET {url}: {}",
            describe_error(answer.status, &answer.body)
        )));
    }
    let catalog: Catalog = serde_json::from_str(&answer.body)
        .map_err(|e| DpError::Refused(format!("GET {url}: not a catalog: {e}")))?;
    if catalog.apis.bootstrap.url.is_empty() {
        return Err(DpError::Refused(format!(
            "GET {url}: the catalog names no bootstrap server"
        )));
    }
    Ok(catalog)
}

/// Creates or updates the Dataplane from a YAML or JSON file.
pub fn register_dataplane(opts: &DpOptions, file: &Path) -> Result<(), DpError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| DpError::Local(format!("could not read {}: {e}", file.display())))?;
    let mut v: Value = serde_yaml::from_str(&text).map_err(|e| {
        DpError::Local(format!("{} is not valid YAML or JSON: {e}", file.display()))
    })?;
    let Some(obj) = v.as_object_mut() else {
        return Err(DpError::Local(format!(
            "{} must hold a Dataplane object",
            file.display()
        )));
    };
    obj.entry("type").or_insert(json!("Dataplane"));
    obj.entry("mesh").or_insert(json!(opts.mesh));
    obj.entry("name").or_insert(json!(opts.name));
    let url = format!(
        "{}/meshes/{}/dataplanes/{}",
        opts.cp_address.trim_end_matches('/'),
        opts.mesh,
        opts.name
    );
    let answer = call("PUT", &url, Some(&v))?;
    match answer.status {
        200 | 201 => Ok(()),
        s => Err(DpError::Refused(format!(
            "could not register the Dataplane: {}",
            describe_error(s, &answer.body)
        ))),
    }
}

/// Picks the admin port: a single port as is, the first free one of a range, none when empty.
pub fn pick_admin_port(spec: &str) -> Result<u16, DpError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Ok(0);
    }
    let bad = || {
        DpError::Local(format!(
            "--admin-port {spec:?}: expected a port or a range like 30001-65535"
        ))
    };
    let (lo, hi) = match spec.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = spec.parse::<u16>().map_err(|_| bad())?;
            return Ok(p);
        }
    };
    (lo..=hi)
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .ok_or_else(|| DpError::Local(format!("no free port in {spec}")))
}

/// Fetches the bootstrap YAML of the dataplane, whose Envoy is to send access logs to
/// `access_log_socket`.
pub fn fetch_bootstrap(
    opts: &DpOptions,
    bootstrap_url: &str,
    admin_port: u16,
    access_log_socket: &Path,
) -> Result<String, DpError> {
    let url = format!("{}/bootstrap", bootstrap_url.trim_end_matches('/'));
    let request = BootstrapRequest {
        mesh: opts.mesh.clone(),
        name: opts.name.clone(),
        // As kuma-dp: no admin port is no key (the control plane's default applies).
        admin_port: (admin_port != 0).then_some(u32::from(admin_port)),
        // As kuma-dp; the node metadata then names it.
        dataplane_token_path: opts
            .dataplane_token_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        // Ursa's addition (X19): our own socket rather than one per name and mesh in /tmp.
        access_log_socket_path: access_log_socket.display().to_string(),
    };
    let body = serde_json::to_value(&request)
        .map_err(|e| DpError::Local(format!("encoding the bootstrap request: {e}")))?;
    let answer = call("POST", &url, Some(&body))?;
    match answer.status {
        200 => Ok(answer.body),
        404 => Err(DpError::DataplaneNotFound {
            mesh: opts.mesh.clone(),
            name: opts.name.clone(),
        }),
        s => Err(DpError::Refused(format!(
            "POST {url}: {}",
            describe_error(s, &answer.body)
        ))),
    }
}

/// What Envoy is started with.
#[derive(Debug)]
pub struct Prepared {
    /// The bootstrap file.
    pub bootstrap: PathBuf,
    /// Where the bootstrap tells Envoy to stream access logs to.
    pub access_log_socket: PathBuf,
}

/// Everything before Envoy starts.
pub fn prepare(opts: &DpOptions) -> Result<Prepared, DpError> {
    let catalog = catalog(&opts.cp_address)?;
    // As kuma-dp: a control plane with a dataplane-token server checks tokens.
    let token = match &opts.dataplane_token_file {
        Some(file) => Some(crate::token::read(file)?),
        None if !catalog.apis.dataplane_token.local_url.is_empty() => {
            return Err(DpError::Local(format!(
                "the control plane at {} requires a dataplane token: pass \
                 --dataplane-token-file (get one with `ursa-cp token --mesh {} --name {}` or \
                 the admin server's POST /tokens)",
                opts.cp_address, opts.mesh, opts.name
            )))
        }
        None => None,
    };
    if let Some(file) = &opts.dataplane_file {
        register_dataplane(opts, file)?;
    }
    let admin_port = pick_admin_port(&opts.admin_port)?;
    let dir = opts.config_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ursa-dp-{}-{}", opts.mesh, opts.name))
    });
    std::fs::create_dir_all(&dir)
        .map_err(|e| DpError::Local(format!("could not create {}: {e}", dir.display())))?;
    let access_log_socket = crate::access_log::socket_path(&dir);
    let mut yaml = fetch_bootstrap(
        opts,
        &catalog.apis.bootstrap.url,
        admin_port,
        &access_log_socket,
    )?;
    if let Some(token) = &token {
        yaml = crate::token::with_token(&yaml, token)?;
    }
    let path = dir.join("bootstrap.yaml");
    write_private(&path, &yaml)
        .map_err(|e| DpError::Local(format!("could not write {}: {e}", path.display())))?;
    Ok(Prepared {
        bootstrap: path,
        access_log_socket,
    })
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// Runs Envoy with `bootstrap`, forwarding SIGINT and SIGTERM to it; returns the exit code to
/// exit with (Envoy's, or 128 + the signal that ended it).
pub fn run_envoy(opts: &DpOptions, bootstrap: &Path) -> Result<u8, DpError> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    use std::os::unix::process::ExitStatusExt;

    let mut child = std::process::Command::new(&opts.binary_path)
        .arg("-c")
        .arg(bootstrap)
        .args([
            "--disable-hot-restart",
            "--drain-time-s",
            &opts.drain_time_s.to_string(),
        ])
        .spawn()
        .map_err(|e| {
            DpError::Local(format!("could not start Envoy ({}): {e}", opts.binary_path))
        })?;
    let pid = Pid::from_raw(child.id() as i32);
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| DpError::Local(format!("could not install signal handlers: {e}")))?;
    let handle = signals.handle();
    let forwarder = std::thread::spawn(move || {
        for sig in signals.forever() {
            if let Ok(sig) = Signal::try_from(sig) {
                // Envoy may already be gone; nothing to do then.
                let _ = kill(pid, sig);
            }
        }
    });
    let status = child
        .wait()
        .map_err(|e| DpError::Local(format!("waiting for Envoy: {e}")))?;
    handle.close();
    let _ = forwarder.join();
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => code.clamp(0, 255) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        _ => 1,
    })
}
