//! xDS §3.8: the one ProxyTemplate that selects the Dataplane (matcher A) decides what it gets.
//! Without one, or with one importing `default-proxy`, the generated resources stay; a template
//! that does not import it keeps none of them. Its raw resources come last, each replacing the
//! resource of its type and name (the encoder applies that rule, for secrets the stream fills
//! in too). Templates never merge.

use crate::kinds::proxy_template::{ProxyTemplateSpec, DEFAULT_PROXY};
use crate::kinds::Kind;
use crate::xds::policy;

use super::{Builder, Input, Resources};

/// Applies the Dataplane's ProxyTemplate, if any.
pub fn apply<'a>(input: &Input<'a>, builder: &mut Builder<'a>) {
    let Some((template, spec)) =
        policy::select_dataplane_policy(input.state.typed::<ProxyTemplateSpec>(), input.spec)
    else {
        return;
    };
    builder
        .deps
        .policies
        .insert((Kind::ProxyTemplate, template.meta.name.clone()));
    let conf = spec.conf.as_ref();
    if !conf.is_some_and(|c| c.imports.iter().any(|i| i == DEFAULT_PROXY)) {
        builder.resources = Resources::default();
    }
    for resource in conf.iter().flat_map(|c| &c.resources) {
        match resource.decoded.of(&resource.resource) {
            // A later one of a type and name replaces an earlier one, as in Kuma's snapshot.
            Ok(raw) => {
                builder
                    .resources
                    .raw
                    .insert((raw.type_url, raw.name.clone()), raw.clone());
            }
            // Refused at PUT; only a template stored by an older version can get here.
            Err(e) => tracing::debug!(
                template = %template.meta.name,
                resource = %resource.name,
                error = e,
                "raw resource skipped"
            ),
        }
    }
}
