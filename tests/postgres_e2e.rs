//! The PostgreSQL store end to end (issue 4): real `ursa-cp` processes on a database of their
//! own on the throwaway server of `scripts/postgres.sh` (`URSA_TEST_PG_*`; `scripts/test.sh`
//! starts it). Two instances share one database and converge (also after contested writes, a
//! delete and re-create, a cut change feed); a `kill -9` loses no acknowledged write; a
//! PostgreSQL restart (of a private server) is survived without restarting the control plane;
//! `ursa-cp migrate`, and a schema newer than the binary; the password never shows.
//!
//! Without `URSA_TEST_PG_*` every test fails with a message to run `bash scripts/test.sh`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use ursa_actors::store::postgres::SCHEMA_VERSION;

const BIN: &str = env!("CARGO_BIN_EXE_ursa-cp");

/// How long a change made through one instance may take to show on another (LISTEN/NOTIFY,
/// then a read of the row): well under a second on an idle machine; the margin is for a
/// loaded CI machine.
const PROPAGATION: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------------------
// PostgreSQL: the shared throwaway server, a database per test, a private server.

fn required_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the PostgreSQL end-to-end tests need the throwaway PostgreSQL \
             server. Run `bash scripts/test.sh`, or `eval \"$(bash scripts/postgres.sh start)\"` \
             before `cargo test`"
        )
    })
}

/// Where a PostgreSQL server listens, and a superuser.
#[derive(Clone, Debug)]
struct PgServer {
    host: String,
    port: u16,
    user: String,
    password: String,
}

impl PgServer {
    /// The throwaway server every test shares (`URSA_TEST_PG_*`).
    fn shared() -> PgServer {
        PgServer {
            host: required_var("URSA_TEST_PG_HOST"),
            port: required_var("URSA_TEST_PG_PORT")
                .parse()
                .expect("URSA_TEST_PG_PORT is a port"),
            user: required_var("URSA_TEST_PG_USER"),
            password: required_var("URSA_TEST_PG_PASSWORD"),
        }
    }

    /// Runs `f` with a superuser session on `db` (bounded in time).
    fn with_client<T, F>(
        &self,
        db: &str,
        f: impl FnOnce(tokio_postgres::Client) -> F,
    ) -> Result<T, String>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let mut config = tokio_postgres::Config::new();
            config
                .host(&self.host)
                .port(self.port)
                .user(&self.user)
                .password(&self.password)
                .dbname(db)
                .application_name("ursa-e2e-admin")
                .connect_timeout(Duration::from_secs(10));
            let (client, connection) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("connect to {}:{}/{db}: {e}", self.host, self.port))?;
            let driver = tokio::spawn(connection);
            let result = tokio::time::timeout(Duration::from_secs(30), f(client))
                .await
                .map_err(|_| "timed out".to_string())
                .and_then(|r| r.map_err(|e| format!("{e:?}")));
            let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
            result
        })
    }

    /// Runs SQL statements.
    fn execute(&self, db: &str, sql: &str) -> Result<(), String> {
        let sql = sql.to_string();
        self.with_client(db, |c| async move { c.batch_execute(&sql).await })
    }

    /// The first column of the one row of `sql`, as text (NULL: "NULL"; no row: "no row").
    fn query_text(&self, db: &str, sql: &str) -> Result<String, String> {
        let sql = sql.to_string();
        self.with_client(db, |c| async move {
            Ok(match c.query_opt(sql.as_str(), &[]).await? {
                Some(row) => row
                    .try_get::<_, Option<String>>(0)?
                    .unwrap_or_else(|| "NULL".into()),
                None => "no row".into(),
            })
        })
    }

    /// The first column of the one row of `sql`, an integer.
    fn query_i64(&self, db: &str, sql: &str) -> Result<i64, String> {
        let sql = sql.to_string();
        self.with_client(db, |c| async move {
            c.query_one(sql.as_str(), &[]).await?.try_get::<_, i64>(0)
        })
    }
}

/// A name no other test, process or earlier run uses.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A database of one test, dropped (with its owner role, if any) at the end.
struct TestDb {
    server: PgServer,
    name: String,
    /// The login `ursa-cp` uses: the server's superuser, or a role of the test.
    user: String,
    password: String,
    owner_role: Option<String>,
}

impl TestDb {
    fn create(server: &PgServer) -> TestDb {
        let name = unique("ursa_e2e");
        server
            .execute("postgres", &format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        TestDb {
            server: server.clone(),
            name,
            user: server.user.clone(),
            password: server.password.clone(),
            owner_role: None,
        }
    }

    /// A database owned by a login role of its own, with `password`.
    fn create_owned(server: &PgServer, password: &str) -> TestDb {
        let mut db = TestDb::create(server);
        let role = unique("ursa_e2e_role");
        server
            .execute(
                "postgres",
                &format!(
                    "CREATE ROLE {role} LOGIN PASSWORD '{}'; ALTER DATABASE {} OWNER TO {role}",
                    password.replace('\'', "''"),
                    db.name
                ),
            )
            .expect("create the test role");
        db.user = role.clone();
        db.password = password.to_string();
        db.owner_role = Some(role);
        db
    }

    /// `ursa-cp`'s settings for this database.
    fn env(&self) -> Vec<(String, String)> {
        store_env(
            &self.server.host,
            self.server.port,
            &self.user,
            &self.password,
            &self.name,
        )
    }

    fn execute(&self, sql: &str) -> Result<(), String> {
        self.server.execute(&self.name, sql)
    }

    fn query_i64(&self, sql: &str) -> Result<i64, String> {
        self.server.query_i64(&self.name, sql)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = self.server.execute(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        if let Some(role) = &self.owner_role {
            let _ = self
                .server
                .execute("postgres", &format!("DROP ROLE IF EXISTS {role}"));
        }
    }
}

fn store_env(host: &str, port: u16, user: &str, password: &str, db: &str) -> Vec<(String, String)> {
    [
        ("KUMA_STORE_TYPE", "postgres"),
        ("KUMA_STORE_POSTGRES_HOST", host),
        ("KUMA_STORE_POSTGRES_PORT", &port.to_string()),
        ("KUMA_STORE_POSTGRES_USER", user),
        ("KUMA_STORE_POSTGRES_PASSWORD", password),
        ("KUMA_STORE_POSTGRES_DB_NAME", db),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A PostgreSQL server of one test, in a temporary directory, so that the test can stop and
/// start it without disturbing the others. Stopped and deleted on drop, whatever happened.
struct PrivatePg {
    root: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePg {
    /// initdb (as the `postgres` user when root, as `scripts/postgres.sh` does) and start.
    fn start() -> PrivatePg {
        let bin = PathBuf::from(required_var("URSA_TEST_PG_BIN"));
        let root = std::env::temp_dir().join(unique("ursa-e2e-pg"));
        std::fs::create_dir_all(&root).expect("create the server's directory");
        let as_postgres = is_root();
        let mut pg = PrivatePg {
            data: root.join("data"),
            root,
            bin,
            port: 0,
            as_postgres,
        };
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&pg.root)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown of {} failed", pg.root.display());
        }
        let out = pg
            .tool("initdb")
            .arg("-D")
            .arg(&pg.data)
            .args([
                "-U",
                "ursa",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "--auth=trust",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut last = String::new();
        for _ in 0..5 {
            pg.port = free_port();
            // The last setting of a key wins: a retry appends another port.
            let conf = format!(
                "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
                 max_connections = 100\nfsync = off\n",
                pg.port,
                pg.root.display()
            );
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(pg.data.join("postgresql.conf"))
                .expect("open postgresql.conf");
            file.write_all(conf.as_bytes())
                .expect("write postgresql.conf");
            match pg.pg_ctl_start() {
                Ok(()) => return pg,
                Err(e) => last = e,
            }
        }
        panic!("could not start a private PostgreSQL: {last}");
    }

    /// A PostgreSQL program, run as the owner of the data directory.
    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let out = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.root.join("server.log"))
            .args(["-w", "-t", "30", "start"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl start: {}{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
            ))
        }
    }

    /// Starts it again on the same port.
    fn start_again(&self) {
        self.pg_ctl_start()
            .unwrap_or_else(|e| panic!("restart PostgreSQL: {e}"));
    }

    /// `pg_ctl stop -m <mode>`.
    fn stop(&self, mode: &str) -> Result<(), String> {
        let out = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", mode, "-w", "-t", "30", "stop"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl stop: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn server(&self) -> PgServer {
        PgServer {
            host: "127.0.0.1".into(),
            port: self.port,
            user: "ursa".into(),
            password: "unused-trust-auth".into(),
        }
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let _ = self.stop("immediate");
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

// ---------------------------------------------------------------------------------------------
// ursa-cp processes.

/// An `ursa-cp` started but not yet known to listen.
struct Launch {
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    api: mpsc::Receiver<SocketAddr>,
}

/// A running `ursa-cp`: killed on drop.
struct Cp {
    child: Child,
    addr: SocketAddr,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// Starts `ursa-cp args…` with `env` on loopback and free ports; stdout and stderr are
/// captured (and the API address read from the start-up line).
#[allow(clippy::zombie_processes)] // Launch/Cp wait for the child
fn launch(env: &[(String, String)], args: &[&str]) -> Launch {
    let mut command = Command::new(BIN);
    command.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("KUMA_") {
            command.env_remove(k);
        }
    }
    command
        .env("URSA_LOG", "info")
        .env("NO_COLOR", "1")
        .env("KUMA_API_SERVER_INTERFACE", "127.0.0.1")
        .env("KUMA_API_SERVER_PORT", "0")
        .env("KUMA_BOOTSTRAP_SERVER_PORT", "0")
        .env("KUMA_XDS_SERVER_GRPC_PORT", "0")
        .env("KUMA_XDS_SERVER_DIAGNOSTICS_PORT", "0")
        .env("KUMA_ADMIN_SERVER_LOCAL_PORT", "0")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn ursa-cp");
    let output = Arc::new(Mutex::new(String::new()));
    let (tx, api) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let out = output.clone();
    let stdout_reader = std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(pos) = line.find("api=http://") {
                    let addr = line[pos + "api=http://".len()..]
                        .split_whitespace()
                        .next()
                        .and_then(|a| a.parse().ok());
                    if let Some(addr) = addr {
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
            let mut o = out.lock().unwrap();
            o.push_str(&line);
            o.push('\n');
        }
    });
    let out = output.clone();
    let stderr_reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let mut o = out.lock().unwrap();
            o.push_str(&line);
            o.push('\n');
        }
    });
    Launch {
        child,
        output,
        readers: vec![stdout_reader, stderr_reader],
        api,
    }
}

impl Launch {
    /// Waits for the start-up line (30 s at most); panics with the output if the process
    /// exits or says nothing.
    fn ready(mut self) -> Cp {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.api.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => {
                    return Cp {
                        child: self.child,
                        addr,
                        output: self.output,
                        readers: self.readers,
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        self.finish();
                        panic!(
                            "ursa-cp exited ({status}) before serving:\n{}",
                            self.output.lock().unwrap()
                        );
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    self.finish();
                    panic!(
                        "ursa-cp printed no start-up line with the API address:\n{}",
                        self.output.lock().unwrap()
                    );
                }
            }
        }
    }

    /// Waits for the process to exit by itself (killed after `within`); its status (None
    /// when it had to be killed) and everything it printed.
    fn exit(mut self, within: Duration) -> (Option<ExitStatus>, String) {
        let status = wait_exit(&mut self.child, within);
        if status.is_none() {
            let _ = self.child.kill();
        }
        self.finish();
        let output = self.output.lock().unwrap().clone();
        (status, output)
    }

    fn finish(&mut self) {
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

/// Runs `ursa-cp` on `env` and waits for it to serve.
fn start_cp(env: &[(String, String)]) -> Cp {
    launch(env, &[]).ready()
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Cp {
    /// True while the process runs.
    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `kill -9`, and reaps it.
    fn kill9(&mut self) {
        self.child.kill().expect("kill -9 ursa-cp");
        let _ = self.child.wait();
    }

    /// SIGTERM; waits for a clean exit and returns everything it printed.
    fn terminate(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = wait_exit(&mut self.child, Duration::from_secs(20));
        let output = self.finish();
        let status = status.unwrap_or_else(|| panic!("ursa-cp did not stop on SIGTERM:\n{output}"));
        assert!(status.success(), "ursa-cp exit status {status}:\n{output}");
        output
    }

    /// Kills (if still running), reaps and returns the output.
    fn finish(&mut self) -> String {
        if self.running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.output.lock().unwrap().clone()
    }

    fn get(&self, path: &str) -> Resp {
        call(self.addr, "GET", path, None)
    }

    fn put(&self, path: &str, body: &Value) -> Resp {
        call(self.addr, "PUT", path, Some(body))
    }

    fn delete(&self, path: &str) -> Resp {
        call(self.addr, "DELETE", path, None)
    }
}

impl Drop for Cp {
    fn drop(&mut self) {
        self.finish();
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP: a client that tells a dropped connection from an answer.

#[derive(Debug, Clone)]
struct Resp {
    status: u16,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What became of a request.
#[derive(Debug)]
enum Delivery {
    /// A whole response came back.
    Answered(Resp),
    /// No connection: the server cannot have seen the request.
    NotSent(String),
    /// The connection failed after the request may have been sent: the outcome is unknown.
    Lost(String),
}

fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Delivery {
    let mut stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) => return Delivery::NotSent(e.to_string()),
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let body = body.map(|b| serde_json::to_vec(b).expect("encode body"));
    let mut bytes =
        format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n").into_bytes();
    if let Some(body) = &body {
        bytes.extend_from_slice(
            format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            )
            .as_bytes(),
        );
    }
    bytes.extend_from_slice(b"\r\n");
    if let Some(body) = &body {
        bytes.extend_from_slice(body);
    }
    if let Err(e) = stream.write_all(&bytes) {
        return Delivery::Lost(format!("write: {e}"));
    }
    let mut raw = Vec::new();
    // Bytes read before an error stay in `raw`: a whole response followed by a reset counts.
    let read = stream.read_to_end(&mut raw);
    match parse_response(&raw) {
        Some(resp) => Delivery::Answered(resp),
        None => Delivery::Lost(match read {
            Err(e) => format!("read: {e}"),
            Ok(n) => format!("incomplete response ({n} bytes)"),
        }),
    }
}

/// A complete response, or None.
fn parse_response(raw: &[u8]) -> Option<Resp> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.contains("chunked"),
                _ => {}
            }
        }
    }
    let mut rest = &raw[split + 4..];
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n")?;
            let size_text = String::from_utf8_lossy(&rest[..eol]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            rest = &rest[eol + 2..];
            if size == 0 {
                break body;
            }
            if rest.len() < size + 2 {
                return None;
            }
            body.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
    } else {
        let n = length.unwrap_or(rest.len());
        if rest.len() < n {
            return None;
        }
        rest[..n].to_vec()
    };
    Some(Resp { status, body })
}

/// A request that must be answered.
fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Resp {
    match request(addr, method, path, body) {
        Delivery::Answered(r) => r,
        Delivery::NotSent(e) => panic!("{method} {path}: could not connect: {e}"),
        Delivery::Lost(e) => panic!("{method} {path}: no answer: {e}"),
    }
}

/// Retries `check` every 50 ms until it succeeds; panics with its last complaint after `within`.
fn eventually<T>(within: Duration, what: &str, check: impl FnMut() -> Result<T, String>) -> T {
    try_eventually(within, check).unwrap_or_else(|e| panic!("{what}: not within {within:?}: {e}"))
}

/// Retries `check` every 50 ms until it succeeds; its last complaint after `within`.
fn try_eventually<T>(
    within: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + within;
    loop {
        match check() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Every item of a list, page by page.
fn list_all(addr: SocketAddr, path: &str) -> Result<Vec<Value>, String> {
    let mut items = Vec::new();
    for page in 0..100 {
        let r = call(
            addr,
            "GET",
            &format!("{path}?size=1000&offset={}", page * 1000),
            None,
        );
        if r.status != 200 {
            return Err(format!("GET {path}: {} {}", r.status, r.text()));
        }
        let body = r.json();
        let page_items = body["items"].as_array().cloned().unwrap_or_default();
        let total = body["total"].as_u64().unwrap_or(0) as usize;
        let done = page_items.is_empty();
        items.extend(page_items);
        if done || items.len() >= total {
            return Ok(items);
        }
    }
    Err(format!("GET {path}: more than 100 pages"))
}

/// (mesh, name) of every item of a list.
fn keys(addr: SocketAddr, path: &str) -> Result<BTreeSet<(String, String)>, String> {
    Ok(list_all(addr, path)?
        .iter()
        .map(|i| {
            (
                i["mesh"].as_str().unwrap_or_default().to_string(),
                i["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// The names of the meshes an instance lists.
fn mesh_names(addr: SocketAddr) -> Result<BTreeSet<String>, String> {
    Ok(keys(addr, "/meshes")?
        .into_iter()
        .map(|(_, name)| name)
        .collect())
}

fn status_of(addr: SocketAddr, path: &str) -> u16 {
    call(addr, "GET", path, None).status
}

// ---------------------------------------------------------------------------------------------
// Resources.

/// Mesh-scoped kinds written by the tests (path segment), besides dataplane insights.
const KINDS: [&str; 5] = [
    "dataplanes",
    "traffic-permissions",
    "traffic-routes",
    "traffic-traces",
    "proxytemplates",
];

/// A valid resource of the kind whose path segment is `segment`, carrying `marker`.
fn body(segment: &str, mesh: &str, name: &str, marker: &str) -> Value {
    let meta = |kind: &str| json!({"type": kind, "mesh": mesh, "name": name});
    match segment {
        "dataplanes" => {
            let mut v = meta("Dataplane");
            v["networking"] = json!({"address": "10.0.0.1",
                "inbound": [{"port": 10001, "servicePort": 8080,
                             "tags": {"service": "web", "writer": marker}}],
                "outbound": [{"port": 20001, "service": "backend"}]});
            v
        }
        "traffic-permissions" => {
            let mut v = meta("TrafficPermission");
            v["sources"] = json!([{"match": {"service": "web"}}]);
            v["destinations"] = json!([{"match": {"service": "backend", "writer": marker}}]);
            v
        }
        "traffic-routes" => {
            let mut v = meta("TrafficRoute");
            v["sources"] = json!([{"match": {"service": "web"}}]);
            v["destinations"] = json!([{"match": {"service": "backend"}}]);
            v["conf"] =
                json!([{"weight": 1, "destination": {"service": "backend", "writer": marker}}]);
            v
        }
        "traffic-traces" => {
            let mut v = meta("TrafficTrace");
            v["selectors"] = json!([{"match": {"service": "web", "writer": marker}}]);
            v
        }
        "proxytemplates" => {
            let mut v = meta("ProxyTemplate");
            v["selectors"] = json!([{"match": {"service": "web", "writer": marker}}]);
            v["conf"] = json!({"imports": ["default-proxy"]});
            v
        }
        "dataplane-insights" => {
            let mut v = meta("DataplaneInsight");
            v["subscriptions"] = json!([{"id": marker}]);
            v
        }
        other => panic!("no test body for {other}"),
    }
}

/// The marker a resource of `segment` carries (see [`body`]).
fn marker_of(segment: &str, item: &Value) -> Option<String> {
    let m = match segment {
        "dataplanes" => &item["networking"]["inbound"][0]["tags"]["writer"],
        "traffic-permissions" => &item["destinations"][0]["match"]["writer"],
        "traffic-routes" => &item["conf"][0]["destination"]["writer"],
        "traffic-traces" | "proxytemplates" => &item["selectors"][0]["match"]["writer"],
        "dataplane-insights" => &item["subscriptions"][0]["id"],
        _ => return None,
    };
    m.as_str().map(str::to_string)
}

// ---------------------------------------------------------------------------------------------
// 1. Two instances on one database.

#[test]
fn two_instances_on_one_database_see_each_others_changes() {
    let server = PgServer::shared();
    let db = TestDb::create(&server);
    let env = db.env();
    // Both at once: they race to create the default mesh, and both must end up serving it.
    let (la, lb) = (launch(&env, &[]), launch(&env, &[]));
    let (a, b) = (la.ready(), lb.ready());
    let cps = [&a, &b];
    for cp in cps {
        assert_eq!(
            mesh_names(cp.addr).unwrap(),
            BTreeSet::from(["default".to_string()])
        );
    }

    // A mesh created on each instance is listed by both.
    assert_eq!(
        a.put("/meshes/m1", &json!({"type": "Mesh", "name": "m1"}))
            .status,
        201
    );
    assert_eq!(
        b.put("/meshes/m2", &json!({"type": "Mesh", "name": "m2"}))
            .status,
        201
    );
    let meshes: BTreeSet<String> = ["default", "m1", "m2"]
        .iter()
        .map(|m| m.to_string())
        .collect();
    for cp in cps {
        eventually(PROPAGATION, "meshes listed by both instances", || {
            let got = mesh_names(cp.addr)?;
            (got == meshes).then_some(()).ok_or(format!("{got:?}"))
        });
    }

    // Creates of several kinds in three meshes, alternating between the instances: m1 (made
    // on A) and m2 (made on B) both get resources through the other instance too.
    let mut expected: BTreeMap<&str, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut writer_of: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut turn = 0;
    for mesh in ["m1", "m2", "default"] {
        for segment in KINDS {
            for n in 0..2 {
                let name = format!("{segment}-{n}");
                let cp = cps[turn % 2];
                let r = cp.put(
                    &format!("/meshes/{mesh}/{segment}/{name}"),
                    &body(segment, mesh, &name, "v1"),
                );
                assert_eq!(r.status, 201, "PUT {mesh}/{segment}/{name}: {}", r.text());
                expected
                    .entry(segment)
                    .or_default()
                    .insert((mesh.to_string(), name.clone()));
                writer_of.insert((mesh.to_string(), segment.to_string(), name), turn % 2);
                turn += 1;
            }
        }
    }
    // Each dataplane's insight through the instance that did not create the dataplane (it
    // needs to have seen the dataplane: until then the PUT is a 404).
    for (mesh, name) in expected["dataplanes"].clone() {
        let creator = writer_of[&(mesh.clone(), "dataplanes".to_string(), name.clone())];
        let other = cps[1 - creator];
        let path = format!("/meshes/{mesh}/dataplane-insights/{name}");
        eventually(
            PROPAGATION,
            &format!("PUT {path} on the other instance"),
            || {
                let r = other.put(&path, &body("dataplane-insights", &mesh, &name, "s-1"));
                match r.status {
                    201 => Ok(()),
                    404 => Err(r.text()),
                    s => panic!("PUT {path}: {s} {}", r.text()),
                }
            },
        );
        expected
            .entry("dataplane-insights")
            .or_default()
            .insert((mesh, name));
    }

    // Both list everything, per mesh and across meshes, with the same content.
    let all_segments: Vec<&str> = expected.keys().copied().collect();
    let check_lists = |cp: &Cp, expected: &BTreeMap<&str, BTreeSet<(String, String)>>| {
        for segment in &all_segments {
            let want = expected.get(segment).cloned().unwrap_or_default();
            let got = keys(cp.addr, &format!("/{segment}"))?;
            if got != want {
                return Err(format!("/{segment}: {got:?} != {want:?}"));
            }
            for mesh in ["m1", "m2", "default"] {
                let want: BTreeSet<_> = want.iter().filter(|(m, _)| m == mesh).cloned().collect();
                let got = keys(cp.addr, &format!("/meshes/{mesh}/{segment}"))?;
                if got != want {
                    return Err(format!("/meshes/{mesh}/{segment}: {got:?} != {want:?}"));
                }
            }
        }
        Ok(())
    };
    for cp in cps {
        eventually(
            PROPAGATION,
            "every resource listed by both instances",
            || check_lists(cp, &expected),
        );
    }
    for (segment, items) in &expected {
        for (mesh, name) in items {
            let path = format!("/meshes/{mesh}/{segment}/{name}");
            let (ra, rb) = (a.get(&path), b.get(&path));
            assert_eq!((ra.status, rb.status), (200, 200), "GET {path}");
            assert_eq!(ra.json(), rb.json(), "GET {path}: the instances disagree");
        }
    }

    // An update on one instance is seen on the other: a resource created on A updated on B,
    // and a mesh created on B updated on A.
    let path = "/meshes/m1/traffic-permissions/traffic-permissions-0";
    assert_eq!(
        writer_of[&(
            "m1".into(),
            "traffic-permissions".into(),
            "traffic-permissions-0".into()
        )],
        0
    );
    let r = b.put(
        path,
        &body("traffic-permissions", "m1", "traffic-permissions-0", "v2"),
    );
    assert_eq!(r.status, 200, "update through B: {}", r.text());
    eventually(PROPAGATION, "A sees B's update", || {
        let (ra, rb) = (a.get(path).json(), b.get(path).json());
        if marker_of("traffic-permissions", &ra).as_deref() == Some("v2") && ra == rb {
            Ok(())
        } else {
            Err(format!("A: {ra}, B: {rb}"))
        }
    });
    let metrics = json!({"enabledBackend": "prom",
        "backends": [{"name": "prom", "type": "prometheus"}]});
    let r = a.put(
        "/meshes/m2",
        &json!({"type": "Mesh", "name": "m2", "metrics": metrics}),
    );
    assert_eq!(r.status, 200, "mesh update through A: {}", r.text());
    eventually(PROPAGATION, "B sees A's mesh update", || {
        let (ra, rb) = (a.get("/meshes/m2").json(), b.get("/meshes/m2").json());
        if rb["metrics"]["enabledBackend"] == "prom" && ra == rb {
            Ok(())
        } else {
            Err(format!("A: {ra}, B: {rb}"))
        }
    });

    // A dataplane deleted on A is gone on B, with its insight.
    let dp = "/meshes/m2/dataplanes/dataplanes-1";
    assert_eq!(a.delete(dp).status, 200);
    expected
        .get_mut("dataplanes")
        .unwrap()
        .remove(&("m2".into(), "dataplanes-1".into()));
    expected
        .get_mut("dataplane-insights")
        .unwrap()
        .remove(&("m2".into(), "dataplanes-1".into()));
    eventually(PROPAGATION, "B no longer has the deleted dataplane", || {
        let s = (
            status_of(b.addr, dp),
            status_of(b.addr, "/meshes/m2/dataplane-insights/dataplanes-1"),
        );
        (s == (404, 404)).then_some(()).ok_or(format!("{s:?}"))
    });

    // A mesh deleted on B is gone on A, and everything in it.
    let r = b.delete("/meshes/m1");
    assert_eq!(r.status, 200, "DELETE /meshes/m1 on B: {}", r.text());
    for set in expected.values_mut() {
        set.retain(|(m, _)| m != "m1");
    }
    let gone = || -> Vec<String> {
        let mut paths = vec!["/meshes/m1".to_string()];
        for segment in KINDS.iter().chain(["dataplane-insights"].iter()) {
            for n in 0..2 {
                let name = if *segment == "dataplane-insights" {
                    format!("dataplanes-{n}")
                } else {
                    format!("{segment}-{n}")
                };
                paths.push(format!("/meshes/m1/{segment}/{name}"));
            }
        }
        paths
    };
    for cp in [&b, &a] {
        eventually(
            PROPAGATION,
            "the deleted mesh and its resources are gone",
            || {
                for path in gone() {
                    let s = status_of(cp.addr, &path);
                    if s != 404 {
                        return Err(format!("GET {path}: {s}"));
                    }
                }
                let meshes = mesh_names(cp.addr)?;
                if meshes.contains("m1") {
                    return Err(format!("/meshes: {meshes:?}"));
                }
                check_lists(cp, &expected)
            },
        );
    }
    assert_eq!(
        db.query_i64("SELECT count(*) FROM resources WHERE mesh = 'm1'")
            .unwrap(),
        0,
        "rows of the deleted mesh are left in the database"
    );

    // Changes made while the change feeds are cut (no notification reaches A) arrive by the
    // resync that follows the reconnection.
    let cut = db
        .query_i64(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'ursa-cp-listen'",
        )
        .unwrap();
    assert_eq!(cut, 2, "one change feed per instance");
    let missed = "/meshes/m2/traffic-traces/while-cut";
    let r = b.put(missed, &body("traffic-traces", "m2", "while-cut", "c1"));
    assert_eq!(r.status, 201, "{}", r.text());
    let route = "/meshes/m2/traffic-routes/traffic-routes-0";
    assert_eq!(b.delete(route).status, 200);
    let r = b.put("/meshes/m3", &json!({"type": "Mesh", "name": "m3"}));
    assert_eq!(r.status, 201, "{}", r.text());
    expected
        .entry("traffic-traces")
        .or_default()
        .insert(("m2".into(), "while-cut".into()));
    expected
        .get_mut("traffic-routes")
        .unwrap()
        .remove(&("m2".into(), "traffic-routes-0".into()));
    eventually(
        Duration::from_secs(5),
        "A resyncs after its change feed was cut",
        || {
            let s = (
                status_of(a.addr, missed),
                status_of(a.addr, route),
                status_of(a.addr, "/meshes/m3"),
            );
            if s != (200, 404, 200) {
                return Err(format!("{s:?}"));
            }
            check_lists(&a, &expected)
        },
    );

    // Both instances logged no error; both stop cleanly.
    for cp in [a, b] {
        let output = cp.terminate();
        assert!(!output.contains(" ERROR "), "errors logged:\n{output}");
    }
}

/// A mesh, and a resource, deleted and at once created again through B: A ends up with the new
/// ones (not the old ones, not none), and B keeps them too. A re-created resource starts
/// again at version 1, below the version the old one had reached.
#[test]
fn delete_and_recreate_through_another_instance_converges() {
    delete_and_recreate(false);
}

/// The same while the change feeds are cut: A learns of it by its resync only.
#[test]
fn delete_and_recreate_while_the_change_feed_is_cut_converges() {
    delete_and_recreate(true);
}

fn delete_and_recreate(cut_feeds: bool) {
    let server = PgServer::shared();
    let db = TestDb::create(&server);
    let env = db.env();
    let (la, lb) = (launch(&env, &[]), launch(&env, &[]));
    let (a, b) = (la.ready(), lb.ready());
    let mesh = |backend: &str| {
        json!({"type": "Mesh", "name": "m4", "metrics": {"enabledBackend": backend,
            "backends": [{"name": backend, "type": "prometheus"}]}})
    };
    let dp = "/meshes/default/dataplanes/dp";
    // A's state: m4 and dp at version 3, with a resource in m4; B has seen it.
    let old = |round: usize| {
        let r = a.put("/meshes/m4", &mesh("old"));
        assert_eq!(r.status, 201, "round {round}: {}", r.text());
        for n in 0..2 {
            let r = a.put("/meshes/m4", &mesh(&format!("old{n}")));
            assert_eq!(r.status, 200, "round {round}: {}", r.text());
        }
        let r = a.put(
            "/meshes/m4/traffic-traces/old",
            &body("traffic-traces", "m4", "old", "o"),
        );
        assert_eq!(r.status, 201, "round {round}: {}", r.text());
        for n in 0..3 {
            let r = a.put(
                dp,
                &body("dataplanes", "default", "dp", &format!("old{round}-{n}")),
            );
            assert!(
                [200, 201].contains(&r.status),
                "round {round}: {}",
                r.text()
            );
        }
        eventually(PROPAGATION, "B sees A's state", || {
            let paths = ["/meshes/m4", dp, "/meshes/m4/traffic-traces/old"];
            for path in paths {
                let (ra, rb) = (a.get(path).text(), b.get(path).text());
                if ra != rb {
                    return Err(format!(
                        "round {round}: GET {path} differs:\nA: {ra}\nB: {rb}"
                    ));
                }
            }
            Ok(())
        });
    };
    // Through B: delete both and create them again, at once.
    let recreate = |round: usize| {
        assert_eq!(b.delete("/meshes/m4").status, 200, "round {round}");
        let r = b.put("/meshes/m4", &mesh("new"));
        assert_eq!(r.status, 201, "round {round}: {}", r.text());
        assert_eq!(b.delete(dp).status, 200, "round {round}");
        let r = b.put(
            dp,
            &body("dataplanes", "default", "dp", &format!("new{round}")),
        );
        assert_eq!(r.status, 201, "round {round}: {}", r.text());
        let r = b.put(
            "/meshes/m4/traffic-traces/new",
            &body("traffic-traces", "m4", "new", "n"),
        );
        assert_eq!(
            r.status,
            201,
            "round {round}: B cannot write into the mesh it has just re-created: {}",
            r.text()
        );
    };
    let converged = |round: usize| {
        let checked = try_eventually(PROPAGATION, || {
            for path in ["/meshes/m4", dp, "/meshes/m4/traffic-traces/new"] {
                for (cp, who) in [(&a, "A"), (&b, "B")] {
                    let r = cp.get(path);
                    if r.status != 200 {
                        return Err(format!("GET {path} on {who}: {} {}", r.status, r.text()));
                    }
                }
                let (ra, rb) = (a.get(path).text(), b.get(path).text());
                if ra != rb {
                    return Err(format!("GET {path}:\nA: {ra}\nB: {rb}"));
                }
            }
            for (cp, who) in [(&a, "A"), (&b, "B")] {
                let got = keys(cp.addr, "/meshes/m4/traffic-traces")?;
                let want = BTreeSet::from([("m4".to_string(), "new".to_string())]);
                if got != want {
                    return Err(format!("traffic traces of m4 on {who}: {got:?}"));
                }
            }
            Ok(())
        });
        if let Err(e) = checked {
            let stored = db.server.query_text(
                &db.name,
                "SELECT string_agg(kind || '/' || mesh || '/' || name || ' v' || version, ', ' \
                 ORDER BY kind, mesh, name) FROM resources",
            );
            let r = a.put(dp, &body("dataplanes", "default", "dp", "late"));
            panic!(
                "round {round}: the instances disagree {PROPAGATION:?} after B deleted and \
                 re-created m4 and dp: {e}\nthe database holds: {stored:?}\n\
                 a PUT of dp through A now answers {} {}",
                r.status,
                r.text()
            );
        }
        assert_eq!(a.delete("/meshes/m4").status, 200, "round {round}");
        eventually(PROPAGATION, "B sees m4 deleted", || {
            let s = status_of(b.addr, "/meshes/m4");
            (s == 404).then_some(()).ok_or(format!("{s}"))
        });
    };

    for round in 0..if cut_feeds { 1 } else { 4 } {
        old(round);
        if cut_feeds {
            let cut = db
                .query_i64(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = current_database() AND application_name = 'ursa-cp-listen'",
                )
                .unwrap();
            assert_eq!(cut, 2, "one change feed per instance");
        }
        recreate(round);
        converged(round);
    }
}

/// A transaction held open on its own connection (in its own thread) until released or dropped:
/// it keeps the row locks `sql` took.
struct HeldTransaction {
    release: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl HeldTransaction {
    fn begin(server: &PgServer, db: &str, sql: &str) -> HeldTransaction {
        let (server, db, sql) = (server.clone(), db.to_string(), sql.to_string());
        let (locked_tx, locked_rx) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            server.with_client(&db, |c| async move {
                c.batch_execute("BEGIN").await?;
                c.batch_execute(&sql).await?;
                let _ = locked_tx.send(());
                let _ = tokio::task::spawn_blocking(move || {
                    release_rx.recv_timeout(Duration::from_secs(25))
                })
                .await;
                c.batch_execute("ROLLBACK").await
            })
        });
        if locked_rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let error = thread
                .join()
                .map_or_else(|_| "panicked".into(), |r| format!("{r:?}"));
            panic!("could not take the row lock: {error}");
        }
        HeldTransaction {
            release: Some(release),
            thread: Some(thread),
        }
    }

    /// Rolls it back.
    fn release(mut self) {
        self.end();
    }

    fn end(&mut self) {
        drop(self.release.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HeldTransaction {
    fn drop(&mut self) {
        self.end();
    }
}

/// Concurrent writes of the same names through both instances: each is acknowledged or refused
/// as a conflict (412: the other instance's write came first), never a server error, and the
/// instances converge on the same content, one that was acknowledged.
#[test]
fn contested_writes_through_both_instances_converge() {
    let server = PgServer::shared();
    let db = TestDb::create(&server);
    let env = db.env();
    let (la, lb) = (launch(&env, &[]), launch(&env, &[]));
    let (a, b) = (la.ready(), lb.ready());
    let cps = [&a, &b];
    // Enough rounds that a notification regularly arrives while the other instance's own write
    // of the name is pending.
    const ROUNDS: usize = 30;
    let contested: Vec<String> = (0..4).map(|n| format!("contested-{n}")).collect();
    let results: Vec<(String, u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = cps
            .iter()
            .enumerate()
            .map(|(i, cp)| {
                let contested = &contested;
                s.spawn(move || {
                    let mut out = Vec::new();
                    for round in 0..ROUNDS {
                        for name in contested {
                            let marker = format!("i{i}-r{round}");
                            let r = cp.put(
                                &format!("/meshes/default/traffic-traces/{name}"),
                                &body("traffic-traces", "default", name, &marker),
                            );
                            out.push((name.clone(), r.status, marker));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a writer panicked"))
            .collect()
    });
    for (name, status, marker) in &results {
        assert!(
            [200, 201, 412].contains(status),
            "PUT traffic-traces/{name} ({marker}): {status}"
        );
    }
    for name in &contested {
        let acked: BTreeSet<&str> = results
            .iter()
            .filter(|(n, s, _)| n == name && (*s == 200 || *s == 201))
            .map(|(_, _, m)| m.as_str())
            .collect();
        assert!(
            !acked.is_empty(),
            "no write of {name} succeeded: {results:?}"
        );
        let path = format!("/meshes/default/traffic-traces/{name}");
        let agreed = try_eventually(PROPAGATION, || {
            let (ra, rb) = (a.get(&path).json(), b.get(&path).json());
            let marker = marker_of("traffic-traces", &ra).unwrap_or_default();
            if ra != rb {
                Err(format!("A: {ra}, B: {rb}"))
            } else if !acked.contains(marker.as_str()) {
                Err(format!("{marker} was never acknowledged ({acked:?})"))
            } else {
                Ok(())
            }
        });
        if let Err(e) = agreed {
            // What the database holds, and whether each instance can still write the name.
            let stored = db.server.query_text(
                &db.name,
                &format!(
                    "SELECT version || ' ' || spec::text FROM resources \
                     WHERE kind = 'TrafficTrace' AND mesh = 'default' AND name = '{name}'"
                ),
            );
            let mut later = Vec::new();
            for (i, cp) in cps.iter().enumerate() {
                for n in 0..3 {
                    let r = cp.put(
                        &path,
                        &body("traffic-traces", "default", name, &format!("late{i}-{n}")),
                    );
                    later.push(format!("instance {i}: {} {}", r.status, r.text()));
                }
            }
            panic!(
                "the instances do not agree on {path} {PROPAGATION:?} after contested writes: \
                 {e}\nthe database holds: {stored:?}\nPUTs through each instance afterwards: \
                 {later:#?}\nwrites: {results:?}"
            );
        }
    }
}

/// The race of the contested writes above, made deterministic: instance B has a write of
/// `x` queued (behind a write of `y` that a row lock holds up) when A's change of `x` is
/// announced. B's write then fails as a conflict; B must still end up with A's `x`, and be
/// able to write `x` again.
#[test]
fn a_change_announced_while_a_write_of_the_same_name_is_queued_is_not_lost() {
    let server = PgServer::shared();
    let db = TestDb::create(&server);
    let env = db.env();
    let (la, lb) = (launch(&env, &[]), launch(&env, &[]));
    let (a, b) = (la.ready(), lb.ready());
    let x = "/meshes/default/traffic-traces/x";
    let y = "/meshes/default/traffic-traces/y";
    for (path, name) in [(x, "x"), (y, "y")] {
        assert_eq!(
            a.put(path, &body("traffic-traces", "default", name, "a1"))
                .status,
            201
        );
        eventually(PROPAGATION, "B sees A's create", || {
            let s = status_of(b.addr, path);
            (s == 200)
                .then_some(())
                .ok_or(format!("GET {path} on B: {s}"))
        });
    }

    // B's write of y waits for a row lock; its write of x queues behind it.
    let lock = HeldTransaction::begin(
        &server,
        &db.name,
        "SELECT 1 FROM resources WHERE kind = 'TrafficTrace' AND name = 'y' FOR UPDATE",
    );
    let (b_addr, db_name) = (b.addr, db.name.clone());
    let put_y = std::thread::spawn(move || {
        call(
            b_addr,
            "PUT",
            y,
            Some(&body("traffic-traces", "default", "y", "b1")),
        )
    });
    eventually(
        Duration::from_secs(10),
        "B's write of y waits for the lock",
        || {
            let waiting = server.query_i64(
                &db_name,
                &format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db_name}' \
                 AND application_name = 'ursa-cp' AND wait_event_type = 'Lock'"
                ),
            )?;
            (waiting > 0).then_some(()).ok_or("not waiting".to_string())
        },
    );
    let put_x = std::thread::spawn(move || {
        call(
            b_addr,
            "PUT",
            x,
            Some(&body("traffic-traces", "default", "x", "b1")),
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    // A changes x meanwhile; B is told while its own write of x is queued.
    let r = a.put(x, &body("traffic-traces", "default", "x", "a2"));
    assert_eq!(r.status, 200, "A's update of x: {}", r.text());
    std::thread::sleep(Duration::from_millis(700));
    lock.release();
    let (ry, rx) = (put_y.join().unwrap(), put_x.join().unwrap());
    assert_eq!(ry.status, 200, "B's write of y: {}", ry.text());
    assert!(
        [200, 412].contains(&rx.status),
        "B's write of x: {} {}",
        rx.status,
        rx.text()
    );
    let settled = try_eventually(PROPAGATION, || {
        let (ga, gb) = (a.get(x).json(), b.get(x).json());
        if ga == gb {
            Ok(ga)
        } else {
            Err(format!("A: {ga}\nB: {gb}"))
        }
    });
    let later = b.put(x, &body("traffic-traces", "default", "x", "b2"));
    let stored = db.server.query_text(
        &db.name,
        "SELECT version || ' ' || spec::text FROM resources WHERE kind = 'TrafficTrace' AND name = 'x'",
    );
    let settled = settled.unwrap_or_else(|e| {
        panic!(
            "B's write of x answered {}; {PROPAGATION:?} later the instances still disagree on \
             x:\n{e}\nthe database holds {stored:?}\na new PUT of x through B answers {} {}",
            rx.status,
            later.status,
            later.text()
        )
    });
    let marker = marker_of("traffic-traces", &settled).unwrap_or_default();
    let want = if rx.status == 200 {
        ["a2", "b1"]
    } else {
        ["a2", "a2"]
    };
    assert!(
        want.contains(&marker.as_str()),
        "x settled on {marker}: {settled}"
    );
    assert_eq!(
        later.status,
        200,
        "a new PUT of x through B: {}",
        later.text()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. kill -9 under load loses no acknowledged write.

/// One PUT of the crash test.
#[derive(Debug, Clone)]
struct PutRecord {
    segment: &'static str,
    name: String,
    marker: String,
    sent: Instant,
    /// When the request ended (response read, connection refused or lost).
    ended: Instant,
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Status(u16, String),
    /// Refused at connect: never reached the server.
    NotSent,
    /// Sent, no answer: it may or may not have been committed.
    Unknown(String),
}

impl PutRecord {
    fn acked(&self) -> bool {
        matches!(self.outcome, Outcome::Status(200 | 201, _))
    }
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_write() {
    const THREADS: usize = 16;
    const SHARED_NAMES: usize = 6;
    const LOAD: Duration = Duration::from_secs(2);
    const KILL_AFTER: Duration = Duration::from_millis(1200);

    let server = PgServer::shared();
    let db = TestDb::create(&server);
    let env = db.env();
    let mut cp = start_cp(&env);
    let addr = cp.addr;

    let killed = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<JoinHandle<Vec<PutRecord>>> = (0..THREADS)
        .map(|t| {
            let killed = killed.clone();
            std::thread::spawn(move || {
                let segment = if t % 2 == 0 {
                    "dataplanes"
                } else {
                    "traffic-permissions"
                };
                let mut writes = Vec::new();
                for j in 0..100_000 {
                    if start.elapsed() >= LOAD {
                        break;
                    }
                    // One write in three goes to a name other threads write too.
                    let name = if j % 3 == 0 {
                        format!("shared-{}", (t / 2 + j) % SHARED_NAMES)
                    } else {
                        format!("t{t}-{j}")
                    };
                    let marker = format!("w{t}-{j}");
                    let sent = Instant::now();
                    let outcome = match request(
                        addr,
                        "PUT",
                        &format!("/meshes/default/{segment}/{name}"),
                        Some(&body(segment, "default", &name, &marker)),
                    ) {
                        Delivery::Answered(r) => Outcome::Status(r.status, r.text()),
                        Delivery::NotSent(_) => Outcome::NotSent,
                        Delivery::Lost(e) => Outcome::Unknown(e),
                    };
                    let ended = Instant::now();
                    let failed = !matches!(outcome, Outcome::Status(..));
                    writes.push(PutRecord {
                        segment,
                        name,
                        marker,
                        sent,
                        ended,
                        outcome,
                    });
                    if failed && killed.load(Ordering::SeqCst) {
                        break;
                    }
                }
                writes
            })
        })
        .collect();
    std::thread::sleep(KILL_AFTER.saturating_sub(start.elapsed()));
    killed.store(true, Ordering::SeqCst);
    let killed_at = Instant::now();
    cp.kill9();
    let writes: Vec<PutRecord> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("a load thread panicked"))
        .collect();
    let output = cp.finish();

    // Before the kill every request was answered, and with success.
    let refused: Vec<&PutRecord> = writes
        .iter()
        .filter(|w| matches!(&w.outcome, Outcome::Status(s, _) if *s != 200 && *s != 201))
        .collect();
    assert!(
        refused.is_empty(),
        "{} PUTs were answered with an error, e.g. {:?}\n{output}",
        refused.len(),
        &refused[..refused.len().min(3)]
    );
    let refused_before_kill: Vec<&PutRecord> = writes
        .iter()
        .filter(|w| w.outcome == Outcome::NotSent && w.ended < killed_at)
        .collect();
    assert!(
        refused_before_kill.is_empty(),
        "connections refused before the kill: {:?}",
        &refused_before_kill[..refused_before_kill.len().min(3)]
    );
    let acked = writes.iter().filter(|w| w.acked()).count();
    let in_flight = writes
        .iter()
        .filter(|w| matches!(w.outcome, Outcome::Unknown(_)))
        .count();
    assert!(
        acked >= 50,
        "only {acked} acknowledged writes: the load did not run"
    );
    assert!(
        writes
            .iter()
            .any(|w| w.sent >= killed_at || !matches!(w.outcome, Outcome::Status(..))),
        "the kill did not happen during the load"
    );

    // Restarted on the same database, it has every acknowledged write.
    let cp = start_cp(&env);
    let mut stored: BTreeMap<(&str, String), String> = BTreeMap::new();
    for segment in ["dataplanes", "traffic-permissions"] {
        for item in list_all(cp.addr, &format!("/meshes/default/{segment}")).unwrap() {
            let name = item["name"].as_str().unwrap().to_string();
            let marker = marker_of(segment, &item)
                .unwrap_or_else(|| panic!("{segment}/{name} has no marker: {item}"));
            stored.insert((segment, name), marker);
        }
    }
    let mut by_key: BTreeMap<(&str, String), Vec<&PutRecord>> = BTreeMap::new();
    for w in &writes {
        by_key
            .entry((w.segment, w.name.clone()))
            .or_default()
            .push(w);
    }
    let mut checked_exact = 0;
    for (key, ws) in &by_key {
        let acks: Vec<&&PutRecord> = ws.iter().filter(|w| w.acked()).collect();
        // The content stored last is one of these writes: acknowledged or unanswered, and
        // not superseded — an acknowledged write is superseded by any acknowledged write of
        // the same name sent after its answer came back (that one was queued after it was
        // committed). An unanswered write can have been committed at any point.
        let candidates: BTreeSet<&str> = ws
            .iter()
            .filter(|w| w.acked() || matches!(w.outcome, Outcome::Unknown(_)))
            .filter(|w| !w.acked() || !acks.iter().any(|a| a.sent > w.ended))
            .map(|w| w.marker.as_str())
            .collect();
        match stored.get(key) {
            Some(marker) => assert!(
                candidates.contains(marker.as_str()),
                "{key:?} holds {marker}, which no surviving write had; candidates {candidates:?}, \
                 writes {ws:#?}"
            ),
            None => assert!(
                acks.is_empty(),
                "{key:?} was acknowledged ({} times) but is gone after the restart: {acks:#?}",
                acks.len()
            ),
        }
        if candidates.len() == 1 && !acks.is_empty() {
            checked_exact += 1;
        }
    }
    for key in stored.keys() {
        assert!(
            by_key.contains_key(key),
            "{key:?} is stored but was never written"
        );
    }
    assert!(checked_exact > 0, "no name had a single possible content");
    eprintln!(
        "crash test: {} writes, {acked} acknowledged, {in_flight} in flight at the kill, \
         {} names, {checked_exact} with exactly one possible content",
        writes.len(),
        by_key.len()
    );
    drop(cp);
}

// ---------------------------------------------------------------------------------------------
// 3. A PostgreSQL restart under a running control plane.

#[test]
fn postgres_restart_is_survived_without_restarting_the_control_plane() {
    let pg = PrivatePg::start();
    let server = pg.server();
    let env = store_env(
        &server.host,
        server.port,
        &server.user,
        &server.password,
        "postgres",
    );
    let mut a = start_cp(&env);
    let pid = a.child.id();
    let before = "/meshes/default/traffic-traces/before";
    assert_eq!(
        a.put(before, &body("traffic-traces", "default", "before", "v1"))
            .status,
        201
    );

    pg.stop("fast").expect("stop PostgreSQL");

    // While it is down: writes answer 503 with Kuma's error JSON, reads still answer.
    let down_writes = [
        (
            "PUT",
            "/meshes/default/traffic-traces/during",
            Some(body("traffic-traces", "default", "during", "v1")),
        ),
        (
            "PUT",
            before,
            Some(body("traffic-traces", "default", "before", "v2")),
        ),
        (
            "PUT",
            "/meshes/down",
            Some(json!({"type": "Mesh", "name": "down"})),
        ),
        ("DELETE", before, None),
    ];
    for round in 0..2 {
        for (method, path, body) in &down_writes {
            let started = Instant::now();
            let r = match request(a.addr, method, path, body.as_ref()) {
                Delivery::Answered(r) => r,
                other => {
                    panic!("{method} {path} while PostgreSQL is down (round {round}): {other:?}")
                }
            };
            assert_eq!(
                r.status,
                503,
                "{method} {path} while PostgreSQL is down: {}",
                r.text()
            );
            let j = r.json();
            assert!(
                j["title"].as_str().is_some_and(|t| !t.is_empty())
                    && j["details"].as_str().is_some_and(|d| !d.is_empty()),
                "{method} {path}: not Kuma's error JSON: {j}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{method} {path} took {:?} to fail",
                started.elapsed()
            );
        }
    }
    let r = a.get(before);
    assert_eq!(r.status, 200, "GET while PostgreSQL is down: {}", r.text());
    assert_eq!(
        marker_of("traffic-traces", &r.json()).as_deref(),
        Some("v1")
    );
    assert!(a.running(), "ursa-cp exited while PostgreSQL was down");

    pg.start_again();

    // Without a restart of ursa-cp, writes succeed again within a few seconds.
    let after = "/meshes/default/traffic-traces/after";
    eventually(
        Duration::from_secs(15),
        "a PUT succeeds after PostgreSQL is back",
        || {
            let r = call(
                a.addr,
                "PUT",
                after,
                Some(&body("traffic-traces", "default", "after", "v1")),
            );
            match r.status {
                201 => Ok(()),
                503 => Err(r.text()),
                s => panic!("PUT {after} after the restart: {s} {}", r.text()),
            }
        },
    );
    let r = a.get(after);
    assert_eq!(r.status, 200);
    assert_eq!(
        marker_of("traffic-traces", &r.json()).as_deref(),
        Some("v1")
    );
    let r = a.put(before, &body("traffic-traces", "default", "before", "v3"));
    assert_eq!(r.status, 200, "update after the restart: {}", r.text());

    // A second instance started now sees what A wrote, and none of the refused writes; what
    // it writes reaches A, whose change feed reconnects by itself.
    let b = start_cp(&env);
    assert_eq!(
        marker_of("traffic-traces", &b.get(before).json()).as_deref(),
        Some("v3")
    );
    assert_eq!(b.get(after).status, 200);
    for cp in [&a, &b] {
        assert_eq!(
            status_of(cp.addr, "/meshes/default/traffic-traces/during"),
            404
        );
        assert_eq!(status_of(cp.addr, "/meshes/down"), 404);
    }
    let from_b = "/meshes/default/traffic-traces/from-b";
    assert_eq!(
        b.put(from_b, &body("traffic-traces", "default", "from-b", "b1"))
            .status,
        201
    );
    eventually(
        Duration::from_secs(10),
        "A sees B's write after the restart",
        || {
            let s = status_of(a.addr, from_b);
            (s == 200)
                .then_some(())
                .ok_or(format!("GET {from_b} on A: {s}"))
        },
    );
    let r = b.put(
        "/meshes/made-by-b",
        &json!({"type": "Mesh", "name": "made-by-b"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(b.delete(before).status, 200);
    eventually(PROPAGATION, "A sees B's mesh and delete", || {
        let s = (
            status_of(a.addr, "/meshes/made-by-b"),
            status_of(a.addr, before),
        );
        (s == (200, 404)).then_some(()).ok_or(format!("{s:?}"))
    });
    assert!(a.running(), "ursa-cp exited");
    assert_eq!(a.child.id(), pid, "the same process serves");
    drop(b);
    a.terminate();
}

// ---------------------------------------------------------------------------------------------
// 4. ursa-cp migrate, and a schema newer than the binary.

#[test]
fn migrate_applies_the_schema_and_a_newer_schema_is_refused() {
    let server = PgServer::shared();
    let db = TestDb::create(&server);
    let env = db.env();
    let within = Duration::from_secs(30);

    let (status, output) = launch(&env, &["migrate"]).exit(within);
    assert!(
        status.is_some_and(|s| s.success()),
        "migrate: {status:?}\n{output}"
    );
    assert!(
        output.contains(&format!(
            "database schema at version {SCHEMA_VERSION} (was 0)"
        )),
        "migrate on a fresh database: {output}"
    );
    assert_eq!(
        db.query_i64("SELECT max(version) FROM schema_migrations")
            .unwrap(),
        SCHEMA_VERSION
    );
    // Again: nothing to do.
    let (status, output) = launch(&env, &["migrate"]).exit(within);
    assert!(
        status.is_some_and(|s| s.success()),
        "second migrate: {status:?}\n{output}"
    );
    assert!(
        output.contains(&format!("version {SCHEMA_VERSION} (was {SCHEMA_VERSION})")),
        "{output}"
    );

    // The control plane runs on the migrated database.
    let cp = start_cp(&env);
    let path = "/meshes/default/traffic-traces/t";
    assert_eq!(
        cp.put(path, &body("traffic-traces", "default", "t", "v1"))
            .status,
        201
    );
    assert_eq!(cp.get(path).status, 200);
    cp.terminate();

    // A schema from a newer ursa-cp: start-up and migrate refuse, naming the versions.
    let newer = SCHEMA_VERSION + 1;
    db.execute(&format!(
        "INSERT INTO schema_migrations (version, description) VALUES ({newer}, 'from a newer ursa-cp')"
    ))
    .unwrap();
    for args in [&[][..], &["migrate"][..]] {
        let (status, output) = launch(&env, args).exit(within);
        let status = status.unwrap_or_else(|| panic!("ursa-cp {args:?} kept running:\n{output}"));
        assert!(
            !status.success(),
            "ursa-cp {args:?} accepted schema {newer}:\n{output}"
        );
        assert!(
            output.contains("schema version")
                && output.contains(&newer.to_string())
                && !output.contains("api=http://"),
            "ursa-cp {args:?} must say the schema version is too new:\n{output}"
        );
    }
    // Nothing was changed by the refused runs.
    assert_eq!(
        db.query_i64("SELECT max(version) FROM schema_migrations")
            .unwrap(),
        newer
    );
    assert_eq!(db.query_i64("SELECT count(*) FROM resources").unwrap(), 2);
}

// ---------------------------------------------------------------------------------------------
// 5. The password never shows.

#[test]
fn the_password_shows_neither_in_config_nor_in_logs() {
    let server = PgServer::shared();
    let secret = unique("S3cr3t p@ss:w/rd%");
    let db = TestDb::create_owned(&server, &secret);
    let mut env = db.env();
    // Everything the process has to say, including the driver's and the pool's debug lines.
    env.push(("URSA_LOG".into(), "debug".into()));
    let cp = start_cp(&env);

    let r = cp.get("/config");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["store"]["postgres"]["password"], "*****");
    assert_eq!(r.json()["store"]["postgres"]["user"], db.user.as_str());
    assert!(
        !r.text().contains(&secret),
        "GET /config shows the password"
    );

    // Work, and a lost connection (reconnects are logged) before stopping.
    let path = "/meshes/default/dataplanes/dp";
    assert_eq!(
        cp.put(path, &body("dataplanes", "default", "dp", "v1"))
            .status,
        201
    );
    server
        .query_i64(
            "postgres",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{}' AND application_name LIKE 'ursa-cp%'",
                db.name
            ),
        )
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "a PUT after the connections were cut",
        || {
            let r = cp.put(path, &body("dataplanes", "default", "dp", "v2"));
            (r.status == 200).then_some(()).ok_or(r.text())
        },
    );
    let output = cp.terminate();
    assert!(
        output.contains("api=http://"),
        "no logs captured:\n{output}"
    );
    assert!(
        !output.contains(&secret),
        "the password is in the logs:\n{output}"
    );

    // A wrong password: start-up and migrate fail, without echoing it.
    let wrong = unique("Wr0ng-pa55word");
    let mut env = store_env(&server.host, server.port, &db.user, &wrong, &db.name);
    env.push(("URSA_LOG".into(), "debug".into()));
    for args in [&[][..], &["migrate"][..]] {
        let (status, output) = launch(&env, args).exit(Duration::from_secs(30));
        let status = status.unwrap_or_else(|| panic!("ursa-cp {args:?} kept running:\n{output}"));
        assert!(
            !status.success(),
            "ursa-cp {args:?} started with a wrong password"
        );
        assert!(
            !output.contains(&wrong),
            "the wrong password is echoed:\n{output}"
        );
        assert!(!output.contains(&secret));
    }
}
