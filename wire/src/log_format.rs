//! Envoy access-log format strings: one tokenizer for the control plane (which validates a
//! mesh's formats and derives what Envoy must send) and `ursa-dp` (which renders the entries
//! Envoy sends).
//!
//! Text is literal until `%`; each `%` starts a command operator `%COMMAND%`, `%COMMAND(ARGS)%`,
//! `%COMMAND:LIMIT%` or `%COMMAND(ARGS):LIMIT%`, as Kuma's regex
//! `^%([A-Z_0-9]+)(?:\(([^\)]*)\))?(?:[:]([0-9]+))?%` reads them.

/// One piece of a format string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// Literal text, up to the next `%`.
    Text(&'a str),
    /// A `%COMMAND(ARGS):LIMIT%` operator.
    Operator(Operator<'a>),
}

/// A `%COMMAND(ARGS):LIMIT%` operator, split the way Kuma's regex splits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operator<'a> {
    /// The whole operator, from `%` to `%`.
    pub token: &'a str,
    /// `COMMAND`: upper-case letters, digits and `_`.
    pub command: &'a str,
    /// The text between the parentheses; `None` without parentheses (`()` is `Some("")`).
    pub args: Option<&'a str>,
    /// The digits after `:`; `None` without a limit. Not parsed: it may overflow any integer.
    pub limit: Option<&'a str>,
}

/// A `%` that starts no operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrayPercent<'a> {
    /// Byte offset of the `%` in the format.
    pub position: usize,
    /// The format from that `%` on.
    pub rest: &'a str,
}

/// The tokens of `format`, in order; a `%` that starts no operator ends them with an error.
pub fn tokenize(format: &str) -> Tokens<'_> {
    Tokens {
        format,
        pos: 0,
        failed: false,
    }
}

/// Iterator over the tokens of a format string (see [`tokenize`]).
#[derive(Clone, Debug)]
pub struct Tokens<'a> {
    format: &'a str,
    pos: usize,
    failed: bool,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Result<Token<'a>, StrayPercent<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.format.len() {
            return None;
        }
        // Positions only ever land on `%` (ASCII) or after a whole token: char boundaries.
        let rest = &self.format[self.pos..];
        if !rest.starts_with('%') {
            let end = rest.find('%').unwrap_or(rest.len());
            self.pos += end;
            return Some(Ok(Token::Text(&rest[..end])));
        }
        match Operator::match_at(rest) {
            Some(op) => {
                self.pos += op.token.len();
                Some(Ok(Token::Operator(op)))
            }
            None => {
                self.failed = true;
                Some(Err(StrayPercent {
                    position: self.pos,
                    rest,
                }))
            }
        }
    }
}

impl<'a> Operator<'a> {
    /// Matches the operator regex at the start of `s` (which starts with `%`). The regex is
    /// deterministic here: the command, argument and limit parts cannot overlap, so greedy
    /// matching finds the only possible match.
    fn match_at(s: &'a str) -> Option<Operator<'a>> {
        let b = s.as_bytes();
        let mut i = 1;
        while i < b.len() && (b[i].is_ascii_uppercase() || b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
        if i == 1 {
            return None;
        }
        let command = &s[1..i];
        let mut args = None;
        if b.get(i) == Some(&b'(') {
            let close = s[i + 1..].find(')')? + i + 1;
            args = Some(&s[i + 1..close]);
            i = close + 1;
        }
        let mut limit = None;
        if b.get(i) == Some(&b':') {
            let start = i + 1;
            let mut end = start;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            if end == start {
                return None;
            }
            limit = Some(&s[start..end]);
            i = end;
        }
        if b.get(i) != Some(&b'%') {
            return None;
        }
        Some(Operator {
            token: &s[..=i],
            command,
            args,
            limit,
        })
    }

    /// True for the operators whose arguments are header names (`%REQ(X?Y)%`, `%RESP(..)%`,
    /// `%TRAILER(..)%`).
    pub fn reads_headers(&self) -> bool {
        matches!(self.command, "REQ" | "RESP" | "TRAILER")
    }

    /// The header names of a header operator: the first, then its alternative (`X?Y`).
    pub fn headers(&self) -> impl Iterator<Item = &'a str> {
        self.args
            .filter(|_| self.reads_headers())
            .into_iter()
            .flat_map(|a| a.split('?'))
    }
}

/// `format` with header names in `%REQ(..)%`, `%RESP(..)%` and `%TRAILER(..)%` lower-cased, as
/// Kuma re-serializes formats (xDS §3.6). Text from a `%` that starts no operator on is kept.
pub fn normalize(format: &str) -> String {
    let mut out = String::with_capacity(format.len());
    for token in tokenize(format) {
        match token {
            Ok(Token::Text(text)) => out.push_str(text),
            Ok(Token::Operator(op)) => match op.args.filter(|_| op.reads_headers()) {
                Some(args) => {
                    out.push('%');
                    out.push_str(op.command);
                    out.push('(');
                    out.push_str(&args.to_ascii_lowercase());
                    out.push(')');
                    if let Some(limit) = op.limit {
                        out.push(':');
                        out.push_str(limit);
                    }
                    out.push('%');
                }
                None => out.push_str(op.token),
            },
            Err(stray) => out.push_str(stray.rest),
        }
    }
    out
}

/// (request, response) header names the format's `%REQ(..)%` / `%RESP(..)%` read, lower-cased,
/// each once, pseudo-headers (`:path`) left out: what Envoy's gRPC logger must be told to send
/// besides the request properties it always sends.
pub fn headers_to_log(format: &str) -> (Vec<String>, Vec<String>) {
    let mut req = Vec::new();
    let mut resp = Vec::new();
    for op in tokenize(format)
        .map_while(Result::ok)
        .filter_map(|t| match t {
            Token::Operator(op) => Some(op),
            Token::Text(_) => None,
        })
    {
        let list = match op.command {
            "REQ" => &mut req,
            "RESP" => &mut resp,
            _ => continue,
        };
        for name in op.headers() {
            let name = name.to_ascii_lowercase();
            if !name.is_empty() && !name.starts_with(':') && !list.contains(&name) {
                list.push(name);
            }
        }
    }
    (req, resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(token: &str) -> Operator<'_> {
        match tokenize(token).collect::<Vec<_>>()[..] {
            [Ok(Token::Operator(op))] => op,
            ref other => panic!("{token:?}: {other:?}"),
        }
    }

    #[test]
    fn text_and_operators_alternate() {
        let tokens: Vec<_> = tokenize("[%START_TIME%] é %REQ(:PATH):10% ü").collect();
        assert_eq!(
            tokens,
            [
                Ok(Token::Text("[")),
                Ok(Token::Operator(Operator {
                    token: "%START_TIME%",
                    command: "START_TIME",
                    args: None,
                    limit: None
                })),
                Ok(Token::Text("] é ")),
                Ok(Token::Operator(Operator {
                    token: "%REQ(:PATH):10%",
                    command: "REQ",
                    args: Some(":PATH"),
                    limit: Some("10")
                })),
                Ok(Token::Text(" ü")),
            ]
        );
        assert_eq!(tokenize("").count(), 0);
    }

    #[test]
    fn operator_parts() {
        assert_eq!(op("%REQ()%").args, Some(""));
        assert_eq!(op("%START_TIME(%Y/%m)%").args, Some("%Y/%m"));
        assert_eq!(op("%START_TIME:10%").limit, Some("10"));
        assert_eq!(
            op("%RESP(a?B):99999999999999999999%").limit,
            Some("99999999999999999999")
        );
        assert_eq!(op("%REQ(X?Y)%").headers().collect::<Vec<_>>(), ["X", "Y"]);
        assert_eq!(op("%START_TIME(X?Y)%").headers().count(), 0);
    }

    #[test]
    fn a_stray_percent_ends_the_tokens() {
        for (format, position) in [
            ("%", 0),
            ("a % b", 2),
            ("%START_TIME(%", 0),
            ("%REQ(a):%", 0),
            ("%OK% %lower%", 5),
            ("%A%%", 3),
        ] {
            let tokens: Vec<_> = tokenize(format).collect();
            assert_eq!(
                tokens.last(),
                Some(&Err(StrayPercent {
                    position,
                    rest: &format[position..]
                })),
                "{format:?}"
            );
            assert_eq!(tokens.iter().filter(|t| t.is_err()).count(), 1);
        }
    }

    #[test]
    fn normalize_lowercases_header_names_only() {
        assert_eq!(
            normalize("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH):5% %RESP(Server)% %TRAILER(A)% %START_TIME(%Y)% %KUMA_MESH% 100%"),
            "%REQ(x-envoy-original-path?:path):5% %RESP(server)% %TRAILER(a)% %START_TIME(%Y)% %KUMA_MESH% 100%"
        );
    }

    #[test]
    fn headers_to_log_are_lowercased_named_headers_once() {
        assert_eq!(
            headers_to_log(
                "%REQ(:METHOD)% %REQ(X-Probe?User-Agent)% %REQ(x-probe)% %RESP(Server):3% %TRAILER(T)% %REQ()%"
            ),
            (
                vec!["x-probe".to_string(), "user-agent".to_string()],
                vec!["server".to_string()]
            )
        );
    }
}
