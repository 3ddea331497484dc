//! `generate dataplane-token`: as kumactl, the control plane's catalog names the dataplane-token
//! server (`apis.dataplaneToken`: its local URL when the API is on this machine, else its
//! public one), which answers `POST /tokens` with `{"mesh", "name"}` by the token as text.

use std::io::Write;

use super::Env;
use crate::args::{Generate, GenerateArgs};
use crate::error::{render_refusal, CliError};

/// Runs `generate`.
pub fn run(env: &Env, args: &GenerateArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let Generate::DataplaneToken { dataplane } = &args.what;
    let (client, mesh) = env.connect()?;
    let catalog = client.get("/catalog")?.success()?.json()?;
    let server = &catalog["apis"]["dataplaneToken"];
    let local = is_loopback(client.base());
    let key = if local { "localUrl" } else { "publicUrl" };
    let url = server[key].as_str().unwrap_or("");
    if url.is_empty() {
        return Err(CliError::Unreachable(format!(
            "the control plane at {} advertises no dataplane-token server \
             (apis.dataplaneToken.{key} of its /catalog is empty); \
             enable the admin server to be able to generate tokens",
            client.base()
        )));
    }
    let body = serde_json::json!({ "mesh": mesh, "name": dataplane });
    let tokens = format!("{}/tokens", url.trim_end_matches('/'));
    let reply = client
        .post_json(&tokens, body.to_string().as_bytes())
        .map_err(|e| CliError::from(e).context("dataplane-token server"))?;
    if reply.status != 200 {
        return Err(CliError::Refused(format!(
            "dataplane-token server: {}",
            render_refusal(reply.status, &reply.body)
        )));
    }
    out.write_all(&reply.body)?;
    Ok(())
}

/// Whether the host of `url` is this machine (kumactl then uses the admin server's local URL).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("http://localhost:5681"));
        assert!(is_loopback("http://127.0.0.1:5681/api"));
        assert!(is_loopback("http://[::1]:5681"));
        assert!(is_loopback("http://127.3.4.5"));
        assert!(!is_loopback("https://cp.example.com:5681"));
        assert!(!is_loopback("http://10.0.0.1:5681"));
    }
}
