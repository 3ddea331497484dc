//! Reading typed fields out of a mesh backend's free-form `conf` (a `google.protobuf.Struct`),
//! the way Kuma's `ToTyped` (jsonpb) converts it to a typed config, with errors worded like
//! Go's `encoding/json` and jsonpb.
//!
//! Unknown keys are ignored, as in Kuma (its logging tests rely on it), unless the caller asks
//! [`TypedConf::finish`] to reject them: Ursa does for the CA plugin configurations, in the
//! spirit of D8, since a typo there silently changes the mesh's certificate authority.

use serde_json::Value;

use crate::proto::Struct;
use crate::validation::go_quote;

/// A typed view of one `conf` object. Read the fields in their declaration order, then
/// optionally call [`TypedConf::finish`] to reject keys that no read asked for.
pub struct TypedConf<'a> {
    map: Option<&'a Struct>,
    type_name: &'static str,
    known: Vec<&'static str>,
}

impl<'a> TypedConf<'a> {
    /// A view of `conf` (`None` = no conf, every field unset) converting to Go type
    /// `type_name` (used in messages, e.g. `v1alpha1.FileLoggingBackendConfig`).
    pub fn new(conf: Option<&'a Struct>, type_name: &'static str) -> TypedConf<'a> {
        TypedConf {
            map: conf,
            type_name,
            known: Vec::new(),
        }
    }

    /// The raw value of the first of `names` present, `null` included.
    pub fn raw(&mut self, names: &[&'static str]) -> Option<&'a Value> {
        self.known.extend_from_slice(names);
        let map = self.map?;
        names.iter().find_map(|n| map.get(*n))
    }

    /// The value of the first of `names` present and not `null`.
    fn get(&mut self, names: &[&'static str]) -> Option<&'a Value> {
        self.raw(names).filter(|v| !v.is_null())
    }

    /// A `string` field; unset = `""`.
    pub fn string(&mut self, names: &[&'static str]) -> Result<String, String> {
        match self.get(names) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(type_error(other, "string")),
        }
    }

    /// A `bool` field; unset = `false`.
    pub fn bool(&mut self, names: &[&'static str]) -> Result<bool, String> {
        match self.get(names) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(type_error(other, "bool")),
        }
    }

    /// A `uint32` (or `UInt32Value`) field; numbers may be quoted, as jsonpb allows.
    pub fn u32(&mut self, names: &[&'static str]) -> Result<Option<u32>, String> {
        self.get(names).map(to_u32).transpose()
    }

    /// A message field; unset = `None`.
    pub fn object(&mut self, names: &[&'static str]) -> Result<Option<&'a Struct>, String> {
        match self.get(names) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(type_error(other, "map[string]json.RawMessage")),
        }
    }

    /// Fails on the first key (in key order) that no read asked for.
    pub fn finish(self) -> Result<(), String> {
        let Some(map) = self.map else {
            return Ok(());
        };
        match map.keys().find(|k| !self.known.contains(&k.as_str())) {
            Some(unknown) => Err(format!(
                "unknown field {} in {}",
                go_quote(unknown),
                self.type_name
            )),
            None => Ok(()),
        }
    }
}

/// A JSON value converted to `uint32` as jsonpb does (quoted numbers accepted).
pub fn to_u32(value: &Value) -> Result<u32, String> {
    const GO_TYPE: &str = "uint32";
    match value {
        Value::Number(n) => number_to_u32(&n.to_string()).ok_or_else(|| number_error(n, GO_TYPE)),
        Value::String(s) => {
            if let Some(v) = number_to_u32(s) {
                Ok(v)
            } else if s.parse::<f64>().is_ok() && s.trim() == s {
                Err(format!(
                    "json: cannot unmarshal number {s} into Go value of type {GO_TYPE}"
                ))
            } else {
                Err(match s.chars().next() {
                    None => "unexpected end of JSON input".to_string(),
                    Some(c) => format!("invalid character {c:?} looking for beginning of value"),
                })
            }
        }
        other => Err(type_error(other, GO_TYPE)),
    }
}

/// `1234`, `1234.0`, `1.234e3` → 1234; anything else (fractions, negatives, too large) → None.
fn number_to_u32(text: &str) -> Option<u32> {
    if let Ok(v) = text.parse::<u32>() {
        return Some(v);
    }
    let f = text.parse::<f64>().ok()?;
    // Struct numbers are doubles: an integral double in range converts.
    (f.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&f)).then_some(f as u32)
}

fn number_error(n: &serde_json::Number, go_type: &str) -> String {
    format!("json: cannot unmarshal number {n} into Go value of type {go_type}")
}

/// encoding/json's `UnmarshalTypeError` text for a value of the wrong JSON kind.
pub fn type_error(value: &Value, go_type: &str) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    format!("json: cannot unmarshal {kind} into Go value of type {go_type}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conf(v: Value) -> Struct {
        match v {
            Value::Object(m) => m,
            _ => Struct::new(),
        }
    }

    #[test]
    fn reads_fields_and_rejects_unknown_keys() {
        let c = conf(json!({"path": "/x", "port": "8080", "flag": true, "zzz": 1}));
        let mut t = TypedConf::new(Some(&c), "t.T");
        assert_eq!(t.string(&["path"]), Ok("/x".into()));
        assert_eq!(t.u32(&["port"]), Ok(Some(8080)));
        assert_eq!(t.bool(&["flag"]), Ok(true));
        assert_eq!(t.finish(), Err("unknown field \"zzz\" in t.T".into()));
        assert_eq!(TypedConf::new(None, "t.T").finish(), Ok(()));
    }

    #[test]
    fn type_errors_read_like_go() {
        assert_eq!(
            to_u32(&json!(1.5)),
            Err("json: cannot unmarshal number 1.5 into Go value of type uint32".into())
        );
        assert_eq!(
            to_u32(&json!(-1)),
            Err("json: cannot unmarshal number -1 into Go value of type uint32".into())
        );
        assert_eq!(
            to_u32(&json!("abc")),
            Err("invalid character 'a' looking for beginning of value".into())
        );
        assert_eq!(to_u32(&json!(2048.0)), Ok(2048));
        let c = conf(json!({"path": 1}));
        assert_eq!(
            TypedConf::new(Some(&c), "t.T").string(&["path"]),
            Err("json: cannot unmarshal number into Go value of type string".into())
        );
    }
}
