//! `diff -f`: what `apply` would change, as a unified diff of each resource's live state
//! against its document (keys sorted, server-managed times left out).

use std::io::Write;

use serde_yaml::{Mapping, Value};
use ursa_actors::Kind;

use super::apply;
use super::Env;
use crate::args::DiffArgs;
use crate::diff::unified;
use crate::error::CliError;

/// Runs `diff`.
pub fn run(env: &Env, args: &DiffArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let docs = apply::load(env, &args.files)?;
    let (client, _) = env.connect()?;
    for doc in &docs {
        let reply = client.get(&doc.path())?;
        let live = if reply.status == 404 {
            String::new()
        } else {
            let body: Value = serde_json::from_slice(&reply.success()?.body)
                .map_err(|e| CliError::Refused(format!("the control plane sent no JSON: {e}")))?;
            canonical_yaml(doc.kind, &body)
        };
        let wanted = canonical_yaml(doc.kind, &doc.body);
        let id = match doc.kind {
            Kind::Mesh => format!("{}/{}", doc.kind.type_name(), doc.name),
            _ => format!("{}/{}/{}", doc.kind.type_name(), doc.mesh, doc.name),
        };
        let old_name = format!("live/{id}");
        let new_name = format!("file/{id} ({})", doc.source);
        if let Some(d) = unified(&old_name, &new_name, &live, &wanted) {
            out.write_all(d.as_bytes())?;
        }
    }
    Ok(())
}

/// A resource as sorted YAML without the times the server sets (and without `mesh` on a Mesh,
/// which the API ignores).
fn canonical_yaml(kind: Kind, resource: &Value) -> String {
    let mut v = sorted(resource);
    if let Value::Mapping(m) = &mut v {
        m.shift_remove("creationTime");
        m.shift_remove("modificationTime");
        if kind == Kind::Mesh {
            m.shift_remove("mesh");
        }
    }
    serde_yaml::to_string(&v).unwrap_or_default()
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Mapping(m) => {
            let mut entries: Vec<(&Value, &Value)> = m.iter().collect();
            entries.sort_by_key(|(k, _)| key_text(k));
            let mut out = Mapping::with_capacity(entries.len());
            for (k, v) in entries {
                out.insert(k.clone(), sorted(v));
            }
            Value::Mapping(out)
        }
        Value::Sequence(s) => Value::Sequence(s.iter().map(sorted).collect()),
        // `50` and `50.0` are the same value to the API.
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                Value::Number((f as i64).into())
            }
            _ => v.clone(),
        },
        other => other.clone(),
    }
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other).unwrap_or_default(),
    }
}
