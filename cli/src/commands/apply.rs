//! `apply -f`: documents from files, directories or stdin, checked locally, then PUT in
//! dependency order, stopping at the first refusal. `--dry-run` prints the resolved documents;
//! `--dry-run=server` asks the API to validate them without storing (`?dryRun=true`).

use std::io::Write;

use super::Env;
use crate::args::{ApplyArgs, DryRun, FileArgs};
use crate::documents::{self, Document, Sources};
use crate::error::CliError;

/// Reads the documents named by `-f`, `-R` and `-v`.
pub fn load(env: &Env, files: &FileArgs) -> Result<Vec<Document>, CliError> {
    let vars = documents::parse_vars(&files.vars)?;
    let mesh = env.mesh()?;
    documents::load(&Sources {
        files: &files.files,
        recursive: files.recursive,
        vars: &vars,
        mesh: &mesh,
    })
}

/// Runs `apply`.
pub fn run(env: &Env, args: &ApplyArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let docs = load(env, &args.files)?;
    if args.dry_run == Some(DryRun::Client) {
        for (i, doc) in docs.iter().enumerate() {
            if i > 0 {
                writeln!(out, "---")?;
            }
            out.write_all(
                serde_yaml::to_string(&doc.body)
                    .unwrap_or_default()
                    .as_bytes(),
            )?;
        }
        return Ok(());
    }
    let server_dry_run = args.dry_run == Some(DryRun::Server);
    let (client, _) = env.connect()?;
    for (i, doc) in docs.iter().enumerate() {
        let mut path = doc.path();
        if server_dry_run {
            path.push_str("?dryRun=true");
        }
        let reply = client
            .put_json(&path, &documents::to_json(&doc.body)?)
            .and_then(|r| r.success())
            .map_err(|e| {
                let applied = if i > 0 && !server_dry_run {
                    format!(" ({i} of {} documents were applied before it)", docs.len())
                } else {
                    String::new()
                };
                CliError::from(e).context(&format!(
                    "{} from {}{applied}",
                    doc.describe(),
                    doc.source
                ))
            })?;
        if server_dry_run {
            writeln!(
                out,
                "{} is valid (server dry run, nothing stored)",
                doc.describe()
            )?;
        } else {
            let done = if reply.status == 201 {
                "created"
            } else {
                "updated"
            };
            env.info(&format!("{} {done}", doc.describe()));
        }
    }
    Ok(())
}
