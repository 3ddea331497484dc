//! A stored resource (meta + spec) and its wire envelope: one flat JSON object with the meta
//! keys first and the spec's fields merged in (§2.1), in both directions.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::kinds::{Kind, Spec};
use crate::proto::{format_meta_time, parse_rfc3339};
use crate::validation::Violations;

/// The time stamped on a write: now, at microsecond precision, so a resource reads back the
/// same from every store (PostgreSQL keeps microseconds).
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

/// Longest accepted resource name (D17: a DNS name).
pub const MAX_NAME_LEN: usize = 253;

/// Server-controlled metadata of a resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    /// Mesh the resource lives in (for a Mesh: its own name).
    pub mesh: String,
    /// Name, unique per kind and mesh.
    pub name: String,
    /// When it was created.
    pub creation_time: DateTime<Utc>,
    /// When it was last replaced.
    pub modification_time: DateTime<Utc>,
    /// Starts at 1, +1 per update; never shown on the API.
    pub version: u64,
}

/// A resource of any kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// Metadata.
    pub meta: Meta,
    /// Spec.
    pub spec: Spec,
}

impl Resource {
    /// The kind of the resource.
    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }

    /// A fresh resource created now.
    pub fn new(mesh: &str, name: &str, spec: Spec, now: DateTime<Utc>) -> Resource {
        Resource {
            meta: Meta {
                mesh: mesh.to_string(),
                name: name.to_string(),
                creation_time: now,
                modification_time: now,
                version: 1,
            },
            spec,
        }
    }

    /// This resource with `spec` replacing its own, modified at `now`.
    pub fn updated(&self, spec: Spec, now: DateTime<Utc>) -> Resource {
        Resource {
            meta: Meta {
                modification_time: now,
                version: self.meta.version + 1,
                ..self.meta.clone()
            },
            spec,
        }
    }
}

/// The wire envelope of any spec: `type`, `mesh` (omitted for meshes), `name`, times, then the
/// spec's own fields.
#[derive(Serialize)]
pub struct Envelope<'a, S: Serialize> {
    /// The `type` string.
    #[serde(rename = "type")]
    pub type_name: &'a str,
    /// The mesh; empty for a Mesh.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub mesh: &'a str,
    /// The name.
    pub name: &'a str,
    /// Creation time.
    #[serde(rename = "creationTime", serialize_with = "meta_time")]
    pub creation_time: &'a DateTime<Utc>,
    /// Modification time.
    #[serde(rename = "modificationTime", serialize_with = "meta_time")]
    pub modification_time: &'a DateTime<Utc>,
    /// The spec, flattened into the same object.
    #[serde(flatten)]
    pub spec: &'a S,
}

fn meta_time<S: Serializer>(t: &&DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_meta_time(t))
}

impl<'a, S: Serialize> Envelope<'a, S> {
    /// The envelope of `spec` under `meta`.
    pub fn new(type_name: &'a str, meta: &'a Meta, spec: &'a S, is_mesh: bool) -> Self {
        Envelope {
            type_name,
            mesh: if is_mesh { "" } else { &meta.mesh },
            name: &meta.name,
            creation_time: &meta.creation_time,
            modification_time: &meta.modification_time,
            spec,
        }
    }
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.kind();
        Envelope::new(kind.type_name(), &self.meta, &self.spec, kind == Kind::Mesh).serialize(s)
    }
}

/// The meta keys of a PUT body; times are accepted and ignored.
#[derive(Debug, Default, PartialEq)]
pub struct BodyMeta {
    /// `type`, `""` when absent.
    pub type_name: String,
    /// `mesh`, `""` when absent.
    pub mesh: String,
    /// `name`, `""` when absent.
    pub name: String,
}

const META_KEYS: [&str; 5] = ["type", "mesh", "name", "creationTime", "modificationTime"];

/// Splits a PUT body into its meta keys and the spec object. Malformed JSON, a non-object and
/// meta keys of the wrong type are violations (field `body` or the key).
pub fn parse_body(bytes: &[u8]) -> Result<(BodyMeta, Value), Violations> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Violations::single(
            "body",
            "request body is empty: expected a JSON object",
        ));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Violations::single("body", format!("request body is not valid JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(Violations::single(
            "body",
            format!("expected a JSON object, got {}", json_type(&value)),
        ));
    };
    let mut meta = BodyMeta::default();
    let mut violations = Violations::new();
    for key in META_KEYS {
        match object.remove(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => match key {
                "type" => meta.type_name = s,
                "mesh" => meta.mesh = s,
                "name" => meta.name = s,
                _ => {
                    if let Err(e) = parse_rfc3339(&s) {
                        violations.add(key, e);
                    }
                }
            },
            Some(other) => violations.add(
                key,
                format!("invalid type: {}, expected a string", json_type(&other)),
            ),
        }
    }
    violations.into_result()?;
    Ok((meta, Value::Object(object)))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn valid_name_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-' || b == b'_')
}

const INVALID_CHARS: &str =
    "invalid characters. Valid characters are numbers, lowercase latin letters and '-', '_' symbols.";

/// The envelope checks of a PUT (§3.6 step 4, D17), all collected. For a Mesh `url_mesh` is
/// the mesh's own name.
pub fn check_envelope(kind: Kind, url_mesh: &str, url_name: &str, body: &BodyMeta) -> Violations {
    let mut v = Violations::new();
    if body.name != url_name {
        v.add("name", "name from the URL has to be the same as in body");
    }
    if body.type_name != kind.type_name() {
        v.add("type", "type from the URL has to be the same as in body");
    }
    if kind != Kind::Mesh && body.mesh != url_mesh {
        v.add("mesh", "mesh from the URL has to be the same as in body");
    }
    if !valid_name_chars(url_name) {
        v.add("name", INVALID_CHARS);
    }
    if !valid_name_chars(url_mesh) {
        v.add("mesh", INVALID_CHARS);
    }
    if url_name.len() > MAX_NAME_LEN {
        v.add(
            "name",
            format!("name is too long. Maximum length is {MAX_NAME_LEN}"),
        );
    }
    if kind != Kind::Mesh && url_mesh.len() > MAX_NAME_LEN {
        v.add(
            "mesh",
            format!("name is too long. Maximum length is {MAX_NAME_LEN}"),
        );
    }
    v
}

/// Decodes a whole PUT body for `kind` at `/meshes/{url_mesh}/…/{url_name}`: body parsing,
/// envelope checks, then the spec (§3.6 steps 3–4). Errors are "Could not process" errors.
///
/// A well-formed body is decoded once, straight from its bytes into the spec, with the meta
/// keys picked out on the way (no intermediate `serde_json::Value`). A body that fails to is
/// decoded again the slow way, which words every kind of failure (broken JSON, a non-object,
/// a meta key of the wrong type, a bad field) exactly as the API always has, and which alone
/// reads a `null` member as unset ([`crate::proto::json`]): a body with one takes that way.
pub fn decode_put(
    kind: Kind,
    url_mesh: &str,
    url_name: &str,
    bytes: &[u8],
) -> Result<Spec, Violations> {
    let (meta, spec) = match kind.decode_body(bytes) {
        Some(decoded) => decoded,
        None => {
            let (meta, object) = parse_body(bytes)?;
            (meta, kind.decode(object)?)
        }
    };
    check_envelope(kind, url_mesh, url_name, &meta).into_result()?;
    Ok(spec)
}

/// Decodes the envelope's meta keys and the spec `T` from one JSON object in a single pass;
/// `None` on any failure (the caller then finds out what failed, the slow way).
pub(crate) fn decode_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<(BodyMeta, T)> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut meta = BodyMeta::default();
    let spec =
        serde::de::DeserializeSeed::deserialize(body::Envelope::<T>::new(&mut meta), &mut de)
            .ok()?;
    de.end().ok()?;
    Some((meta, spec))
}

/// The one-pass envelope decoder: a map whose meta keys are taken aside and whose other keys
/// are handed to the spec's own deserializer as if they were the whole object.
mod body {
    use std::marker::PhantomData;

    use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
    use serde::Deserialize;

    use super::{BodyMeta, META_KEYS};
    use crate::proto::parse_rfc3339;

    pub(super) struct Envelope<'m, T> {
        meta: &'m mut BodyMeta,
        spec: PhantomData<T>,
    }

    impl<'m, T> Envelope<'m, T> {
        pub(super) fn new(meta: &'m mut BodyMeta) -> Self {
            Envelope {
                meta,
                spec: PhantomData,
            }
        }
    }

    impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Envelope<'_, T> {
        type Value = T;

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Envelope<'_, T> {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(WithoutMeta {
                map,
                meta: self.meta,
            })
        }
    }

    /// The body's map with the meta keys filtered out (and recorded).
    struct WithoutMeta<'m, A> {
        map: A,
        meta: &'m mut BodyMeta,
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for WithoutMeta<'_, A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            while let Some(key) = self.map.next_key::<String>()? {
                if !META_KEYS.contains(&key.as_str()) {
                    return seed.deserialize(key.into_deserializer()).map(Some);
                }
                let value: Option<String> = self.map.next_value()?;
                let value = value.unwrap_or_default();
                match key.as_str() {
                    "type" => self.meta.type_name = value,
                    "mesh" => self.meta.mesh = value,
                    "name" => self.meta.name = value,
                    _ if value.is_empty() => {}
                    _ => {
                        parse_rfc3339(&value).map_err(de::Error::custom)?;
                    }
                }
            }
            Ok(None)
        }

        fn next_value_seed<V: DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, A::Error> {
            self.map.next_value_seed(seed)
        }
    }

    impl<'de, A: MapAccess<'de>> de::Deserializer<'de> for WithoutMeta<'_, A> {
        type Error = A::Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
            visitor.visit_map(self)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map struct enum identifier ignored_any
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass decoder agrees with the two-pass one on every valid body, and leaves every
    /// invalid one to it.
    #[test]
    fn one_pass_and_two_pass_decoding_agree() {
        let valid: &[(Kind, &str)] = &[
            (
                Kind::Dataplane,
                r#"{"type":"Dataplane","mesh":"m","name":"d","creationTime":"2020-01-01T00:00:00Z","networking":{"address":"10.0.0.1","inbound":[{"port":1,"servicePort":2.0,"tags":{"service":"a","version":"v1"}}],"outbound":[{"port":3,"service":"b"}]}}"#,
            ),
            (
                Kind::Mesh,
                r#"{"name":"m","type":"Mesh","mtls":{"enabledBackend":"ca","backends":[{"name":"ca","type":"builtin"}]},"modificationTime":null}"#,
            ),
            (
                Kind::TrafficRoute,
                r#"{"type":"TrafficRoute","name":"r","mesh":"m","sources":[{"match":{"service":"*"}}],"destinations":[{"match":{"service":"b"}}],"conf":[{"weight":"100","destination":{"service":"b"}}]}"#,
            ),
            (
                Kind::TrafficTrace,
                r#"{"type":"TrafficTrace","mesh":"m","name":"t"}"#,
            ),
        ];
        for (kind, body) in valid {
            let (meta, spec) = kind.decode_body(body.as_bytes()).expect(body);
            let (slow_meta, object) = parse_body(body.as_bytes()).unwrap();
            assert_eq!(meta, slow_meta, "{body}");
            assert_eq!(spec, kind.decode(object).unwrap(), "{body}");
        }
        let invalid: &[&str] = &[
            "",
            "[]",
            "{",
            r#"{"type":5}"#,
            r#"{"creationTime":"yesterday"}"#,
            r#"{"networking":{"inbound":[{"port":"abc"}]}}"#,
            r#"{"networking":{"inbound":[{"prot":1}]}}"#,
            r#"{"name":"a"} {}"#,
        ];
        for body in invalid {
            assert!(
                Kind::Dataplane.decode_body(body.as_bytes()).is_none(),
                "{body}"
            );
            assert!(
                decode_put(Kind::Dataplane, "m", "a", body.as_bytes()).is_err(),
                "{body}"
            );
        }
    }

    /// A `null` member of a message is unset: the one-pass decoder leaves such a body to the
    /// two-pass one, which decodes it as if the member were not there.
    #[test]
    fn null_members_decode_as_unset() {
        let with_nulls = r#"{"type":"TrafficRoute","mesh":"m","name":"r","sources":[{"match":{"service":"a"}}],"destinations":null,"conf":[{"weight":null,"destination":{"service":"b"}}]}"#;
        let without = r#"{"type":"TrafficRoute","mesh":"m","name":"r","sources":[{"match":{"service":"a"}}],"conf":[{"destination":{"service":"b"}}]}"#;
        assert!(Kind::TrafficRoute
            .decode_body(with_nulls.as_bytes())
            .is_none());
        assert_eq!(
            decode_put(Kind::TrafficRoute, "m", "r", with_nulls.as_bytes()),
            decode_put(Kind::TrafficRoute, "m", "r", without.as_bytes()),
        );
    }
}
