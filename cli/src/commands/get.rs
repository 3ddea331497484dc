//! `get`: lists (`get meshes`, with `--size`/`--offset` and kumactl's hint) and single resources
//! (`get mesh NAME`), as tables, YAML or JSON; `-o wide` adds the dataplanes' insight columns.

use std::io::Write;

use ursa_actors::Kind;

use super::Env;
use crate::args::{GetArgs, Page};
use crate::client::{query, segment};
use crate::documents::item_path;
use crate::error::CliError;
use crate::nouns::{self, Number};
use crate::render::{self, Format};
use crate::wait::overview_path;

/// Runs `get`.
pub fn run(env: &Env, args: &GetArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let (kind, number) = nouns::lookup(&args.resource)
        .ok_or_else(|| CliError::Usage(format!("unknown resource {:?}", args.resource)))?;
    match (number, &args.name) {
        (Number::Plural, Some(_)) => Err(CliError::Usage(format!(
            "`get {}` lists every resource; to show one, use `get {} NAME`",
            nouns::plural(kind),
            nouns::singular(kind)
        ))),
        (Number::Singular, None) => Err(CliError::Usage(format!(
            "`get {}` needs a NAME; to list them, use `get {}`",
            nouns::singular(kind),
            nouns::plural(kind)
        ))),
        (Number::Plural, None) => list(env, kind, args, out),
        (Number::Singular, Some(name)) => item(env, kind, name, args.output, out),
    }
}

/// The query of kumactl's list requests: only the flags given.
pub fn page_query(page: &Page, mut pairs: Vec<(&'static str, String)>) -> String {
    if let Some(offset) = page.offset.as_ref().filter(|o| !o.is_empty()) {
        pairs.push(("offset", offset.clone()));
    }
    if let Some(size) = page.size.filter(|s| *s != 0) {
        pairs.push(("size", size.to_string()));
    }
    query(&pairs)
}

fn list(env: &Env, kind: Kind, args: &GetArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let (client, mesh) = env.connect()?;
    let wide = args.output == Format::Wide && kind == Kind::Dataplane;
    let path = if kind == Kind::Mesh {
        "/meshes".to_string()
    } else if wide {
        format!("/meshes/{}/dataplanes+insights", segment(&mesh))
    } else {
        format!("/meshes/{}/{}", segment(&mesh), kind.segment())
    };
    let reply = client
        .get(&format!("{path}{}", page_query(&args.page, Vec::new())))?
        .success()?;
    if matches!(args.output, Format::Yaml | Format::Json) {
        out.write_all(render::document(args.output, &reply.body)?.as_bytes())?;
        return Ok(());
    }
    let list = reply.json()?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let now = chrono::Utc::now();
    let mut table = if wide {
        render::overviews(&items, now, true)
    } else {
        render::resources(kind, &items, now)
    };
    table.footer(render::pagination_footer(list["next"].as_str()));
    out.write_all(table.render().as_bytes())?;
    Ok(())
}

fn item(
    env: &Env,
    kind: Kind,
    name: &str,
    output: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (client, mesh) = env.connect()?;
    let wide = output == Format::Wide && kind == Kind::Dataplane;
    let path = if wide {
        overview_path(&mesh, name)
    } else {
        item_path(kind, &mesh, name)
    };
    let reply = client.get(&path)?;
    if reply.status == 404 {
        let scope = if kind == Kind::Mesh { name } else { &mesh };
        return Err(CliError::Refused(format!(
            "No resources found in {scope} mesh"
        )));
    }
    let reply = reply.success()?;
    if matches!(output, Format::Yaml | Format::Json) {
        out.write_all(render::document(output, &reply.body)?.as_bytes())?;
        return Ok(());
    }
    let items = vec![reply.json()?];
    let now = chrono::Utc::now();
    let table = if wide {
        render::overviews(&items, now, true)
    } else {
        render::resources(kind, &items, now)
    };
    out.write_all(table.render().as_bytes())?;
    Ok(())
}
