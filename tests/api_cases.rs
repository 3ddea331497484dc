//! The data-driven API suite: every `tests/cases/*.yaml` file holds a list of cases, each a
//! sequence of HTTP requests and what the answer must be. Each case runs against a fresh server.
//!
//! A case:
//! ```yaml
//! - name: what it proves
//!   env: { KUMA_API_SERVER_READ_ONLY: "true" }     # optional KUMA_* overrides
//!   steps:
//!     - request:
//!         method: PUT
//!         path: /meshes/m1                         # `{next}`: path of the last `next` link
//!         headers: { accept: application/json }    # a `null` value: do not send the header
//!         body: { type: Mesh, name: m1 }           # or body_raw: "text", body_base64: "..."
//!       expect:
//!         status: 201
//!         json: {...}            # semantic equality
//!         json_contains: {...}   # subset: listed keys match recursively, arrays element-wise
//!         body: ""               # exact text
//!         body_excludes: [s3cr3t] # texts the body must not contain
//!         headers: { content-type: application/json, allow: null }   # null: must be absent
//!       save: { created: /creationTime }   # JSON pointer into the response, for `{created}`
//! ```
//! Expected strings (and request paths and raw bodies) may contain `{base}`
//! (`http://localhost:<port>`), `{port}` and saved `{names}`; an expected string may also be one
//! of the placeholders `<any>`, `<absent>` (the key must not exist), `<contains:TEXT>`, `<time>`
//! (RFC 3339 UTC with `Z`, fraction without trailing zeros), `<time-after:NAME>` (a `<time>`
//! later than the saved NAME).
//!
//! `API_CASES=<substring>` runs only the cases whose name or file contains it.

mod support;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use support::{Response, TestServer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    env: BTreeMap<String, String>,
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    request: Request,
    expect: Expect,
    #[serde(default)]
    save: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    method: String,
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, Option<String>>,
    body: Option<Value>,
    body_raw: Option<String>,
    body_base64: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    status: u16,
    json: Option<Value>,
    json_contains: Option<Value>,
    body: Option<String>,
    #[serde(default)]
    body_excludes: Vec<String>,
    #[serde(default)]
    headers: BTreeMap<String, Option<String>>,
}

/// Values a case carries from step to step.
struct Vars {
    base: String,
    port: String,
    saved: BTreeMap<String, String>,
    last_next: Option<String>,
}

impl Vars {
    /// Replaces `{base}` and `{saved-name}` in `s`.
    fn subst(&self, s: &str) -> String {
        let mut out = s
            .replace("{base}", &self.base)
            .replace("{port}", &self.port);
        for (k, v) in &self.saved {
            out = out.replace(&format!("{{{k}}}"), v);
        }
        out
    }
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

fn load() -> Vec<(String, Case)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/cases exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable case file");
        let cases: Vec<Case> =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        all.extend(cases.into_iter().map(|c| (stem.clone(), c)));
    }
    all
}

#[test]
fn api_cases() {
    let filter = std::env::var("API_CASES").ok();
    let cases = load();
    let mut names = std::collections::HashSet::new();
    for (file, case) in &cases {
        assert!(
            names.insert(case.name.clone()),
            "{file}: duplicate case name {:?}",
            case.name
        );
    }
    let mut failures: Vec<String> = Vec::new();
    let mut passed = 0;
    for (file, case) in &cases {
        if let Some(f) = &filter {
            if !case.name.contains(f.as_str()) && !file.contains(f.as_str()) {
                continue;
            }
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| run_case(case)))
            .unwrap_or_else(|p| Err(format!("panicked: {}", panic_text(&*p))));
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("ok   {file}: {}", case.name);
            }
            Err(diff) => {
                println!("FAIL {file}: {}", case.name);
                failures.push(format!("--- {file}: {}\n{diff}", case.name));
            }
        }
    }
    println!("api cases: {passed} passed, {} failed", failures.len());
    if !failures.is_empty() {
        panic!(
            "{} failing API case(s):\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "?".into())
}

fn run_case(case: &Case) -> Result<(), String> {
    let env: Vec<(&str, &str)> = case
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let server = TestServer::start(&env);
    let mut vars = Vars {
        base: format!("http://localhost:{}", server.addr.port()),
        port: server.addr.port().to_string(),
        saved: BTreeMap::new(),
        last_next: None,
    };
    for (i, step) in case.steps.iter().enumerate() {
        let (label, resp) = send(&server, &vars, &step.request)?;
        let errors = check(&step.expect, &resp, &vars);
        if !errors.is_empty() {
            return Err(format!(
                "step {} `{label}`:\n  {}\n  response {}: {}",
                i + 1,
                errors.join("\n  "),
                resp.status,
                show_body(&resp)
            ));
        }
        let json: Option<Value> = serde_json::from_slice(&resp.body).ok();
        vars.last_next = json
            .as_ref()
            .and_then(|j| j.get("next"))
            .and_then(Value::as_str)
            .map(str::to_string);
        for (name, pointer) in &step.save {
            let value = json
                .as_ref()
                .and_then(|j| j.pointer(pointer))
                .ok_or_else(|| format!("step {}: nothing at {pointer} to save", i + 1))?;
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            vars.saved.insert(name.clone(), text);
        }
    }
    Ok(())
}

fn show_body(resp: &Response) -> String {
    match serde_json::from_slice::<Value>(&resp.body) {
        Ok(v) => v.to_string(),
        Err(_) => format!("{:?}", resp.text()),
    }
}

fn send(server: &TestServer, vars: &Vars, r: &Request) -> Result<(String, Response), String> {
    let path = if r.path.contains("{next}") {
        let next = vars
            .last_next
            .as_deref()
            .ok_or("`{next}` used but the last response had no next link")?;
        let rel = next
            .strip_prefix(&vars.base)
            .ok_or_else(|| format!("next link {next:?} does not start with {}", vars.base))?;
        r.path.replace("{next}", rel)
    } else {
        vars.subst(&r.path)
    };
    let label = format!("{} {path}", r.method);
    let mut req = server.req(&r.method, &path);
    let body: Option<Vec<u8>> = match (&r.body, &r.body_raw, &r.body_base64) {
        (Some(v), None, None) => Some(serde_json::to_vec(v).map_err(|e| e.to_string())?),
        (None, Some(raw), None) => Some(vars.subst(raw).into_bytes()),
        (None, None, Some(b64)) => Some(base64_decode(b64)?),
        (None, None, None) => None,
        _ => return Err("a request has at most one of body, body_raw, body_base64".into()),
    };
    let mut has_content_type = false;
    for (k, v) in &r.headers {
        if k.eq_ignore_ascii_case("content-type") {
            has_content_type = true;
        }
        if let Some(v) = v {
            req = req.header(k, &vars.subst(v));
        }
    }
    if let Some(body) = body {
        if !has_content_type {
            req = req.header("content-type", "application/json");
        }
        req = req.body(body);
    }
    Ok((label, req.send()))
}

fn check(expect: &Expect, resp: &Response, vars: &Vars) -> Vec<String> {
    let mut errors = Vec::new();
    if resp.status != expect.status {
        errors.push(format!(
            "status: expected {}, got {}",
            expect.status, resp.status
        ));
    }
    for (name, want) in &expect.headers {
        match (want, resp.header(name)) {
            (None, Some(got)) => {
                errors.push(format!("header {name}: expected absent, got {got:?}"))
            }
            (Some(want), None) => errors.push(format!("header {name}: expected {want:?}, absent")),
            (Some(want), Some(got)) => {
                let want = vars.subst(want);
                if want != "<any>" && want != got {
                    errors.push(format!("header {name}: expected {want:?}, got {got:?}"));
                }
            }
            (None, None) => {}
        }
    }
    if let Some(want) = &expect.body {
        let want = vars.subst(want);
        if resp.text() != want {
            errors.push(format!("body: expected {want:?}, got {:?}", resp.text()));
        }
    }
    for text in &expect.body_excludes {
        if resp.text().contains(text.as_str()) {
            errors.push(format!("body: must not contain {text:?}"));
        }
    }
    for (want, subset) in [(&expect.json, false), (&expect.json_contains, true)] {
        let Some(want) = want else { continue };
        match serde_json::from_slice::<Value>(&resp.body) {
            Err(e) => errors.push(format!("body is not JSON ({e})")),
            Ok(got) => {
                let mut diffs = Vec::new();
                compare(want, &got, subset, "$", vars, &mut diffs);
                if !diffs.is_empty() {
                    errors.push(format!(
                        "{}: expected {}",
                        if subset { "json_contains" } else { "json" },
                        serde_json::to_string(want).unwrap_or_default()
                    ));
                    errors.extend(diffs.into_iter().map(|d| format!("  {d}")));
                }
            }
        }
    }
    errors
}

/// Compares `want` to `got` and records every difference with its JSON path.
fn compare(
    want: &Value,
    got: &Value,
    subset: bool,
    path: &str,
    vars: &Vars,
    out: &mut Vec<String>,
) {
    match (want, got) {
        (Value::String(w), _) if w.starts_with('<') && w.ends_with('>') => {
            if let Err(e) = placeholder(w, got, vars) {
                out.push(format!("{path}: {e}"));
            }
        }
        (Value::String(w), Value::String(g)) => {
            let w = vars.subst(w);
            if &w != g {
                out.push(format!("{path}: expected {w:?}, got {g:?}"));
            }
        }
        (Value::Number(w), Value::Number(g)) => {
            if w.as_f64() != g.as_f64() {
                out.push(format!("{path}: expected {w}, got {g}"));
            }
        }
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match (wv.as_str() == Some("<absent>"), g.get(k)) {
                    (true, Some(gv)) => out.push(format!("{p}: expected absent, got {gv}")),
                    (true, None) => {}
                    (false, None) => out.push(format!("{p}: missing")),
                    (false, Some(gv)) => compare(wv, gv, subset, &p, vars, out),
                }
            }
            if !subset {
                for (k, gv) in g {
                    if !w.contains_key(k) {
                        out.push(format!("{path}.{k}: unexpected, got {gv}"));
                    }
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                out.push(format!(
                    "{path}: expected {} elements, got {}: {}",
                    w.len(),
                    g.len(),
                    Value::Array(g.clone())
                ));
                return;
            }
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                compare(wv, gv, subset, &format!("{path}[{i}]"), vars, out);
            }
        }
        (w, g) => {
            if w != g {
                out.push(format!("{path}: expected {w}, got {g}"));
            }
        }
    }
}

fn placeholder(p: &str, got: &Value, vars: &Vars) -> Result<(), String> {
    if p == "<any>" {
        return Ok(());
    }
    if let Some(text) = p
        .strip_prefix("<contains:")
        .and_then(|r| r.strip_suffix('>'))
    {
        return match got {
            Value::String(g) if g.contains(text) => Ok(()),
            _ => Err(format!("expected a string containing {text:?}, got {got}")),
        };
    }
    if p == "<time>" {
        return meta_time(got).map(|_| ());
    }
    if let Some(name) = p
        .strip_prefix("<time-after:")
        .and_then(|r| r.strip_suffix('>'))
    {
        let t = meta_time(got)?;
        let saved = vars
            .saved
            .get(name)
            .ok_or_else(|| format!("nothing saved as {name}"))?;
        let before = DateTime::parse_from_rfc3339(saved)
            .map_err(|e| format!("saved {name} {saved:?} is not a time: {e}"))?;
        return if t > before.with_timezone(&Utc) {
            Ok(())
        } else {
            Err(format!("{got} is not after {name} = {saved}"))
        };
    }
    // Not a placeholder after all: compare literally.
    match got {
        Value::String(g) if g == p => Ok(()),
        _ => Err(format!("expected {p:?}, got {got}")),
    }
}

/// D18: RFC 3339, UTC with `Z`, fractional seconds without trailing zeros.
fn meta_time(got: &Value) -> Result<DateTime<Utc>, String> {
    let s = got
        .as_str()
        .ok_or_else(|| format!("expected a timestamp, got {got}"))?;
    let t = DateTime::parse_from_rfc3339(s).map_err(|e| format!("{s:?} is not RFC 3339: {e}"))?;
    if !s.ends_with('Z') {
        return Err(format!("{s:?} is not UTC with Z"));
    }
    if let Some((_, frac)) = s.trim_end_matches('Z').split_once('.') {
        if frac.is_empty() || frac.ends_with('0') {
            return Err(format!("{s:?}: fraction has trailing zeros"));
        }
    }
    Ok(t.with_timezone(&Utc))
}

/// Standard base64 (with or without padding), enough to send invalid UTF-8 bodies.
fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("invalid base64 character {:?}", c as char)),
        };
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    Ok(out)
}
