//! `delete TYPE NAME` (kumactl's), and `delete -f`: the resources of documents, in reverse
//! dependency order (policies and dataplanes before their mesh).

use std::io::Write;

use ursa_actors::Kind;

use super::apply;
use super::Env;
use crate::args::DeleteArgs;
use crate::client::Client;
use crate::documents::item_path;
use crate::error::{render_refusal, CliError};
use crate::nouns;

/// Runs `delete`.
pub fn run(env: &Env, args: &DeleteArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if let (Some(noun), Some(name)) = (&args.kind, &args.name) {
        let (kind, _) = nouns::lookup(noun)
            .ok_or_else(|| CliError::Usage(format!("unknown resource type {noun:?}")))?;
        let (client, mesh) = env.connect()?;
        return match delete(&client, kind, &mesh, name)? {
            true => {
                writeln!(out, "deleted {} {name:?}", kind.type_name())?;
                Ok(())
            }
            false => Err(CliError::Refused(format!(
                "there is no {} with name {name:?}",
                kind.type_name()
            ))),
        };
    }
    let mut docs = apply::load(env, &args.files)?;
    docs.reverse();
    let (client, _) = env.connect()?;
    for doc in &docs {
        let deleted = delete(&client, doc.kind, &doc.mesh, &doc.name)
            .map_err(|e| e.context(&format!("{} from {}", doc.describe(), doc.source)))?;
        if deleted {
            writeln!(out, "deleted {} {:?}", doc.kind.type_name(), doc.name)?;
        } else {
            // Already gone: the state asked for is reached.
            eprintln!(
                "there is no {} with name {:?} (skipped)",
                doc.kind.type_name(),
                doc.name
            );
        }
    }
    Ok(())
}

/// Deletes one resource; false when there was none.
fn delete(client: &Client, kind: Kind, mesh: &str, name: &str) -> Result<bool, CliError> {
    let reply = client.delete(&item_path(kind, mesh, name))?;
    match reply.status {
        404 => Ok(false),
        s if s < 400 => Ok(true),
        s => Err(CliError::Refused(render_refusal(s, &reply.body))),
    }
}
