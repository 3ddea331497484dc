//! Validation results: every violation with the field path it concerns, collected rather than
//! stopping at the first (Kuma's `ValidationError`), and the path-building helpers that produce
//! Kuma's exact field strings (`networking.inbound[0].tags["service"]`).

use serde::Serialize;

/// One violated rule: the field it concerns and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// Field path, e.g. `networking.inbound[0].port`.
    pub field: String,
    /// Human-readable message, exact as Kuma words it.
    pub message: String,
}

/// Causes kept per validation run (D24): a body crafted to break one rule a hundred thousand
/// times gets the first ones and a count, not a response twenty times its own size.
pub const MAX_CAUSES: usize = 100;

/// All violations of one validation run, in the order Kuma reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations {
    /// The collected causes, at most [`MAX_CAUSES`].
    pub causes: Vec<Cause>,
    /// Violations found beyond [`MAX_CAUSES`], counted but not kept.
    omitted: usize,
}

impl Violations {
    /// An empty collection.
    pub fn new() -> Violations {
        Violations::default()
    }

    /// Records a violation of `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        if self.causes.len() >= MAX_CAUSES {
            self.omitted += 1;
            return;
        }
        self.causes.push(Cause {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Appends every violation of `other`.
    pub fn extend(&mut self, other: Violations) {
        let room = MAX_CAUSES - self.causes.len();
        let overflow = other.causes.len().saturating_sub(room);
        self.causes.extend(other.causes.into_iter().take(room));
        self.omitted += overflow + other.omitted;
    }

    /// The causes as the API shows them: the kept ones, then one saying how many more there
    /// were, if any.
    pub fn wire_causes(&self) -> Vec<Cause> {
        let mut causes = self.causes.clone();
        if self.omitted > 0 {
            causes.push(Cause {
                field: "causes".into(),
                message: format!(
                    "{} more violations were found and are not listed (at most {MAX_CAUSES} are)",
                    self.omitted
                ),
            });
        }
        causes
    }

    /// True when nothing was violated.
    pub fn is_empty(&self) -> bool {
        self.causes.is_empty()
    }

    /// `Ok(())` when empty, else `Err(self)`.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// A single violation.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Violations {
        let mut v = Violations::new();
        v.add(field, message);
        v
    }
}

/// A field path under construction; cheap to extend by value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    /// The root path, e.g. `networking` (empty for the resource itself).
    pub fn root(name: &str) -> Path {
        Path(name.to_string())
    }

    /// `self.name` (or `name` at the root).
    pub fn field(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{}", self.0, name))
        }
    }

    /// `self[i]`.
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{}]", self.0, i))
    }

    /// `self["key"]`, the key quoted the way Go's `strconv.Quote` does.
    pub fn key(&self, key: &str) -> Path {
        Path(format!("{}[{}]", self.0, go_quote(key)))
    }

    /// The path as Kuma prints it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Path> for String {
    fn from(p: Path) -> String {
        p.0
    }
}

impl From<&Path> for String {
    fn from(p: &Path) -> String {
        p.0.clone()
    }
}

/// Quotes a string the way Go's `strconv.Quote` does (`%q`): double quotes, `"` and `\` escaped,
/// control and non-printable characters as `\n`, `\t`, `\x..`, `\u....`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() || is_go_non_printable(c) => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Approximates Go's `strconv.IsPrint` for the characters Rust does not already call control.
fn is_go_non_printable(c: char) -> bool {
    matches!(c as u32, 0x80..=0x9f | 0xad | 0x2028 | 0x2029 | 0xfeff | 0xfff9..=0xfffb)
        || (c.is_whitespace() && c != ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_kuma() {
        let p = Path::root("networking")
            .field("inbound")
            .index(0)
            .field("tags")
            .key("service");
        assert_eq!(p.as_str(), "networking.inbound[0].tags[\"service\"]");
        assert_eq!(Path::default().field("conf").as_str(), "conf");
    }

    #[test]
    fn causes_are_capped_and_counted() {
        let mut v = Violations::new();
        for i in 0..(MAX_CAUSES + 5) {
            v.add(format!("f{i}"), "bad");
        }
        assert_eq!(v.causes.len(), MAX_CAUSES);
        let mut more = Violations::new();
        more.add("g", "bad");
        more.add("h", "bad");
        v.extend(more);
        let wire = v.wire_causes();
        assert_eq!(wire.len(), MAX_CAUSES + 1);
        assert_eq!(wire[MAX_CAUSES].field, "causes");
        assert!(
            wire[MAX_CAUSES].message.starts_with("7 more violations"),
            "{:?}",
            wire[MAX_CAUSES]
        );
        let mut small = Violations::single("a", "x");
        small.extend(Violations::single("b", "y"));
        assert_eq!(
            small.wire_causes(),
            small.causes,
            "under the cap nothing is added"
        );
    }

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(go_quote("inv@lidT/gN%me"), "\"inv@lidT/gN%me\"");
        assert_eq!(go_quote("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\x01\"");
        assert_eq!(go_quote("é"), "\"é\"");
        assert_eq!(go_quote("\u{2028}"), "\"\\u2028\"");
    }
}

/// Helpers the kinds' validation tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::Violations;

    /// A table of validation cases: name, spec JSON, expected `(field, message)` causes.
    pub type Cases<'a> = Vec<(&'a str, serde_json::Value, Vec<(&'a str, &'a str)>)>;

    /// Removes the envelope's meta keys (`type`, `name`, `mesh`, times) from a documented
    /// resource body, leaving its spec.
    pub fn spec_json(mut body: serde_json::Value) -> serde_json::Value {
        if let Some(map) = body.as_object_mut() {
            for key in ["type", "name", "mesh", "creationTime", "modificationTime"] {
                map.remove(key);
            }
        }
        body
    }

    /// The causes as `(field, message)` pairs, in order.
    pub fn pairs(v: &Violations) -> Vec<(String, String)> {
        v.causes
            .iter()
            .map(|c| (c.field.clone(), c.message.clone()))
            .collect()
    }

    /// Owned `(field, message)` pairs, to compare with [`pairs`].
    pub fn expected(e: &[(&str, &str)]) -> Vec<(String, String)> {
        e.iter()
            .map(|(f, m)| (f.to_string(), m.to_string()))
            .collect()
    }

    /// Deserialises `spec` as `T` (after removing meta keys), validates it with `validate`
    /// and compares the causes with `want`, naming `case` on failure.
    pub fn check<T: serde::de::DeserializeOwned>(
        case: &str,
        spec: serde_json::Value,
        validate: impl Fn(&T) -> Violations,
        want: &[(&str, &str)],
    ) {
        let spec: T = crate::proto::json::from_value(spec_json(spec))
            .unwrap_or_else(|e| panic!("case {case:?}: spec does not decode: {e}"));
        assert_eq!(pairs(&validate(&spec)), expected(want), "case {case:?}");
    }
}
