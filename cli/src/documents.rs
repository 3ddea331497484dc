//! The documents `apply`, `diff` and `delete -f` read: files, `-` for stdin, or directories
//! (`-R` recursive), each holding one or more `---`-separated YAML (or JSON) documents, with
//! `{{ key }}` placeholders replaced by `-v key=value`. Every document is checked before any is
//! sent, and they are put in dependency order: the kinds table's order, Meshes first.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::{Mapping, Value};
use ursa_actors::Kind;

use crate::error::CliError;
use crate::nouns;

/// One resource read from a file.
#[derive(Clone, Debug)]
pub struct Document {
    /// Where it came from: `path` or `path#N` (N counts documents from 1) for multi-document
    /// files.
    pub source: String,
    /// Its kind.
    pub kind: Kind,
    /// Its mesh (for a Mesh, its own name).
    pub mesh: String,
    /// Its name.
    pub name: String,
    /// The resource as sent: the document with `mesh` filled in (none for a Mesh).
    pub body: Value,
}

impl Document {
    /// The API path of the resource.
    pub fn path(&self) -> String {
        item_path(self.kind, &self.mesh, &self.name)
    }

    /// `Kind "name"` (with the mesh for mesh-scoped kinds), for messages.
    pub fn describe(&self) -> String {
        if self.kind == Kind::Mesh {
            format!("{} {:?}", self.kind.type_name(), self.name)
        } else {
            format!(
                "{} {:?} in mesh {:?}",
                self.kind.type_name(),
                self.name,
                self.mesh
            )
        }
    }
}

/// The API path of a resource.
pub fn item_path(kind: Kind, mesh: &str, name: &str) -> String {
    use crate::client::segment;
    if kind == Kind::Mesh {
        format!("/meshes/{}", segment(name))
    } else {
        format!(
            "/meshes/{}/{}/{}",
            segment(mesh),
            kind.segment(),
            segment(name)
        )
    }
}

/// Parses `-v key=value` arguments (each may hold several pairs separated by commas, as
/// kumactl's flag parser allows).
pub fn parse_vars(args: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut vars = BTreeMap::new();
    for arg in args {
        for pair in arg.split(',') {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                CliError::Usage(format!("--var {pair:?} must be formatted as key=value"))
            })?;
            vars.insert(k.trim().to_string(), v.to_string());
        }
    }
    Ok(vars)
}

/// Replaces every `{{ key }}` (any spaces inside the braces) whose key is in `vars`. A
/// placeholder without a value is an error, so a forgotten `-v` never reaches the server.
pub fn render(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        let key = rest[start + 2..start + 2 + len].trim();
        let is_placeholder = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        out.push_str(&rest[..start]);
        let end = start + 2 + len + 2;
        match vars.get(key) {
            Some(value) if is_placeholder => out.push_str(value),
            None if is_placeholder => {
                return Err(format!(
                    "placeholder {{{{ {key} }}}} has no value; pass -v {key}=VALUE"
                ))
            }
            _ => out.push_str(&rest[start..end]),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Where documents come from.
pub struct Sources<'a> {
    /// `-f` arguments: files, directories, or `-` for stdin.
    pub files: &'a [String],
    /// `-R`: descend into subdirectories.
    pub recursive: bool,
    /// `-v` values.
    pub vars: &'a BTreeMap<String, String>,
    /// The mesh of documents without one (`-m`).
    pub mesh: &'a str,
}

/// Reads, renders and checks every document, in dependency order (stable within a kind).
pub fn load(sources: &Sources) -> Result<Vec<Document>, CliError> {
    if sources.files.is_empty() {
        return Err(CliError::Usage(
            "-f FILE is required (`-` reads stdin)".into(),
        ));
    }
    let mut docs = Vec::new();
    for arg in sources.files {
        if arg == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::Usage(format!("could not read stdin: {e}")))?;
            parse_text("<stdin>", &text, sources, &mut docs)?;
            continue;
        }
        let path = Path::new(arg);
        let meta = std::fs::metadata(path)
            .map_err(|e| CliError::Usage(format!("could not read {arg}: {e}")))?;
        let files = if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, sources.recursive, &mut files)?;
            files
        } else {
            vec![path.to_path_buf()]
        };
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Usage(format!("could not read {}: {e}", file.display())))?;
            parse_text(&file.display().to_string(), &text, sources, &mut docs)?;
        }
    }
    let mut seen = HashSet::new();
    for d in &docs {
        if !seen.insert((d.kind, d.mesh.clone(), d.name.clone())) {
            return Err(CliError::Usage(format!(
                "{} is defined twice (again in {})",
                d.describe(),
                d.source
            )));
        }
    }
    docs.sort_by_key(|d| d.kind.index());
    Ok(docs)
}

/// The files of a directory that hold documents (`.yaml`, `.yml`, `.json`), sorted by path.
fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), CliError> {
    let read = std::fs::read_dir(dir)
        .map_err(|e| CliError::Usage(format!("could not read {}: {e}", dir.display())))?;
    let mut entries: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            if recursive {
                walk(&path, recursive, out)?;
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

fn parse_text(
    source: &str,
    text: &str,
    sources: &Sources,
    docs: &mut Vec<Document>,
) -> Result<(), CliError> {
    let text = render(text, sources.vars).map_err(|e| CliError::Usage(format!("{source}: {e}")))?;
    let values: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(Value::deserialize)
        .collect::<Result<_, _>>()
        .map_err(|e| CliError::Usage(format!("{source}: not valid YAML: {e}")))?;
    let many = values.iter().filter(|v| !v.is_null()).count() > 1;
    let mut n = 0;
    for value in values {
        if value.is_null() {
            continue;
        }
        n += 1;
        let at = if many {
            format!("{source}#{n}")
        } else {
            source.to_string()
        };
        docs.push(document(&at, value, sources.mesh)?);
    }
    Ok(())
}

fn document(source: &str, value: Value, default_mesh: &str) -> Result<Document, CliError> {
    let bad = |m: &str| CliError::Usage(format!("{source}: {m}"));
    let Value::Mapping(mut map) = value else {
        return Err(bad("a document must be a YAML mapping (an object)"));
    };
    let text = |map: &Mapping, key: &str| -> Result<String, CliError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(bad(&format!("{key} must be a string"))),
        }
    };
    let type_name = text(&map, "type")?;
    if type_name.is_empty() {
        return Err(bad("type field cannot be empty"));
    }
    let kind = nouns::kind_of_type(&type_name).ok_or_else(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.type_name()).collect();
        bad(&format!(
            "unknown type {type_name:?}; known types: {}",
            known.join(", ")
        ))
    })?;
    let name = text(&map, "name")?;
    if name.is_empty() {
        return Err(bad("Name field cannot be empty"));
    }
    let mesh = if kind == Kind::Mesh {
        map.shift_remove("mesh");
        name.clone()
    } else {
        let mesh = text(&map, "mesh")?;
        if mesh.is_empty() {
            let mesh = default_mesh.to_string();
            insert_after(&mut map, "type", "mesh", Value::String(mesh.clone()));
            mesh
        } else {
            mesh
        }
    };
    Ok(Document {
        source: source.to_string(),
        kind,
        mesh,
        name,
        body: Value::Mapping(map),
    })
}

/// Inserts `key` right after `after` (keeps `type, mesh, name` first, as the API writes them).
fn insert_after(map: &mut Mapping, after: &str, key: &str, value: Value) {
    let mut out = Mapping::with_capacity(map.len() + 1);
    let entries = std::mem::take(map);
    let mut placed = false;
    for (k, v) in entries {
        let is_after = k.as_str() == Some(after);
        if k.as_str() != Some(key) {
            out.insert(k, v);
        }
        if is_after && !placed {
            out.insert(Value::String(key.to_string()), value.clone());
            placed = true;
        }
    }
    if !placed {
        out.insert(Value::String(key.to_string()), value);
    }
    *map = out;
}

/// The body of a document as JSON bytes, for a PUT.
pub fn to_json(body: &Value) -> Result<Vec<u8>, CliError> {
    serde_json::to_vec(body).map_err(|e| CliError::Usage(format!("not representable as JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn placeholders() {
        let v = vars(&[("address", "10.0.0.1"), ("port", "80")]);
        assert_eq!(
            render("a: {{ address }}:{{port}} {{  port  }}", &v).unwrap(),
            "a: 10.0.0.1:80 80"
        );
        assert!(render("a: {{ nope }}", &v)
            .unwrap_err()
            .contains("-v nope=VALUE"));
        // Not placeholders: left alone.
        assert_eq!(
            render("x: '{{ a b }}' {{", &v).unwrap(),
            "x: '{{ a b }}' {{"
        );
    }

    #[test]
    fn vars_parse_like_kumactl() {
        let v = parse_vars(&["a=1,b=x=y".into(), "c=".into()]).unwrap();
        assert_eq!(v, vars(&[("a", "1"), ("b", "x=y"), ("c", "")]));
        assert!(parse_vars(&["novalue".into()]).is_err());
    }

    #[test]
    fn documents_get_the_default_mesh_and_are_checked() {
        let v = serde_yaml::from_str("type: TrafficRoute\nname: r\nsources: []").unwrap();
        let d = document("f", v, "demo").unwrap();
        assert_eq!(d.mesh, "demo");
        assert_eq!(
            serde_yaml::to_string(&d.body).unwrap(),
            "type: TrafficRoute\nmesh: demo\nname: r\nsources: []\n"
        );
        assert_eq!(d.path(), "/meshes/demo/traffic-routes/r");
        let v = serde_yaml::from_str("type: Mesh\nname: m\nmesh: ignored").unwrap();
        let d = document("f", v, "demo").unwrap();
        assert_eq!((d.mesh.as_str(), d.path()), ("m", "/meshes/m".to_string()));
        let err = |y: &str| {
            document("f", serde_yaml::from_str(y).unwrap(), "d")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err("name: x"), "f: type field cannot be empty");
        assert_eq!(err("type: Mesh"), "f: Name field cannot be empty");
        assert!(err("type: Nope\nname: x").starts_with("f: unknown type \"Nope\""));
        assert_eq!(
            err("[1]"),
            "f: a document must be a YAML mapping (an object)"
        );
    }
}
