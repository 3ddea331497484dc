//! Decoding a proto3 JSON message from a [`serde_json::Value`] with the one rule of proto3 JSON
//! that serde's derives cannot say once for every field: a member of a message whose value is
//! `null` is unset, so it reads as its field's zero value (`None`, `""`, `[]`, `0`, …).
//!
//! Only members of an object read as a struct (a message) are affected. A `null` anywhere else
//! stays a `null` for the type to judge: a map's values (a tag map turns it into `""`, see
//! [`super::tags`]), the values of a `google.protobuf.Struct`, array elements, the whole
//! document. Everything else reads exactly as from the `Value` itself, errors word for word,
//! since they reach clients as the causes of Kuma's error JSON.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess,
    SeqAccess, Unexpected, VariantAccess, Visitor,
};
use serde::Deserialize;
use serde_json::{Error, Map, Value};

/// Decodes `T` from `value`, a `null` member of a message reading as unset.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    T::deserialize(Decoder::new(value))
}

/// A JSON value that deserializes as proto3 JSON: like the `Value` itself, except that a
/// `null` member of a message reads as unset.
pub struct Decoder(Value);

impl Decoder {
    /// A decoder of `value`.
    pub fn new(value: Value) -> Decoder {
        Decoder(value)
    }
}

// Most `Deserializer` methods differ only in what reads the value, so each is one entry
// `how name(arguments);`: `value` (the value's own method, its errors word for word), `array`
// (an array read element by element here, anything else by the value) or `zero(json)` (a
// decoder of that zero value).
macro_rules! methods {
    ($($how:ident$(($zero:expr))? $method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(
                self,
                $($arg: $ty,)*
                visitor: V,
            ) -> Result<V::Value, Error> {
                methods!(@$how self, visitor, $method($($arg),*) $(, $zero)?)
            }
        )*
    };
    (@value $self:ident, $visitor:ident, $method:ident($($arg:ident),*)) => {
        $self.0.$method($($arg,)* $visitor)
    };
    (@array $self:ident, $visitor:ident, $method:ident($($arg:ident),*)) => {
        match $self.0 {
            Value::Array(items) => visit_array(items, $visitor),
            other => other.$method($($arg,)* $visitor),
        }
    };
    (@zero $self:ident, $visitor:ident, $method:ident($($arg:ident),*), $zero:expr) => {
        Decoder($zero).$method($($arg,)* $visitor)
    };
}

impl<'de> Deserializer<'de> for Decoder {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => visit_array(items, visitor),
            Value::Object(members) => visit_object(members, Nulls::Keep, visitor),
            scalar => scalar.deserialize_any(visitor),
        }
    }

    methods! {
        value deserialize_bool(); value deserialize_char(); value deserialize_str();
        value deserialize_string(); value deserialize_i8(); value deserialize_i16();
        value deserialize_i32(); value deserialize_i64(); value deserialize_i128();
        value deserialize_u8(); value deserialize_u16(); value deserialize_u32();
        value deserialize_u64(); value deserialize_u128(); value deserialize_f32();
        value deserialize_f64(); value deserialize_unit();
        value deserialize_unit_struct(name: &'static str);
        value deserialize_identifier(); value deserialize_ignored_any();
        array deserialize_bytes(); array deserialize_byte_buf(); array deserialize_seq();
        array deserialize_tuple(len: usize);
        array deserialize_tuple_struct(name: &'static str, len: usize);
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(members) => visit_object(members, Nulls::Keep, visitor),
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(members) => visit_object(members, Nulls::Unset, visitor),
            Value::Array(items) => visit_array(items, visitor),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(variant) => visitor.visit_enum(Variant {
                name: variant,
                value: None,
            }),
            Value::Object(members) if members.len() == 1 => {
                let (variant, value) = members.into_iter().next().expect("one member");
                visitor.visit_enum(Variant {
                    name: variant,
                    value: Some(value),
                })
            }
            // Neither a name nor a one-member object: the value words the error.
            other => other.deserialize_enum(name, variants, visitor),
        }
    }
}

/// How the members of an object treat a `null` value.
#[derive(Clone, Copy, PartialEq)]
enum Nulls {
    /// The object is a map (or any value): a `null` is a value like another.
    Keep,
    /// The object is a message: a `null` member is unset.
    Unset,
}

fn visit_array<'de, V: Visitor<'de>>(items: Vec<Value>, visitor: V) -> Result<V::Value, Error> {
    let len = items.len();
    let mut elements = Elements(items.into_iter());
    let value = visitor.visit_seq(&mut elements)?;
    // A visitor that stops early leaves elements unread, which `Value` refuses too.
    if elements.0.len() == 0 {
        Ok(value)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in array"))
    }
}

fn visit_object<'de, V: Visitor<'de>>(
    members: Map<String, Value>,
    nulls: Nulls,
    visitor: V,
) -> Result<V::Value, Error> {
    let len = members.len();
    let mut members = Members {
        iter: members.into_iter(),
        value: None,
        nulls,
    };
    let value = visitor.visit_map(&mut members)?;
    if members.iter.len() == 0 {
        Ok(value)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in map"))
    }
}

/// What `Value` gives as the "unexpected" part of a type error.
fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Unexpected::Unsigned(u),
            (None, Some(i), _) => Unexpected::Signed(i),
            (None, None, f) => Unexpected::Float(f.unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// The elements of an array, each read as proto3 JSON.
struct Elements(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Elements {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|value| seed.deserialize(Decoder(value)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// The members of an object, each value read as proto3 JSON.
struct Members {
    iter: serde_json::map::IntoIter,
    value: Option<Value>,
    nulls: Nulls,
}

impl<'de> MapAccess<'de> for Members {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        read_key(key, seed).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        match self.value.take() {
            Some(Value::Null) if self.nulls == Nulls::Unset => seed.deserialize(Unset),
            Some(value) => seed.deserialize(Decoder(value)),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// Hands `key` to `seed` through serde_json's own map-key deserializer, which it keeps private,
/// so that a key read as a number, a bool or an enum parses and fails as it does there.
fn read_key<'de, K: DeserializeSeed<'de>>(key: String, seed: K) -> Result<K::Value, Error> {
    struct OnlyKey<K>(K);

    impl<'de, K: DeserializeSeed<'de>> Visitor<'de> for OnlyKey<K> {
        type Value = K::Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map key")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<K::Value, A::Error> {
            map.next_key_seed(self.0)?
                .ok_or_else(|| de::Error::custom("key is missing"))
        }
    }

    Map::from_iter([(key, Value::Null)]).deserialize_any(OnlyKey(seed))
}

/// The variant of an enum: its name and, unless it was given as a bare string, its payload.
struct Variant {
    name: String,
    value: Option<Value>,
}

impl<'de> EnumAccess<'de> for Variant {
    type Error = Error;
    type Variant = Payload;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Payload), Error> {
        let name = IntoDeserializer::<'de, Error>::into_deserializer(self.name);
        Ok((seed.deserialize(name)?, Payload(self.value)))
    }
}

/// The payload of an enum variant.
struct Payload(Option<Value>);

impl<'de> VariantAccess<'de> for Payload {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.0 {
            Some(value) => <()>::deserialize(Decoder(value)),
            None => Ok(()),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.0 {
            Some(value) => seed.deserialize(Decoder(value)),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Some(Value::Array(items)) if items.is_empty() => visitor.visit_unit(),
            Some(Value::Array(items)) => visit_array(items, visitor),
            Some(other) => Err(de::Error::invalid_type(
                unexpected(&other),
                &"tuple variant",
            )),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Some(Value::Object(members)) => visit_object(members, Nulls::Unset, visitor),
            Some(other) => Err(de::Error::invalid_type(
                unexpected(&other),
                &"struct variant",
            )),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}

/// The value of a message's `null` member: the zero value of whatever type reads it. A type
/// that reads any JSON value (`deserialize_any`: the string-or-number helpers, `Value`) sees
/// the `null` itself, as it always has; so do characters, identifiers and enums, which have
/// no zero value here. The member is read rather than dropped so that it still counts as
/// given: a field named twice (camelCase and snake_case) is refused as a duplicate either way.
struct Unset;

impl<'de> Deserializer<'de> for Unset {
    type Error = Error;

    // Each type reads its zero value, written as JSON.
    methods! {
        zero(Value::Null) deserialize_any();
        zero(Value::Null) deserialize_option();
        zero(Value::Null) deserialize_unit();
        zero(Value::Null) deserialize_unit_struct(name: &'static str);
        zero(Value::Null) deserialize_char();
        zero(Value::Null) deserialize_identifier();
        zero(Value::Null) deserialize_ignored_any();
        zero(Value::Null) deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        zero(Value::Bool(false)) deserialize_bool();
        zero(Value::from(0)) deserialize_i8();
        zero(Value::from(0)) deserialize_i16();
        zero(Value::from(0)) deserialize_i32();
        zero(Value::from(0)) deserialize_i64();
        zero(Value::from(0)) deserialize_i128();
        zero(Value::from(0)) deserialize_u8();
        zero(Value::from(0)) deserialize_u16();
        zero(Value::from(0)) deserialize_u32();
        zero(Value::from(0)) deserialize_u64();
        zero(Value::from(0)) deserialize_u128();
        zero(Value::from(0)) deserialize_f32();
        zero(Value::from(0)) deserialize_f64();
        zero(Value::from("")) deserialize_str();
        zero(Value::from("")) deserialize_string();
        zero(Value::Array(Vec::new())) deserialize_bytes();
        zero(Value::Array(Vec::new())) deserialize_byte_buf();
        zero(Value::Array(Vec::new())) deserialize_seq();
        zero(Value::Array(Vec::new())) deserialize_tuple(len: usize);
        zero(Value::Array(Vec::new())) deserialize_tuple_struct(name: &'static str, len: usize);
        zero(Value::Object(Map::new())) deserialize_map();
        zero(Value::Object(Map::new()))
            deserialize_struct(name: &'static str, fields: &'static [&'static str]);
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }
}

#[cfg(test)]
mod tests;
