//! Tag selectors (`{"match": {...}}`) shared by most policies, and the rule sets Kuma checks
//! them with.

use serde::{Deserialize, Serialize};

use crate::proto::{self, Tags};

/// A selector: every tag in `match` must be equal on the selected dataplane (`*` = any value).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Tags to match.
    #[serde(
        rename = "match",
        default,
        deserialize_with = "proto::tags",
        skip_serializing_if = "Tags::is_empty"
    )]
    pub match_: Tags,
}
