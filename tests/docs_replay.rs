//! Replays every example of Kuma's HTTP API documentation (`kuma-http-api-docs.md`) against one
//! server: "every example in it must work when replayed in order with curl" (Ursa's contract).
//!
//! The examples are extracted from the document (each ```` ```bash ```` block holding a `curl`,
//! with the ```` ```json ```` block right after it as the PUT body or the example answer) and
//! replayed in an order that makes each meaningful:
//! 1. every PUT in document order, each sent twice (201, then 200);
//! 2. the dataplane the overview examples show (never PUT in the docs) is fabricated from the
//!    example: its `dataplane` as a Dataplane, its `dataplaneInsight` as the insight;
//! 3. every GET in document order, compared with the example's fields (`creationTime`,
//!    `modificationTime` and `next` ignored; a list's example items must be among the answer's);
//!    `/config` only has to contain the example's top-level sections that Ursa implements;
//! 4. every DELETE in reverse document order (200, then 404 when repeated); a DELETE of a name
//!    the docs never create is a typo in the docs and must be a 404.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, Value};
use support::{Response, TestServer};

/// The base URL the examples use.
const DOCS_BASE: &str = "http://localhost:5681";
/// Meta keys the server controls, and the `next` link computed for old page sizes.
const IGNORED: [&str; 3] = ["creationTime", "modificationTime", "next"];

/// One `curl` example and the JSON block that follows it.
#[derive(Debug)]
struct Example {
    /// Line of the `curl` in the document.
    line: usize,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    /// The ```json block right after the curl, verbatim.
    json: Option<String>,
}

impl Example {
    fn json_value(&self) -> Option<Value> {
        self.json.as_deref().map(|t| {
            serde_json::from_str(t)
                .unwrap_or_else(|e| panic!("line {}: example JSON: {e}", self.line))
        })
    }
}

fn parse_docs(text: &str) -> Vec<Example> {
    // Fenced blocks in order: (info string, first line number, content).
    let mut blocks: Vec<(String, usize, String)> = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((info.trim().to_string(), i + 2, String::new()));
                }
            }
            Some((info, start, mut body)) => {
                if trimmed.starts_with("```") {
                    blocks.push((info, start, body));
                } else {
                    body.push_str(line);
                    body.push('\n');
                    open = Some((info, start, body));
                }
            }
        }
    }
    let mut examples = Vec::new();
    for (i, (info, line, body)) in blocks.iter().enumerate() {
        if info != "bash" || !body.trim_start().starts_with("curl") {
            continue;
        }
        let json = blocks
            .get(i + 1)
            .filter(|(info, _, _)| info == "json")
            .map(|(_, _, b)| b.clone());
        examples.push(parse_curl(body.trim(), *line, json));
    }
    examples
}

/// Splits a shell command line into words (single and double quotes, no escapes needed here).
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

fn parse_curl(cmd: &str, line: usize, json: Option<String>) -> Example {
    let words = shell_words(cmd);
    let mut method = "GET".to_string();
    let mut url = None;
    let mut headers = Vec::new();
    let mut data = false;
    let mut i = 1;
    while i < words.len() {
        let w = &words[i];
        let mut value = |flag: &str| -> String {
            if w.len() > flag.len() {
                w[flag.len()..].to_string()
            } else {
                i += 1;
                words.get(i).cloned().unwrap_or_default()
            }
        };
        if w.starts_with("-X") {
            method = value("-X");
        } else if w.starts_with("-H") {
            let h = value("-H");
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        } else if w == "--data" || w == "-d" {
            value(w);
            data = true;
        } else if w.starts_with("http") {
            url = Some(w.clone());
        }
        i += 1;
    }
    let url = url.unwrap_or_else(|| panic!("line {line}: no URL in {cmd:?}"));
    let path = url
        .strip_prefix(DOCS_BASE)
        .unwrap_or_else(|| panic!("line {line}: URL {url} is not on {DOCS_BASE}"))
        .to_string();
    assert!(
        !data || json.is_some(),
        "line {line}: --data without a JSON block"
    );
    Example {
        line,
        method,
        path,
        headers,
        json,
    }
}

/// Collection segment and item name of `/meshes/{mesh}/{segment}/{name}`, or `/meshes/{name}`.
fn item_of(path: &str) -> (String, String) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs[..] {
        ["meshes", name] => ("meshes".into(), name.into()),
        ["meshes", mesh, seg, name] => (format!("{mesh}/{seg}"), name.into()),
        _ => (String::new(), String::new()),
    }
}

struct Replay {
    server: TestServer,
    base: String,
    passed: usize,
    failed: Vec<String>,
}

impl Replay {
    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: Option<&str>,
    ) -> Response {
        // What curl sends by default.
        let mut req = self
            .server
            .req(method, path)
            .header("user-agent", "curl/7.68.0")
            .header("accept", "*/*");
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Some(body) = body {
            // `curl --data @file` drops the file's line breaks.
            let flat: String = body.chars().filter(|c| *c != '\n' && *c != '\r').collect();
            req = req.body(flat.into_bytes());
        }
        req.send()
    }

    /// Records one request's outcome and prints its line.
    fn record(
        &mut self,
        label: &str,
        resp: &Response,
        expected: u16,
        note: &str,
        problems: Vec<String>,
    ) {
        let ok = resp.status == expected && problems.is_empty();
        println!(
            "{} {label} -> {} (expected {expected}){note}",
            if ok { "ok  " } else { "FAIL" },
            resp.status
        );
        if ok {
            self.passed += 1;
        } else {
            let mut detail = format!("{label} -> {} (expected {expected})", resp.status);
            for p in &problems {
                detail.push_str(&format!("\n    {p}"));
            }
            if resp.status != expected {
                detail.push_str(&format!("\n    body: {}", resp.text()));
            }
            println!("       {}", detail.replace('\n', "\n       "));
            self.failed.push(detail);
        }
    }
}

/// Compares an example's fields (minus the ignored ones) with the answer's.
fn compare_fields(example: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    let (Some(want), Some(got)) = (example.as_object(), got.as_object()) else {
        out.push(format!("{path}: expected an object, got {got}"));
        return;
    };
    for (k, v) in want {
        if IGNORED.contains(&k.as_str()) {
            continue;
        }
        match got.get(k) {
            None => out.push(format!("{path}.{k}: missing")),
            Some(g) => deep_equal(v, g, &format!("{path}.{k}"), out),
        }
    }
    for k in got.keys() {
        if !want.contains_key(k) && !IGNORED.contains(&k.as_str()) {
            out.push(format!("{path}.{k}: not in the example: {}", got[k]));
        }
    }
}

fn deep_equal(want: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Number(w), Value::Number(g)) if w.as_f64() == g.as_f64() => {}
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    None => out.push(format!("{path}.{k}: missing")),
                    Some(gv) => deep_equal(wv, gv, &format!("{path}.{k}"), out),
                }
            }
            for k in g.keys().filter(|k| !w.contains_key(*k)) {
                out.push(format!("{path}.{k}: not in the example: {}", g[k]));
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                deep_equal(wv, gv, &format!("{path}[{i}]"), out);
            }
        }
        (w, g) if w == g => {}
        (w, g) => out.push(format!("{path}: expected {w}, got {g}")),
    }
}

/// A list answer must contain every example item (matched by mesh and name).
fn compare_list(example: &Value, got: &Value, out: &mut Vec<String>) {
    let items = |v: &Value| v.get("items").and_then(Value::as_array).cloned();
    let (Some(want), Some(got_items)) = (items(example), items(got)) else {
        out.push(format!("not a list answer: {got}"));
        return;
    };
    if got.get("total").and_then(Value::as_u64).is_none() {
        out.push("no total".into());
    }
    for (i, w) in want.iter().enumerate() {
        let key = |v: &Value| (v.get("mesh").cloned(), v.get("name").cloned());
        match got_items.iter().find(|g| key(g) == key(w)) {
            None => out.push(format!("items[{i}] ({:?}) is not in the answer", key(w))),
            Some(g) => compare_fields(w, g, &format!("items[{i}]"), out),
        }
    }
}

#[test]
fn docs_replay() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/spec/kuma-http-api-docs.md");
    let text = std::fs::read_to_string(&docs).unwrap_or_else(|e| panic!("{}: {e}", docs.display()));
    let examples = parse_docs(&text);
    assert!(
        examples.len() >= 30,
        "only {} examples found",
        examples.len()
    );
    let server = TestServer::start(&[]);
    let base = format!("http://localhost:{}", server.addr.port());
    let mut r = Replay {
        server,
        base,
        passed: 0,
        failed: Vec::new(),
    };
    println!(
        "docs replay: {} examples from {}",
        examples.len(),
        docs.display()
    );

    // 1. Every PUT, twice.
    let mut created: BTreeSet<(String, String)> = BTreeSet::new();
    for ex in examples.iter().filter(|e| e.method == "PUT") {
        for expected in [201, 200] {
            let resp = r.send("PUT", &ex.path, &ex.headers, ex.json.as_deref());
            let label = format!("PUT {}", ex.path);
            let note = format!("  [docs line {}]", ex.line);
            r.record(&label, &resp, expected, &note, Vec::new());
        }
        created.insert(item_of(&ex.path));
    }

    // 2. The overview examples' dataplane, which the docs never PUT.
    let json = [("content-type".to_string(), "application/json".to_string())];
    for ex in examples
        .iter()
        .filter(|e| e.method == "GET" && e.path.contains("/dataplanes+insights/"))
    {
        let Some(example) = ex.json_value() else {
            continue;
        };
        let mesh = example["mesh"].as_str().unwrap_or_default().to_string();
        let name = example["name"].as_str().unwrap_or_default().to_string();
        let dp_key = (format!("{mesh}/dataplanes"), name.clone());
        if created.contains(&dp_key) {
            continue;
        }
        for (segment, type_name, field) in [
            ("dataplanes", "Dataplane", "dataplane"),
            ("dataplane-insights", "DataplaneInsight", "dataplaneInsight"),
        ] {
            let mut body = Map::new();
            body.insert("type".into(), type_name.into());
            body.insert("mesh".into(), mesh.clone().into());
            body.insert("name".into(), name.clone().into());
            if let Some(Value::Object(spec)) = example.get(field) {
                body.extend(spec.clone());
            }
            let path = format!("/meshes/{mesh}/{segment}/{name}");
            let body = Value::Object(body).to_string();
            let resp = r.send("PUT", &path, &json, Some(&body));
            let label = format!(
                "PUT {path} (fabricated from the example at line {})",
                ex.line
            );
            r.record(&label, &resp, 201, "", Vec::new());
        }
        created.insert(dp_key);
    }

    // 3. Every GET, compared with the example.
    for ex in examples.iter().filter(|e| e.method == "GET") {
        let resp = r.send("GET", &ex.path, &ex.headers, None);
        let label = format!("GET {}", ex.path);
        let mut problems = Vec::new();
        let mut note = String::new();
        match (serde_json::from_slice::<Value>(&resp.body), ex.json_value()) {
            (Err(e), _) => problems.push(format!("answer is not JSON: {e}")),
            (Ok(_), None) => {}
            (Ok(got), Some(example)) if ex.path == "/config" => {
                if resp.header("content-type") != Some("application/json") {
                    problems.push(format!("content-type {:?}", resp.header("content-type")));
                }
                let sections: Vec<&String> = example
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                let missing: Vec<&str> = sections
                    .iter()
                    .filter(|k| got.get(k.as_str()).is_none())
                    .map(|k| k.as_str())
                    .collect();
                let present = sections.len() - missing.len();
                for core in ["apiServer", "store", "general", "environment"] {
                    if got.get(core).is_none() {
                        problems.push(format!("section {core} is missing"));
                    }
                }
                note =
                    format!(
                    "; {present} of the example's {} sections present; not implemented by Ursa: {}",
                    sections.len(),
                    if missing.is_empty() { "none".to_string() } else { missing.join(", ") }
                );
            }
            (Ok(got), Some(example)) if example.get("items").is_some() => {
                compare_list(&example, &got, &mut problems)
            }
            (Ok(got), Some(example)) => compare_fields(&example, &got, "$", &mut problems),
        }
        note.push_str(&format!("  [docs line {}]", ex.line));
        r.record(&label, &resp, 200, &note, problems);
    }

    // 4. Every DELETE, in reverse document order, then again.
    for ex in examples.iter().rev().filter(|e| e.method == "DELETE") {
        let label = format!("DELETE {}", ex.path);
        let at = format!("  [docs line {}]", ex.line);
        if !created.contains(&item_of(&ex.path)) {
            let resp = r.send("DELETE", &ex.path, &ex.headers, None);
            let (collection, name) = item_of(&ex.path);
            let note =
                format!("; docs typo: {collection}/{name} is never created by the examples{at}");
            r.record(&label, &resp, 404, &note, Vec::new());
            continue;
        }
        let resp = r.send("DELETE", &ex.path, &ex.headers, None);
        r.record(&label, &resp, 200, &at, Vec::new());
        let resp = r.send("DELETE", &ex.path, &ex.headers, None);
        r.record(&label, &resp, 404, &format!("; repeated{at}"), Vec::new());
    }

    let failed = r.failed.len();
    println!("docs replay: {} passed, {failed} failed", r.passed);
    assert!(
        r.failed.is_empty(),
        "{failed} docs example request(s) failed (server at {}):\n{}",
        r.base,
        r.failed.join("\n")
    );
}
