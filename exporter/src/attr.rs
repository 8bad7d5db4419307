//! DynamoDB attribute values in their JSON wire form (`{"S": "…"}`, `{"N": "1.5"}`, …).
//!
//! Kept lossless on purpose: numbers stay decimal strings (DynamoDB numbers carry up to 38
//! significant digits), binary stays base64 text, sets stay sets. Serializing an
//! [`AttributeValue`] gives back exactly the wire form it was read from, which is what
//! `extra_attributes` stores.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An item: attribute name → value, ordered by name so that any JSON made from it is
/// deterministic (a replayed batch must produce identical files).
pub type Item = BTreeMap<String, AttributeValue>;

/// One DynamoDB attribute value, externally tagged exactly as on the wire.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub enum AttributeValue {
    /// String.
    S(String),
    /// Number, as the decimal string DynamoDB sends.
    N(String),
    /// Binary, base64 text as sent.
    B(String),
    /// Boolean.
    #[serde(rename = "BOOL")]
    Bool(bool),
    /// Null (always `true` on the wire).
    #[serde(rename = "NULL")]
    Null(bool),
    /// Map.
    M(Item),
    /// List.
    L(Vec<AttributeValue>),
    /// String set.
    #[serde(rename = "SS")]
    Ss(Vec<String>),
    /// Number set.
    #[serde(rename = "NS")]
    Ns(Vec<String>),
    /// Binary set (base64 text).
    #[serde(rename = "BS")]
    Bs(Vec<String>),
}

impl AttributeValue {
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
        let item: Item = serde_json::from_str(wire).unwrap();
        assert_eq!(item.len(), 10);
        assert_eq!(serde_json::to_string(&item).unwrap(), wire);
        assert_eq!(
            item["ns"],
            AttributeValue::Ns(vec!["1".into(), "2.50".into()])
        );
    }

    #[test]
    fn unknown_type_tag_is_an_error() {
        let err = serde_json::from_str::<AttributeValue>(r#"{"X":"1"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
        assert!(serde_json::from_str::<AttributeValue>(r#"{"S":"a","N":"1"}"#).is_err());
        assert!(serde_json::from_str::<AttributeValue>(r#"{"N":1}"#).is_err());
    }
}
