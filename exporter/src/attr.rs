//! DynamoDB attribute values in their JSON wire form (`{"S": "…"}`, `{"N": "1.5"}`, …).
//!
//! Kept lossless on purpose: numbers stay decimal strings (DynamoDB numbers carry up to 38
//! significant digits), binary stays base64 text, sets stay sets. Serializing an
//! [`AttributeValue`] gives back exactly the wire form it was read from, which is what
//! `extra_attributes` stores. Strings borrow from the input wherever JSON allows it (no
//! escapes), so mapping a record allocates little.

use std::borrow::{Borrow, Cow};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Text that borrows from the JSON input when it can and owns a copy when it must.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'a> Text<'a> {
    pub fn into_cow(self) -> Cow<'a, str> {
        self.0
    }
}

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Text<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

/// An item: attribute name → value, ordered by name so that any JSON made from it is
/// deterministic (a replayed batch must produce identical files).
pub type Item<'a> = BTreeMap<Text<'a>, AttributeValue<'a>>;

/// One DynamoDB attribute value, externally tagged exactly as on the wire.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub enum AttributeValue<'a> {
    /// String.
    #[serde(borrow)]
    S(Text<'a>),
    /// Number, as the decimal string DynamoDB sends.
    #[serde(borrow)]
    N(Text<'a>),
    /// Binary, base64 text as sent.
    #[serde(borrow)]
    B(Text<'a>),
    /// Boolean.
    #[serde(rename = "BOOL")]
    Bool(bool),
    /// Null (always `true` on the wire).
    #[serde(rename = "NULL")]
    Null(bool),
    /// Map.
    #[serde(borrow)]
    M(Item<'a>),
    /// List.
    #[serde(borrow)]
    L(Vec<AttributeValue<'a>>),
    /// String set.
    #[serde(rename = "SS", borrow)]
    Ss(Vec<Text<'a>>),
    /// Number set.
    #[serde(rename = "NS", borrow)]
    Ns(Vec<Text<'a>>),
    /// Binary set (base64 text).
    #[serde(rename = "BS", borrow)]
    Bs(Vec<Text<'a>>),
}

impl AttributeValue<'_> {
    /// The wire type tag, for error messages.
    pub fn type_tag(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Bool(_) => "BOOL",
            AttributeValue::Null(_) => "NULL",
            AttributeValue::M(_) => "M",
            AttributeValue::L(_) => "L",
            AttributeValue::Ss(_) => "SS",
            AttributeValue::Ns(_) => "NS",
            AttributeValue::Bs(_) => "BS",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_type_round_trips_losslessly() {
        let wire = r#"{"b":{"B":"AAEC/w=="},"bool":{"BOOL":false},"bs":{"BS":["AA==","AQ=="]},"l":{"L":[{"S":"x"},{"N":"1"}]},"m":{"M":{"deep":{"M":{"n":{"N":"-0.000000000000000000000000000000000001"}}}}},"n":{"N":"12345678901234567890123456789012345678"},"ns":{"NS":["1","2.50"]},"null":{"NULL":true},"s":{"S":"é\"\n"},"ss":{"SS":["a","b"]}}"#;
        let item: Item<'_> = serde_json::from_str(wire).unwrap();
        assert_eq!(item.len(), 10);
        assert_eq!(serde_json::to_string(&item).unwrap(), wire);
        assert_eq!(
            item["ns"],
            AttributeValue::Ns(vec![Text("1".into()), Text("2.50".into())])
        );
    }

    #[test]
    fn strings_borrow_from_the_input_unless_escaped() {
        let item: Item<'_> =
            serde_json::from_str(r#"{"a":{"S":"plain"},"b":{"S":"esc\"aped"}}"#).unwrap();
        let AttributeValue::S(Text(a)) = &item["a"] else {
            panic!()
        };
        let AttributeValue::S(Text(b)) = &item["b"] else {
            panic!()
        };
        assert!(matches!(a, Cow::Borrowed("plain")));
        assert!(matches!(b, Cow::Owned(s) if s == "esc\"aped"));
    }

    #[test]
    fn unknown_type_tag_is_an_error() {
        let err = serde_json::from_str::<AttributeValue<'_>>(r#"{"X":"1"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
        assert!(serde_json::from_str::<AttributeValue<'_>>(r#"{"S":"a","N":"1"}"#).is_err());
        assert!(serde_json::from_str::<AttributeValue<'_>>(r#"{"N":1}"#).is_err());
    }
}
