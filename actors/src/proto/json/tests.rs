use std::collections::BTreeMap;

use serde::de::{self, DeserializeOwned, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Value};

use super::*;
use crate::kinds::dataplane::DataplaneSpec;
use crate::kinds::fault_injection::FaultInjectionSpec;
use crate::kinds::insight::DataplaneInsightSpec;
use crate::kinds::mesh::MeshSpec;
use crate::kinds::proxy_template::ProxyTemplateSpec;
use crate::kinds::traffic_route::TrafficRouteSpec;
use crate::proto::{self, Struct, Tags};

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct Message {
    name: String,
    #[serde(alias = "other_name")]
    other_name: String,
    items: Vec<u32>,
    count: u32,
    big: i128,
    flag: bool,
    ratio: f64,
    inner: Option<Inner>,
    bare: Inner,
    #[serde(deserialize_with = "proto::u32")]
    quoted: u32,
    #[serde(deserialize_with = "proto::tags")]
    tags: Tags,
    conf: Option<Struct>,
    any: Value,
    map: BTreeMap<String, Option<u32>>,
}

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Inner {
    a: String,
    b: Vec<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
enum Shape {
    Unit,
    New(u32),
    Pair(u8, u8),
    Record { a: String, b: Option<u32> },
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
enum Loose {
    Number(u32),
    Text(String),
    Inner(Inner),
}

#[derive(Debug, PartialEq, Deserialize)]
struct Wrapper(Vec<u8>);

#[derive(Debug, PartialEq, Deserialize)]
struct Nothing;

/// Reads only the first element of a sequence and stops.
#[derive(Debug, PartialEq)]
struct First(u32);

impl<'de> Deserialize<'de> for First {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<First, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = First;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<First, A::Error> {
                let first = seq.next_element()?.unwrap_or_default();
                Ok(First(first))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Both decoders' outcome for `value`: the result, and the path and message of an error as
/// `serde_path_to_error` reports them.
fn both<T: DeserializeOwned + PartialEq + fmt::Debug>(value: &Value) -> [Result<T, String>; 2] {
    let outcome = |result: Result<T, serde_path_to_error::Error<Error>>| {
        result.map_err(|e| format!("{} at {:?}", e.inner(), e.path().to_string()))
    };
    [
        outcome(serde_path_to_error::deserialize(value.clone())),
        outcome(serde_path_to_error::deserialize(Decoder::new(
            value.clone(),
        ))),
    ]
}

/// Asserts that `T` reads every value of `values` through the decoder exactly as through the
/// `Value` itself.
fn same<T: DeserializeOwned + PartialEq + fmt::Debug>(values: &[Value]) {
    for value in values {
        let [plain, proto3] = both::<T>(value);
        assert_eq!(plain, proto3, "{} from {value}", std::any::type_name::<T>());
    }
}

/// Values without a `null` member of a message, where both decoders must agree.
fn corpus() -> Vec<Value> {
    [
        "null",
        "true",
        "0",
        "7",
        "-7",
        "1.5",
        "1e40",
        "18446744073709551615",
        r#""x""#,
        r#""7""#,
        r#""Unit""#,
        r#""New""#,
        r#""Pair""#,
        r#""Record""#,
        "[]",
        "[1, 2]",
        "[1, null]",
        r#"["a", 2]"#,
        "[300]",
        "{}",
        r#"{"a": "x"}"#,
        r#"{"a": 1}"#,
        r#"{"a": "x", "b": ["y", 3]}"#,
        r#"{"c": 1}"#,
        r#"{"1": "one", "2": "two"}"#,
        r#"{"-1": "x"}"#,
        r#"{"x1": "x"}"#,
        r#"{"true": 1}"#,
        r#"{"Unit": []}"#,
        r#"{"New": 5}"#,
        r#"{"New": "5"}"#,
        r#"{"Pair": [1, 2]}"#,
        r#"{"Pair": []}"#,
        r#"{"Pair": [1]}"#,
        r#"{"Pair": 5}"#,
        r#"{"Record": {"a": "x", "b": 2}}"#,
        r#"{"Record": {"a": 5}}"#,
        r#"{"Record": ["x", 2]}"#,
        r#"{"Record": 5}"#,
        r#"{"Nope": 1}"#,
        r#"{"New": 1, "Unit": []}"#,
        r#"{"name": 5}"#,
        r#"{"name": "n", "count": -1, "flag": "yes"}"#,
        r#"{"items": [1, "2"], "ratio": "x"}"#,
        r#"{"big": 170141183460469231731687303715884105727, "count": 4294967296}"#,
        r#"{"inner": {"a": "x", "b": [1]}}"#,
        r#"{"bare": ["x", ["y"]]}"#,
        r#"{"quoted": "12", "tags": {"k": null, "l": "v"}}"#,
        r#"{"quoted": "twelve"}"#,
        r#"{"tags": {"k": 5}}"#,
        r#"{"conf": {"a": null, "b": [null, {"c": null}]}, "any": {"d": null}}"#,
        r#"{"conf": [1]}"#,
        r#"{"map": {"k": null, "l": 1}}"#,
        r#"{"map": {"k": "v"}}"#,
        r#"{"otherName": "a", "other_name": "b"}"#,
        r#"{"nmae": "typo"}"#,
        r#"{"networking": {"address": "10.0.0.1", "inbound": [{"port": "abc"}]}}"#,
        r#"{"networking": {"inbound": [{"port": 1, "tags": {"service": null}}], "outbound": [{"prot": 1}]}}"#,
        r#"{"networking": {"gateway": {"tags": {"service": 5}}}}"#,
        r#"{"metrics": {"name": "p", "type": "prometheus", "conf": {"port": null}}}"#,
        r#"{"mtls": {"enabledBackend": 1}}"#,
        r#"{"mtls": {"backends": [{"name": "ca", "type": "provided", "conf": {"cert": {"file": null}}, "dpCert": {"rotation": {"expiration": "1x"}}}]}}"#,
        r#"{"logging": {"backends": [{"conf": "path=/tmp"}]}}"#,
        r#"{"tracing": {"backends": [{"sampling": "lots"}]}}"#,
        r#"{"sources": [{"match": {"service": "a", "v": null}}], "conf": [{"weight": "x"}]}"#,
        r#"{"sources": {"match": {}}}"#,
        r#"{"conf": {"abort": {"httpStatus": "503", "percentage": "12.5"}, "delay": {"value": 5}}}"#,
        r#"{"subscriptions": [{"id": "s", "status": {"total": {"responsesSent": "x"}}}]}"#,
        r#"{"subscriptions": [{"connectTime": "yesterday"}]}"#,
        r#"{"conf": {"imports": ["default-proxy", 1]}}"#,
        r#"{"selectors": [{"match": {"service": "a"}, "matches": {}}]}"#,
    ]
    .iter()
    .map(|text| serde_json::from_str(text).expect(text))
    .collect()
}

#[test]
fn everything_but_null_members_reads_as_from_the_value() {
    let values = corpus();
    same::<Message>(&values);
    same::<Inner>(&values);
    same::<Option<Inner>>(&values);
    same::<Shape>(&values);
    same::<Vec<Shape>>(&values);
    same::<Loose>(&values);
    same::<Wrapper>(&values);
    same::<Nothing>(&values);
    same::<First>(&values);
    same::<(u8, u8)>(&values);
    same::<Vec<u32>>(&values);
    same::<Vec<Option<u32>>>(&values);
    same::<BTreeMap<u32, String>>(&values);
    same::<BTreeMap<i8, String>>(&values);
    same::<BTreeMap<bool, u32>>(&values);
    same::<BTreeMap<String, Value>>(&values);
    same::<Value>(&values);
    same::<Option<String>>(&values);
    same::<String>(&values);
    same::<char>(&values);
    same::<bool>(&values);
    same::<u8>(&values);
    same::<i64>(&values);
    same::<u128>(&values);
    same::<f32>(&values);
    same::<()>(&values);
    same::<DataplaneSpec>(&values);
    same::<MeshSpec>(&values);
    same::<TrafficRouteSpec>(&values);
    same::<FaultInjectionSpec>(&values);
    same::<DataplaneInsightSpec>(&values);
    same::<ProxyTemplateSpec>(&values);
}

#[test]
fn a_null_member_of_a_message_is_unset() {
    let all_null = json!({
        "name": null, "otherName": null, "items": null, "count": null, "big": null,
        "flag": null, "ratio": null, "inner": null, "bare": null, "quoted": null,
        "tags": null, "conf": null, "any": null, "map": null
    });
    assert_eq!(from_value::<Message>(all_null).unwrap(), Message::default());
    let nested = json!({"inner": {"a": null, "b": null}, "bare": {"a": null}});
    assert_eq!(
        from_value::<Message>(nested).unwrap(),
        Message {
            inner: Some(Inner::default()),
            ..Message::default()
        }
    );
    let in_a_list = json!([{"a": "x", "b": null}, {"a": null}]);
    assert_eq!(
        from_value::<Vec<Inner>>(in_a_list).unwrap(),
        [
            Inner {
                a: "x".into(),
                b: vec![]
            },
            Inner::default()
        ]
    );
    let variant = json!({"Record": {"a": null, "b": null}});
    assert_eq!(
        from_value::<Shape>(variant).unwrap(),
        Shape::Record {
            a: String::new(),
            b: None
        }
    );
}

#[test]
fn a_null_anywhere_else_stays_null() {
    let message: Message = from_value(json!({
        "tags": {"service": "web", "version": null},
        "conf": {"path": null, "list": [null]},
        "any": null,
        "map": {"k": null}
    }))
    .unwrap();
    assert_eq!(message.tags["version"], "");
    assert_eq!(
        message.conf,
        json!({"path": null, "list": [null]}).as_object().cloned()
    );
    assert_eq!(message.any, Value::Null);
    assert_eq!(message.map["k"], None);
    // A null the type does not take is refused as the value refuses it.
    for value in [
        json!({"a": "x", "b": [null]}),
        json!({"nope": null}),
        json!(null),
    ] {
        let [plain, proto3] = both::<Inner>(&value);
        assert!(proto3.is_err(), "{value}");
        assert_eq!(plain, proto3, "{value}");
    }
    let [plain, proto3] = both::<BTreeMap<String, String>>(&json!({"k": null}));
    assert_eq!(
        proto3,
        Err("invalid type: null, expected a string at \"k\"".into())
    );
    assert_eq!(plain, proto3);
}

#[test]
fn a_null_member_still_counts_as_given() {
    // Both spellings of one field are refused even when one of them is null, as they were when
    // each field took `null` itself.
    for value in [
        json!({"otherName": null, "other_name": "b"}),
        json!({"otherName": "a", "other_name": null}),
    ] {
        let err = from_value::<Message>(value.clone()).unwrap_err();
        assert_eq!(err.to_string(), "duplicate field `otherName`", "{value}");
    }
}

#[test]
fn kinds_decode_null_members_as_unset() {
    use crate::kinds::{Kind, Spec};
    let spec = Kind::TrafficRoute
        .decode(json!({"sources": null, "destinations": null, "conf": null}))
        .unwrap();
    assert_eq!(spec, Spec::empty(Kind::TrafficRoute));
    let spec = Kind::Mesh
        .decode(json!({"mtls": null, "logging": {"defaultBackend": null, "backends": [
            {"name": "f", "format": null, "type": "file", "conf": {"path": "/tmp/log", "x": null}}]}}))
        .unwrap();
    let Spec::Mesh(mesh) = spec else {
        panic!("not a mesh")
    };
    let backend = &mesh.logging.unwrap().backends[0];
    assert_eq!(backend.format, "");
    assert_eq!(backend.conf.as_ref().unwrap()["x"], Value::Null);
    let wrong = Kind::Dataplane
        .decode(json!({"networking": {"inbound": [{"port": "x", "tags": null}]}}))
        .unwrap_err();
    assert_eq!(wrong.causes[0].field, "networking.inbound[0].port");
}
