//! `inspect dataplanes`: every dataplane of the mesh with its insight — status, last connection
//! and update, counts of updates and rejections, certificate state — filtered by `--tag` and
//! `--gateway` on the server.

use std::io::Write;

use super::get::page_query;
use super::Env;
use crate::args::{Inspect, InspectArgs};
use crate::client::segment;
use crate::error::CliError;
use crate::render::{self, Format};

/// Runs `inspect`.
pub fn run(env: &Env, args: &InspectArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let Inspect::Dataplanes(args) = &args.what;
    let mut filters = Vec::new();
    if args.gateway {
        filters.push(("gateway", "true".to_string()));
    }
    for tag in &args.tags {
        let (k, v) = tag.split_once('=').ok_or_else(|| {
            CliError::Usage(format!("--tag {tag:?} must be formatted as key=value"))
        })?;
        filters.push(("tag", format!("{k}:{v}")));
    }
    let (client, mesh) = env.connect()?;
    let path = format!(
        "/meshes/{}/dataplanes+insights{}",
        segment(&mesh),
        page_query(&args.page, filters)
    );
    let reply = client.get(&path)?.success()?;
    if matches!(args.output, Format::Yaml | Format::Json) {
        out.write_all(render::document(args.output, &reply.body)?.as_bytes())?;
        return Ok(());
    }
    let list = reply.json()?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let mut table = render::overviews(&items, chrono::Utc::now(), false);
    table.footer(render::pagination_footer(list["next"].as_str()));
    out.write_all(table.render().as_bytes())?;
    Ok(())
}
