//! Envoy access-log format strings (interim: replaced by the shared tokenizer).

/// `format` with header names in `%REQ(..)%`, `%RESP(..)%` and `%TRAILER(..)%` lower-cased.
pub fn normalize(format: &str) -> String {
    let mut out = String::with_capacity(format.len());
    let mut rest = format;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let header_op = ["%REQ(", "%RESP(", "%TRAILER("]
            .iter()
            .find(|p| tail.starts_with(**p));
        match (header_op, tail.find(')')) {
            (Some(op), Some(close)) => {
                out.push_str(op);
                out.push_str(&tail[op.len()..close].to_ascii_lowercase());
                rest = &tail[close..];
            }
            _ => {
                out.push('%');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// (request, response) header names the format's `%REQ(..)%` / `%RESP(..)%` read.
pub fn headers_to_log(format: &str) -> (Vec<String>, Vec<String>) {
    let mut req = Vec::new();
    let mut resp = Vec::new();
    for (op, list) in [("%REQ(", &mut req), ("%RESP(", &mut resp)] {
        let mut rest = format;
        while let Some(i) = rest.find(op) {
            let tail = &rest[i + op.len()..];
            let Some(close) = tail.find(')') else { break };
            for name in tail[..close].split('?') {
                let name = name.to_ascii_lowercase();
                if !name.is_empty() && !name.starts_with(':') && !list.contains(&name) {
                    list.push(name);
                }
            }
            rest = &tail[close..];
        }
    }
    (req, resp)
}
