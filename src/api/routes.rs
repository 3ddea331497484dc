//! The route table of Kuma's API as data: which paths exist and which methods each accepts.
//! Routing by hand (rather than actix's router) is what lets a wrong method answer 405 with the
//! allowed methods, an unknown path 404, and a CORS pre-flight learn a path's methods, all in
//! Kuma's error JSON.

use actix_web::http::Method;
use ursa_actors::Kind;

/// The overview collection's path segment.
pub const OVERVIEWS: &str = "dataplanes+insights";

/// One endpoint of the API, with its path parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /`.
    Index,
    /// `GET /config`.
    Config,
    /// `GET /catalog`.
    Catalog,
    /// `GET /_openapi.json`.
    OpenApi,
    /// `/meshes`.
    Meshes,
    /// `/meshes/{name}`.
    Mesh {
        /// The mesh.
        name: String,
    },
    /// `/meshes/{mesh}/{T}`.
    Collection {
        /// The mesh.
        mesh: String,
        /// The kind.
        kind: Kind,
    },
    /// `/meshes/{mesh}/{T}/{name}`.
    Item {
        /// The mesh.
        mesh: String,
        /// The kind.
        kind: Kind,
        /// The resource.
        name: String,
    },
    /// `/{T}`: one kind across every mesh.
    Global {
        /// The kind.
        kind: Kind,
    },
    /// `/meshes/{mesh}/dataplanes+insights` or, without a mesh, `/dataplanes+insights`.
    Overviews {
        /// The mesh, or every mesh.
        mesh: Option<String>,
    },
    /// `/meshes/{mesh}/dataplanes+insights/{name}`.
    Overview {
        /// The mesh.
        mesh: String,
        /// The Dataplane.
        name: String,
    },
}

const READ: &[Method] = &[Method::GET];
const WRITE: &[Method] = &[Method::PUT, Method::DELETE, Method::GET];

impl Route {
    /// Resolves decoded path segments (no empty ones) to a route.
    pub fn resolve(segments: &[String]) -> Option<Route> {
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        Some(match s[..] {
            [] => Route::Index,
            ["config"] => Route::Config,
            ["catalog"] => Route::Catalog,
            ["_openapi.json"] => Route::OpenApi,
            ["meshes"] => Route::Meshes,
            [OVERVIEWS] => Route::Overviews { mesh: None },
            [segment] => Route::Global {
                kind: Kind::from_segment(segment)?,
            },
            ["meshes", name] => Route::Mesh { name: name.into() },
            ["meshes", mesh, OVERVIEWS] => Route::Overviews {
                mesh: Some(mesh.into()),
            },
            ["meshes", mesh, segment] => Route::Collection {
                mesh: mesh.into(),
                kind: Kind::from_segment(segment)?,
            },
            ["meshes", mesh, OVERVIEWS, name] => Route::Overview {
                mesh: mesh.into(),
                name: name.into(),
            },
            ["meshes", mesh, segment, name] => Route::Item {
                mesh: mesh.into(),
                kind: Kind::from_segment(segment)?,
                name: name.into(),
            },
            _ => return None,
        })
    }

    /// The route's path template, e.g. `/meshes/{mesh}/traffic-routes/{name}`, as in the
    /// OpenAPI document.
    pub fn template(&self) -> String {
        match self {
            Route::Index => "/".into(),
            Route::Config => "/config".into(),
            Route::Catalog => "/catalog".into(),
            Route::OpenApi => "/_openapi.json".into(),
            Route::Meshes => "/meshes".into(),
            Route::Mesh { .. } => "/meshes/{name}".into(),
            Route::Collection { kind, .. } => format!("/meshes/{{mesh}}/{}", kind.segment()),
            Route::Item { kind, .. } => format!("/meshes/{{mesh}}/{}/{{name}}", kind.segment()),
            Route::Global { kind } => format!("/{}", kind.segment()),
            Route::Overviews { mesh: None } => format!("/{OVERVIEWS}"),
            Route::Overviews { mesh: Some(_) } => format!("/meshes/{{mesh}}/{OVERVIEWS}"),
            Route::Overview { .. } => format!("/meshes/{{mesh}}/{OVERVIEWS}/{{name}}"),
        }
    }

    /// The template as a metric label: `/meshes/:mesh/traffic-routes/:name` (one per endpoint,
    /// whatever the names; `:` because some text-format parsers mistake braces in a label value
    /// for the end of the label set).
    pub fn metric_label(&self) -> String {
        self.template().replace('{', ":").replace('}', "")
    }

    /// The methods the route accepts, in the order Kuma lists them.
    pub fn methods(&self) -> &'static [Method] {
        match self {
            Route::Mesh { .. } | Route::Item { .. } => WRITE,
            _ => READ,
        }
    }
}

/// Splits a raw request path into percent-decoded segments, dropping empty ones (so a trailing
/// slash is ignored, as in Kuma).
pub fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

/// Percent-decodes one path segment; invalid UTF-8 becomes U+FFFD, which no name accepts.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The canonical form of a path with `.`/`..` segments or doubled slashes, if it differs
/// (such requests are redirected, as Go's HTTP server does for Kuma).
pub fn cleaned(path: &str) -> Option<String> {
    let needs = path.contains("//") || path.split('/').any(|s| s == "." || s == "..");
    if !needs {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for s in path.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if path.ends_with('/') && out.len() > 1 {
        out.push('/');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Option<Route> {
        Route::resolve(&segments(path))
    }

    #[test]
    fn resolves_every_shape() {
        assert_eq!(route("/"), Some(Route::Index));
        assert_eq!(route("/meshes/"), Some(Route::Meshes));
        assert_eq!(
            route("/dataplanes+insights"),
            Some(Route::Overviews { mesh: None })
        );
        assert_eq!(
            route("/traffic-routes"),
            Some(Route::Global {
                kind: Kind::TrafficRoute
            })
        );
        assert_eq!(
            route("/meshes/m/dataplane-insights/x"),
            Some(Route::Item {
                mesh: "m".into(),
                kind: Kind::DataplaneInsight,
                name: "x".into()
            })
        );
        assert_eq!(
            route("/meshes/m/dataplanes+insights/x"),
            Some(Route::Overview {
                mesh: "m".into(),
                name: "x".into()
            })
        );
        assert_eq!(route("/trafficpermissions"), None);
        assert_eq!(route("/meshes/m/meshes"), None);
        assert_eq!(route("/meshes/default/dataplanes/dp/extra"), None);
        assert_eq!(route("/nope"), None);
    }

    #[test]
    fn decodes_and_cleans() {
        assert_eq!(percent_decode("a%2Fb%zz%"), "a/b%zz%");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
        assert_eq!(cleaned("/meshes//default"), Some("/meshes/default".into()));
        assert_eq!(cleaned("/meshes/./x/../y/"), Some("/meshes/y/".into()));
        assert_eq!(cleaned("/meshes/default"), None);
    }
}
