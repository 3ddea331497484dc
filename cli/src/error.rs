//! The CLI's errors and their exit codes: 1 when the control plane refused, 2 for bad usage,
//! 3 when the control plane could not be reached, 4 when `wait` ran out of time. Kuma's error
//! JSON is rendered here, in one place, as readable lines.

use serde::Deserialize;

use crate::client::ClientError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags, arguments, files or configuration.
    #[error("{0}")]
    Usage(String),
    /// The control plane (or admin server) answered with a refusal.
    #[error("{0}")]
    Refused(String),
    /// The control plane (or admin server) could not be reached.
    #[error("{0}")]
    Unreachable(String),
    /// `wait` saw no matching state before its timeout.
    #[error("{0}")]
    TimedOut(String),
    /// Standard output could not be written.
    #[error("could not write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Refused(_) | CliError::Output(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable(_) => 3,
            CliError::TimedOut(_) => 4,
        }
    }

    /// Prefixes the message with what was being done.
    pub fn context(self, what: &str) -> CliError {
        match self {
            CliError::Usage(m) => CliError::Usage(format!("{what}: {m}")),
            CliError::Refused(m) => CliError::Refused(format!("{what}: {m}")),
            CliError::Unreachable(m) => CliError::Unreachable(format!("{what}: {m}")),
            CliError::TimedOut(m) => CliError::TimedOut(format!("{what}: {m}")),
            other => other,
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> CliError {
        match e {
            ClientError::BadUrl { .. } => CliError::Usage(e.to_string()),
            ClientError::Unreachable { .. } => CliError::Unreachable(e.to_string()),
            ClientError::Status { status, body } => {
                CliError::Refused(render_refusal(status, &body))
            }
        }
    }
}

/// Kuma's error body.
#[derive(Deserialize)]
struct KumaError {
    #[serde(default)]
    title: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    causes: Vec<Cause>,
}

#[derive(Deserialize)]
struct Cause {
    #[serde(default)]
    field: String,
    #[serde(default)]
    message: String,
}

/// An error answer as text: Kuma's error JSON as `title (details)` and one indented
/// `field: message` line per cause; any other body as kumactl shows it, `(status): body`.
pub fn render_refusal(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<KumaError>(body) {
        Ok(e) if !e.title.is_empty() && !e.details.is_empty() => {
            let mut out = format!("{} ({})", e.title, e.details);
            for cause in e.causes {
                if cause.field.is_empty() {
                    out.push_str(&format!("\n  {}", cause.message));
                } else {
                    out.push_str(&format!("\n  {}: {}", cause.field, cause.message));
                }
            }
            out
        }
        _ => format!("({status}): {}", String::from_utf8_lossy(body).trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kuma_errors_become_readable_lines() {
        let body = br#"{"title":"Could not create a resource","details":"Resource is not valid",
            "causes":[{"field":"networking.inbound[0].port","message":"port has to be in range of [1, 65535]"},
                      {"field":"networking.address","message":"address has to be valid IP address"}]}"#;
        assert_eq!(
            render_refusal(400, body),
            "Could not create a resource (Resource is not valid)\n  \
             networking.inbound[0].port: port has to be in range of [1, 65535]\n  \
             networking.address: address has to be valid IP address"
        );
        assert_eq!(
            render_refusal(
                404,
                br#"{"title":"Could not delete a resource","details":"Not found"}"#
            ),
            "Could not delete a resource (Not found)"
        );
        assert_eq!(render_refusal(502, b"bad gateway\n"), "(502): bad gateway");
        assert_eq!(
            render_refusal(400, br#"{"title":"x"}"#),
            r#"(400): {"title":"x"}"#
        );
    }
}
