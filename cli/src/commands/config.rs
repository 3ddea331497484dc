//! `config view` and `config control-planes add|list|remove|switch`, on kumactl's file.

use std::io::Write;

use super::Env;
use crate::args::{ConfigArgs, ConfigCommand, ControlPlanesCommand};
use crate::client::ClientError;
use crate::error::CliError;
use crate::table::Table;

/// Runs `config`.
pub fn run(env: &Env, args: &ConfigArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let cp = match &args.what {
        ConfigCommand::View => {
            out.write_all(env.config()?.to_yaml().as_bytes())?;
            return Ok(());
        }
        ConfigCommand::ControlPlanes(cp) => &cp.what,
    };
    let mut config = env.config()?;
    match cp {
        ControlPlanesCommand::List => {
            let active = config.current_control_plane().unwrap_or("").to_string();
            let mut t = Table::new(&["ACTIVE", "NAME", "ADDRESS"]);
            for cp in &config.control_planes {
                t.row(vec![
                    if cp.name == active { "*" } else { "" }.to_string(),
                    cp.name.clone(),
                    cp.coordinates.api_server.url.clone(),
                ]);
            }
            out.write_all(t.render().as_bytes())?;
        }
        ControlPlanesCommand::Add {
            name,
            address,
            overwrite,
            ca_cert_file,
        } => {
            if config.has_control_plane(name) && !overwrite {
                return Err(CliError::Usage(format!(
                    "Control Plane with name {name:?} already exists. \
                     Use --overwrite to replace an existing one."
                )));
            }
            check_kuma(env, address, ca_cert_file.as_deref())?;
            config.upsert(name, address, ca_cert_file.clone());
            config.save(&env.config_path)?;
            writeln!(out, "added Control Plane {name:?}")?;
            writeln!(out, "switched context to {name:?}")?;
        }
        ControlPlanesCommand::Remove { name } => {
            if !config.has_control_plane(name) {
                return Err(CliError::Usage(format!(
                    "there is no Control Plane with name {name:?}"
                )));
            }
            let was_current = config.remove(name);
            config.save(&env.config_path)?;
            writeln!(out, "removed Control Plane {name:?}")?;
            if was_current {
                eprintln!(
                    "warning: that was the active Control Plane; choose another with \
                     `ursactl config control-planes switch --name NAME`"
                );
            }
        }
        ControlPlanesCommand::Switch { name } => {
            if !config.has_control_plane(name) || !config.switch(name) {
                return Err(CliError::Usage(format!(
                    "there is no Control Plane with name {name:?}"
                )));
            }
            config.save(&env.config_path)?;
            writeln!(out, "switched active Control Plane to {name:?}")?;
        }
    }
    Ok(())
}

/// kumactl's check before saving: `GET <address>` must answer `tagline: Kuma`.
fn check_kuma(env: &Env, address: &str, ca_cert_file: Option<&str>) -> Result<(), CliError> {
    let client = env.client(address, ca_cert_file)?;
    let reply = client.get_url(address).map_err(|e| match e {
        ClientError::Unreachable { reason, .. } => CliError::Unreachable(format!(
            "Control Plane API Server is not responding: {address}: {reason}"
        )),
        other => other.into(),
    })?;
    let not_kuma = || {
        CliError::Refused(format!(
            "provided address is not valid Kuma Control Plane API Server: {address} answered {}",
            reply.status
        ))
    };
    if reply.status != 200 {
        return Err(not_kuma());
    }
    let index: serde_json::Value = serde_json::from_slice(&reply.body).map_err(|_| {
        CliError::Refused(format!(
            "could not unmarshal body of {address}. \
             Provided address is not valid Kuma Control Plane API Server"
        ))
    })?;
    if index["tagline"].as_str() != Some("Kuma") {
        return Err(CliError::Refused(format!(
            "provided address is not valid Kuma Control Plane API Server: \
             {address} answered tagline {}",
            index["tagline"]
        )));
    }
    Ok(())
}
