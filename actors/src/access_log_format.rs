//! The grammar of Envoy access-log format strings as Kuma 0.5.0 checks it for Mesh logging
//! backends (§6.12), with Kuma's exact error strings.
//!
//! [`ursa_wire::log_format`] splits a format into text and `%COMMAND(ARGS):LIMIT%` operators
//! (the same tokenizer `ursa-dp` renders with); a `%` that starts no operator is an error, then
//! per-command rules apply.

use ursa_wire::log_format::{tokenize, Operator, Token};

use crate::validation::go_quote;

/// Checks `format`; the error is the full message Kuma reports on `logging.backends[i].format`
/// (`format string is not valid: …`). The empty format is valid.
pub fn validate(format: &str) -> Result<(), String> {
    parse(format).map_err(|e| format!("format string is not valid: {e}"))
}

fn parse(format: &str) -> Result<(), String> {
    for token in tokenize(format) {
        match token {
            Ok(Token::Text(_)) => {}
            Ok(Token::Operator(op)) => check(&op)?,
            Err(stray) => {
                return Err(format!(
                    "expected a command operator to start at position {}, instead got: {}",
                    stray.position + 1,
                    go_quote(stray.rest)
                ))
            }
        }
    }
    Ok(())
}

/// Kuma's per-command rules on one operator.
fn check(op: &Operator<'_>) -> Result<(), String> {
    let token = go_quote(op.token);
    let args = op.args.unwrap_or("");
    // Kuma's `hasNoArguments`: no parentheses at all (an empty `()` counts as arguments).
    let no_arguments = op.args.is_none();
    match op.command {
        "REQ" | "RESP" | "TRAILER" => {
            if no_arguments {
                return Err(format!(
                    "command \"%{}(X?Y):Z%\" requires a header and optional alternative header names as its arguments, instead got {token}",
                    op.command
                ));
            }
            check_limit(op)?;
            let mut headers = op.headers();
            let header = headers.next().unwrap_or("");
            let alternatives: Vec<&str> = headers.collect();
            if alternatives.len() > 1 {
                return Err(format!(
                    "more than 1 alternative header specified in {token}"
                ));
            }
            let alternative = alternatives.first().copied().unwrap_or("");
            let newline = |h: &str| h.contains(['\0', '\r', '\n']);
            if newline(header) || newline(alternative) {
                return Err(format!("header name contains a newline in {token}"));
            }
            Ok(())
        }
        "DYNAMIC_METADATA" => {
            check_limit(op)?;
            if no_arguments {
                return Err(format!(
                    "command \"%DYNAMIC_METADATA(NAMESPACE:KEY*):Z%\" requires a filter namespace and optional path as its arguments, instead got {token}"
                ));
            }
            Ok(())
        }
        "FILTER_STATE" => {
            check_limit(op)?;
            if args.is_empty() {
                return Err(format!(
                    "command \"%FILTER_STATE(KEY):Z%\" requires a key as its argument, instead got {token}"
                ));
            }
            Ok(())
        }
        "START_TIME" => {
            if start_time_has_newline(args) {
                return Err(format!(
                    "start time format string contains a newline in {token}"
                ));
            }
            Ok(())
        }
        command => {
            if op.args.is_some() || op.limit.is_some() {
                return Err(format!(
                    "command \"%{command}%\" doesn't support arguments or max length constraint, instead got {token}"
                ));
            }
            Ok(())
        }
    }
}

/// `strconv.Atoi(limit)`: only overflow can fail (the regex guarantees digits).
fn check_limit(op: &Operator<'_>) -> Result<(), String> {
    if let Some(limit) = op.limit.filter(|l| l.parse::<i64>().is_err()) {
        return Err(format!(
            "length must be an integer, instead got {} in {}",
            go_quote(limit),
            go_quote(op.token)
        ));
    }
    Ok(())
}

/// Kuma's `%[-_0^#]*[1-9]*n` on START_TIME's argument: a strftime `%n` (newline) specifier.
fn start_time_has_newline(args: &str) -> bool {
    let b = args.as_bytes();
    (0..b.len()).filter(|&i| b[i] == b'%').any(|start| {
        let mut i = start + 1;
        while i < b.len() && matches!(b[i], b'-' | b'_' | b'0' | b'^' | b'#') {
            i += 1;
        }
        while i < b.len() && matches!(b[i], b'1'..=b'9') {
            i += 1;
        }
        b.get(i) == Some(&b'n')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_formats() {
        for ok in [
            "",
            "plain text",
            "%START_TIME% %KUMA_SOURCE_SERVICE%",
            "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\"",
            "%START_TIME(%Y/%m/%dT%H:%M:%S%z %s)%",
            "%RESP(content-type?SERVER):10%",
            "%TRAILER(PROTOCOL)%",
            "%REQ()%",
            "%DYNAMIC_METADATA(com.test.my_filter:test_object:inner_key):10%",
            "%DYNAMIC_METADATA()%",
            "%FILTER_STATE(filter.state.key):10%",
            "%START_TIME:10%",
            "%UNKNOWN_BUT_UPPERCASE%",
            "{ \"destination\": \"%KUMA_DESTINATION_SERVICE%\", \"destinationAddress\": \"%UPSTREAM_LOCAL_ADDRESS%\", \"source\": \"%KUMA_SOURCE_SERVICE%\", \"sourceAddress\": \"%KUMA_SOURCE_ADDRESS%\", \"bytesReceived\": \"%BYTES_RECEIVED%\", \"bytesSent\": \"%BYTES_SENT%\"}",
            "é %BYTES_SENT% ü",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn invalid_formats_with_kumas_messages() {
        let cases = [
            (
                "%START_TIME% %sent_bytes%",
                r#"expected a command operator to start at position 14, instead got: "%sent_bytes%""#,
            ),
            (
                "text with % character",
                r#"expected a command operator to start at position 11, instead got: "% character""#,
            ),
            (
                "%START_TIME(%",
                r#"expected a command operator to start at position 1, instead got: "%START_TIME(%""#,
            ),
            (
                "%",
                r#"expected a command operator to start at position 1, instead got: "%""#,
            ),
            (
                "%REQ(a):%",
                r#"expected a command operator to start at position 1, instead got: "%REQ(a):%""#,
            ),
            (
                "%BYTES_RECEIVED()%",
                r#"command "%BYTES_RECEIVED%" doesn't support arguments or max length constraint, instead got "%BYTES_RECEIVED()%""#,
            ),
            (
                "%BYTES_SENT:10%",
                r#"command "%BYTES_SENT%" doesn't support arguments or max length constraint, instead got "%BYTES_SENT:10%""#,
            ),
            (
                "%REQ%",
                r#"command "%REQ(X?Y):Z%" requires a header and optional alternative header names as its arguments, instead got "%REQ%""#,
            ),
            (
                "%REQ:10%",
                r#"command "%REQ(X?Y):Z%" requires a header and optional alternative header names as its arguments, instead got "%REQ:10%""#,
            ),
            (
                "%RESP%",
                r#"command "%RESP(X?Y):Z%" requires a header and optional alternative header names as its arguments, instead got "%RESP%""#,
            ),
            (
                "%TRAILER:10%",
                r#"command "%TRAILER(X?Y):Z%" requires a header and optional alternative header names as its arguments, instead got "%TRAILER:10%""#,
            ),
            (
                "%REQ(header-1?header-2?header-3)%",
                r#"more than 1 alternative header specified in "%REQ(header-1?header-2?header-3)%""#,
            ),
            (
                "%RESP(header-1?header-2?header-3):10%",
                r#"more than 1 alternative header specified in "%RESP(header-1?header-2?header-3):10%""#,
            ),
            (
                "%REQ(header-1\n?header-2)%",
                r#"header name contains a newline in "%REQ(header-1\n?header-2)%""#,
            ),
            (
                "%TRAILER(header-1?\rheader-2)%",
                r#"header name contains a newline in "%TRAILER(header-1?\rheader-2)%""#,
            ),
            (
                "%RESP(header-1\x00)%",
                r#"header name contains a newline in "%RESP(header-1\x00)%""#,
            ),
            (
                "%DYNAMIC_METADATA%",
                r#"command "%DYNAMIC_METADATA(NAMESPACE:KEY*):Z%" requires a filter namespace and optional path as its arguments, instead got "%DYNAMIC_METADATA%""#,
            ),
            (
                "%DYNAMIC_METADATA:10%",
                r#"command "%DYNAMIC_METADATA(NAMESPACE:KEY*):Z%" requires a filter namespace and optional path as its arguments, instead got "%DYNAMIC_METADATA:10%""#,
            ),
            (
                "%FILTER_STATE%",
                r#"command "%FILTER_STATE(KEY):Z%" requires a key as its argument, instead got "%FILTER_STATE%""#,
            ),
            (
                "%FILTER_STATE:10%",
                r#"command "%FILTER_STATE(KEY):Z%" requires a key as its argument, instead got "%FILTER_STATE:10%""#,
            ),
            (
                "%FILTER_STATE()%",
                r#"command "%FILTER_STATE(KEY):Z%" requires a key as its argument, instead got "%FILTER_STATE()%""#,
            ),
            (
                "%FILTER_STATE():10%",
                r#"command "%FILTER_STATE(KEY):Z%" requires a key as its argument, instead got "%FILTER_STATE():10%""#,
            ),
            (
                "%START_TIME(%Y%n)%",
                r#"start time format string contains a newline in "%START_TIME(%Y%n)%""#,
            ),
            (
                "%START_TIME(%_3n)%",
                r#"start time format string contains a newline in "%START_TIME(%_3n)%""#,
            ),
            (
                "%REQ(a):99999999999999999999%",
                r#"length must be an integer, instead got "99999999999999999999" in "%REQ(a):99999999999999999999%""#,
            ),
        ];
        for (format, message) in cases {
            assert_eq!(
                validate(format),
                Err(format!("format string is not valid: {message}")),
                "{format:?}"
            );
        }
    }
}
