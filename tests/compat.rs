//! The compatibility matrix: real gateways and auth services that nobody here wrote, installed
//! from the package registries by `compat/install.sh`, started on loopback by each test and
//! stopped by PID. Every test drives the binary against one stack, then asks the stack's own
//! database how many test users and records are left.
//!
//! Without the stacks installed, each test says the matrix was skipped; with
//! `SMOKEGATE_REQUIRE_COMPAT` set (as `.ci/run` sets it) a missing stack is a failure.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::{Project, text};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn compat_dir() -> PathBuf {
    std::env::var_os("SMOKEGATE_COMPAT_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(ROOT).join("target/compat"))
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    // nginx and haproxy live in sbin, which a plain user's PATH may lack.
    path.split(':').map(PathBuf::from).chain(["/usr/sbin".into(), "/usr/local/sbin".into()]).map(|d| d.join(name)).find(|p| p.is_file())
}

#[derive(Clone)]
struct Tools {
    node: PathBuf,
    jsa: PathBuf,
    venv: PathBuf,
    nginx: PathBuf,
    haproxy: PathBuf,
    /// Directus's start script's install (`compat/nginx-directus/install-directus.sh`).
    directus: PathBuf,
    /// moto's venv (`compat/apache-cognito/install-cognito.sh`) and Debian's Apache httpd.
    cognito: PathBuf,
    apache: PathBuf,
}

/// The installed stacks, or `None` after saying that the matrix was skipped.
fn tools() -> Option<Tools> {
    let dir = compat_dir();
    let found = (|| {
        let t = Tools {
            node: which("node")?,
            jsa: dir.join("node/node_modules/json-server-auth/dist/bin.js"),
            venv: dir.join("venv"),
            nginx: which("nginx")?,
            haproxy: which("haproxy")?,
            directus: dir.join("directus"),
            cognito: dir.join("venv-cognito"),
            apache: which("apache2")?,
        };
        let directus = t.directus.join("node_modules/@directus/api/dist/cli/run.js").is_file();
        let cognito = t.cognito.join("bin/moto_server").is_file();
        (t.jsa.is_file() && t.venv.join("bin/gunicorn").is_file() && directus && cognito).then_some(t)
    })();
    if found.is_none() {
        assert!(
            std::env::var_os("SMOKEGATE_REQUIRE_COMPAT").is_none(),
            "the compatibility stacks are required here: run compat/install.sh"
        );
        // Once, and past the test harness's capture, so a plain `cargo test` says it.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            let _ = writeln!(std::io::stderr(), "compat matrix skipped: the real stacks are not installed (run compat/install.sh)");
        });
    }
    found
}

/// A loopback port no other stack of this test process was given. (A port is free when it is
/// handed out; a server of another test could still take it first, which `Stack::start` notices
/// by its own server exiting, and then starts again on other ports.)
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A server this test started: stopped by its PID when dropped, its output kept in `log`.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
    /// The signal that stops it quickly (gunicorn: QUIT; the others: TERM).
    stop: &'static str,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command, dir: &Path, stop: &'static str) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        cmd.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name, child, log, stop }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-s", self.stop, &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `port` answers an HTTP request at `path` (any status). False when one of
/// `procs` lost its port to another server (which may be what answered).
fn wait_http(port: u16, path: &str, procs: &mut [Proc]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answered = std::net::TcpStream::connect(("127.0.0.1", port)).ok().and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
            let mut buf = [0u8; 12];
            s.read_exact(&mut buf).ok()?;
            buf.starts_with(b"HTTP/").then_some(())
        });
        // gunicorn retries a taken port for seconds before it gives up: it is ours once it
        // says it listens.
        let listening = procs
            .iter()
            .filter(|p| p.name == "gunicorn" || p.name == "httpbin")
            .all(|p| std::fs::read_to_string(&p.log).unwrap_or_default().contains("Listening at"));
        if answered.is_some() && listening {
            return true;
        }
        for p in procs.iter_mut() {
            let log = std::fs::read_to_string(&p.log).unwrap_or_default();
            if ["Address already in use", "Connection in use", "EADDRINUSE", "cannot bind socket"].iter().any(|m| log.contains(m)) {
                return false;
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{} exited ({status}): {}", p.name, std::fs::read_to_string(&p.log).unwrap_or_default());
            }
        }
        assert!(Instant::now() < deadline, "nothing answered on port {port} within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// nginx (`auth_request`) → json-server-auth 2.1 + json-server 0.17, and httpbin.
    NginxJsa,
    /// HAProxy 2.6 (`jwt_verify`, `exp`) → Django + DRF + djoser + simplejwt under gunicorn.
    HaproxyDjoser,
    /// nginx → Directus 11.3 (SQLite): registration answers 204 with no body, the user's id is
    /// only in `GET /users/me` and the token's claims, the admin is a static token.
    NginxDirectus,
    /// Apache httpd + mod_auth_openidc (Debian) verifying an Amazon Cognito pool's JWTs, the
    /// pool emulated by moto's server (SigV4 enforced), an echo service behind.
    ApacheCognito,
}

impl Kind {
    fn recipe(self) -> PathBuf {
        Path::new(ROOT).join("compat").join(match self {
            Kind::NginxJsa => "nginx-json-server-auth",
            Kind::HaproxyDjoser => "haproxy-djoser",
            Kind::NginxDirectus => "nginx-directus",
            Kind::ApacheCognito => "apache-cognito",
        })
    }

    /// The contract example this stack runs as written.
    fn contract(self) -> PathBuf {
        Path::new(ROOT).join("tests/fixtures").join(match self {
            Kind::NginxJsa => "contract-auth.yaml",
            Kind::HaproxyDjoser => "contract-real-stacks.yaml",
            Kind::NginxDirectus => "contract-register-204.yaml",
            Kind::ApacheCognito => "contract-cognito.yaml",
        })
    }
}

/// The Directus stack's admin: its static token (the contract's `SMOKE_ADMIN_TOKEN`) and the
/// password its login uses (`start.sh`'s defaults are overridden with these).
const DIRECTUS_ADMIN_TOKEN: &str = "compat-directus-admin-token-not-a-secret-5d1e";
const DIRECTUS_ADMIN_EMAIL: &str = "admin@example.com";
const DIRECTUS_ADMIN_PASSWORD: &str = "compat-directus-Pa55word-not-a-secret";

const SIGNING_KEY: &str = "compat-stack-signing-key-not-a-secret-0123456789";
/// The Django stack's staff user, for `auth.admin`.
const ADMIN_USER: &str = "admin@example.test";
const ADMIN_PASSWORD: &str = "compat-admin-Pa55word-not-a-secret";

/// One running stack: its gateway on `port`, its services behind it, its database in `dir`.
struct Stack {
    kind: Kind,
    tools: Tools,
    dir: tempfile::TempDir,
    port: u16,
    /// The service the gateway fronts, reachable directly (what a smoke test must not use).
    service_port: u16,
    aux_port: u16,
    // Dropped in field order: the gateway first, then what it fronts.
    gateway: Option<Proc>,
    services: Vec<Proc>,
    /// A server found its port taken by another's.
    lost: bool,
}

impl Stack {
    /// Starts `kind` with its gateway in `variant` (`healthy`, `auth-off`, `empty`, `stub`,
    /// `no-delete`); `None` when the stacks are not installed.
    fn start(kind: Kind, variant: &str) -> Option<Stack> {
        Stack::start_with(kind, variant, &[])
    }

    /// [`Stack::start`] with settings for the service (the Django stack's `SMOKESTACK_*`).
    fn start_with(kind: Kind, variant: &str, env: &[(&str, &str)]) -> Option<Stack> {
        let tools = tools()?;
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let mut s = Stack {
                kind,
                tools: tools.clone(),
                dir,
                port: free_port(),
                service_port: free_port(),
                aux_port: free_port(),
                gateway: None,
                services: vec![],
                lost: false,
            };
            match kind {
                Kind::NginxJsa => s.start_jsa(),
                Kind::HaproxyDjoser => s.start_django(variant, env),
                Kind::NginxDirectus => s.start_directus(env),
                Kind::ApacheCognito => s.start_cognito(),
            }
            s.start_gateway(variant);
            if s.all_running() {
                return Some(s);
            }
            // One of its ports was taken by someone else's server first: start over.
        }
        panic!("{kind:?}: could not start on free ports three times");
    }

    /// Every process of the stack is still up (one that lost its port to another server exits,
    /// while that server answers in its place).
    fn all_running(&mut self) -> bool {
        std::thread::sleep(Duration::from_millis(100));
        !self.lost && self.gateway.iter_mut().chain(self.services.iter_mut()).all(|p| matches!(p.child.try_wait(), Ok(None)))
    }

    fn start_jsa(&mut self) {
        let d = self.dir.path().to_path_buf();
        std::fs::copy(self.kind.recipe().join("service/db.json"), d.join("db.json")).unwrap();
        let mut jsa = Command::new(&self.tools.node);
        jsa.arg(&self.tools.jsa).arg("db.json").args(["-p", &self.service_port.to_string(), "-H", "127.0.0.1", "--quiet"]).current_dir(&d);
        let mut httpbin = Command::new(self.tools.venv.join("bin/gunicorn"));
        httpbin
            .args(["-b", &format!("127.0.0.1:{}", self.aux_port), "-w", "2", "--graceful-timeout", "1"])
            .arg("--control-socket")
            .arg(d.join("httpbin.ctl"))
            .arg("httpbin:app")
            .current_dir(&d);
        self.services = vec![Proc::spawn("json-server-auth", jsa, &d, "TERM"), Proc::spawn("httpbin", httpbin, &d, "QUIT")];
        self.lost |= !wait_http(self.service_port, "/health", &mut self.services);
        self.lost |= !wait_http(self.aux_port, "/get", &mut self.services);
    }

    fn start_django(&mut self, variant: &str, env: &[(&str, &str)]) {
        let d = self.dir.path().to_path_buf();
        std::fs::copy(django_template(&self.tools), d.join("db.sqlite3")).unwrap();
        let mut g = Command::new(self.tools.venv.join("bin/gunicorn"));
        g.args(["-b", &format!("127.0.0.1:{}", self.service_port), "-w", "3", "--graceful-timeout", "1"])
            .arg("--control-socket")
            .arg(d.join("gunicorn.ctl"))
            .arg("smokestack.wsgi")
            .current_dir(self.kind.recipe().join("service"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("SMOKESTACK_DB", d.join("db.sqlite3"))
            .env("SMOKESTACK_SIGNING_KEY", SIGNING_KEY)
            .env("SMOKESTACK_VARIANT", variant)
            .envs(env.iter().copied());
        self.services = vec![Proc::spawn("gunicorn", g, &d, "QUIT")];
        self.lost |= !wait_http(self.service_port, "/health/ready", &mut self.services);
    }

    /// Directus on a copy of the set-up template database (registration open, the admin's
    /// static token), in the foreground: `start.sh` ends in `exec`, so the PID is the server's.
    fn start_directus(&mut self, env: &[(&str, &str)]) {
        let d = self.dir.path().to_path_buf();
        let template = directus_template(&self.tools);
        let mut c = directus_command(&self.tools, &d.join("directus"), self.service_port);
        c.env("DIRECTUS_TEMPLATE_DB", template).envs(env.iter().copied());
        self.services = vec![Proc::spawn("directus", c, &d, "TERM")];
        self.lost |= !wait_http(self.service_port, "/server/health", &mut self.services);
    }

    /// moto (the first three actions unchecked: `setup.py`'s IAM bootstrap; every later one must
    /// be SigV4-signed by a known key), seeded by `setup.py` (pool, app client, the service user
    /// and its secret, IAM keys: `cognito.json`), and the echo service.
    fn start_cognito(&mut self) {
        let d = self.dir.path().to_path_buf();
        let bin = self.tools.cognito.join("bin");
        let mut moto = Command::new(bin.join("moto_server"));
        moto.args(["-H", "127.0.0.1", "-p", &self.aux_port.to_string()]).env("INITIAL_NO_AUTH_ACTION_COUNT", "3").current_dir(&d);
        let mut upstream = Command::new(bin.join("python"));
        upstream.arg(self.kind.recipe().join("service/upstream.py")).arg(self.service_port.to_string());
        self.services = vec![Proc::spawn("moto", moto, &d, "TERM"), Proc::spawn("upstream", upstream, &d, "TERM")];
        self.lost |= !wait_http(self.aux_port, "/moto-api/", &mut self.services);
        self.lost |= !wait_http(self.service_port, "/health", &mut self.services);
        if self.lost {
            return;
        }
        let setup =
            Command::new(bin.join("python")).arg(self.kind.recipe().join("service/setup.py")).arg(self.moto()).arg(&d).output().unwrap();
        assert!(setup.status.success(), "setup.py failed: {}\n{}", text(&setup), self.logs());
    }

    fn moto(&self) -> String {
        format!("http://127.0.0.1:{}", self.aux_port)
    }

    /// What `setup.py` wrote: the pool's ids, the secret's ARN, the IAM keys.
    fn cognito(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.dir.path().join("cognito.json")).unwrap()).unwrap()
    }

    /// (Re)starts the gateway in `variant` on the same port, in front of the same services.
    fn start_gateway(&mut self, variant: &str) {
        drop(self.gateway.take());
        let d = self.dir.path().to_path_buf();
        let gw = match self.kind {
            Kind::ApacheCognito => {
                let prefix = d.join("gw");
                std::fs::create_dir_all(&prefix).unwrap();
                let pool = self.cognito()["user_pool_id"].as_str().unwrap().to_owned();
                let conf = std::fs::read_to_string(self.kind.recipe().join("gateway/apache.conf"))
                    .unwrap()
                    .replace("@PORT@", &self.port.to_string())
                    .replace("@PREFIX@", &prefix.display().to_string())
                    .replace("@MOTO@", &self.moto())
                    .replace("@POOL@", &pool)
                    .replace("@REGION@", "us-east-1")
                    .replace("@UPSTREAM@", &format!("127.0.0.1:{}", self.service_port))
                    .replace("@VARIANT@", variant);
                std::fs::write(prefix.join("apache.conf"), conf).unwrap();
                let mut c = Command::new(&self.tools.apache);
                c.arg("-f").arg(prefix.join("apache.conf")).arg("-DFOREGROUND");
                Proc::spawn("apache", c, &d, "TERM")
            }
            Kind::NginxDirectus => self.nginx(variant, &[("@DIRECTUS@", self.service_port)]),
            Kind::NginxJsa => self.nginx(variant, &[("@JSA@", self.service_port), ("@HTTPBIN@", self.aux_port)]),
            Kind::HaproxyDjoser => {
                let mut c = Command::new(&self.tools.haproxy);
                c.arg("-db")
                    .arg("-f")
                    .arg(self.kind.recipe().join("gateway/haproxy.cfg"))
                    .env("GW_PORT", self.port.to_string())
                    .env("DJANGO_PORT", self.service_port.to_string())
                    .env("SIGNING_KEY", SIGNING_KEY)
                    .env("VARIANT", variant);
                Proc::spawn("haproxy", c, &d, "TERM")
            }
        };
        let mut procs = vec![gw];
        self.lost |= !wait_http(self.port, "/health/ready", &mut procs);
        self.gateway = procs.pop();
    }

    /// The recipe's nginx, its placeholders (`@PORT@`, `@PREFIX@`, `@VARIANT@` and the
    /// upstreams' ports) filled in, in the foreground.
    fn nginx(&self, variant: &str, upstreams: &[(&str, u16)]) -> Proc {
        let d = self.dir.path();
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        let mut conf = std::fs::read_to_string(self.kind.recipe().join("gateway/nginx.conf"))
            .unwrap()
            .replace("@PORT@", &self.port.to_string())
            .replace("@PREFIX@", &d.display().to_string())
            .replace("@VARIANT@", variant);
        for (placeholder, port) in upstreams {
            conf = conf.replace(placeholder, &port.to_string());
        }
        std::fs::write(d.join("nginx.conf"), conf).unwrap();
        let mut c = Command::new(&self.tools.nginx);
        c.arg("-c").arg(d.join("nginx.conf")).arg("-p").arg(d).arg("-e").arg(d.join("error.log"));
        Proc::spawn("nginx", c, d, "TERM")
    }

    /// Restarts the gateway in `variant`, and makes sure it is this stack's that answers.
    fn restart_gateway(&mut self, variant: &str) {
        self.start_gateway(variant);
        assert!(self.all_running(), "{:?}: the gateway lost its port on restart:\n{}", self.kind, self.logs());
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn service_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.service_port)
    }

    /// What the stack's own database holds: (users, records).
    fn left(&self) -> (usize, usize) {
        match self.kind {
            Kind::NginxJsa => {
                let db: serde_json::Value = serde_json::from_slice(&std::fs::read(self.dir.path().join("db.json")).unwrap()).unwrap();
                (db["users"].as_array().unwrap().len(), db["items"].as_array().unwrap().len())
            }
            Kind::HaproxyDjoser => {
                let out = Command::new(self.tools.venv.join("bin/python"))
                    .args([
                        "-c",
                        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
                         print(*(c.execute(q).fetchone()[0] for q in ('select count(*) from auth_user where not is_staff', 'select count(*) from smokestack_item')))",
                    ])
                    .arg(self.dir.path().join("db.sqlite3"))
                    .output()
                    .unwrap();
                let s = String::from_utf8_lossy(&out.stdout);
                let mut n = s.split_whitespace().map(|x| x.parse::<usize>().unwrap());
                (n.next().unwrap(), n.next().unwrap())
            }
            // Test users left in the pool (the service user is not one), by a signed ListUsers.
            Kind::ApacheCognito => (self.cognito_users().len(), 0),
            // Records: the admin's sessions left open (a login without its logout).
            Kind::NginxDirectus => {
                let (users, sessions) = self.directus_counts();
                (users, sessions)
            }
        }
    }

    /// The pool's users other than the service user, asked of moto with the admin's key.
    fn cognito_users(&self) -> Vec<String> {
        let c = self.cognito();
        let out = Command::new(self.tools.cognito.join("bin/python"))
            .args([
                "-c",
                "import boto3, json, sys; c = json.load(open(sys.argv[1])); \
                 idp = boto3.client('cognito-idp', endpoint_url=c['moto'], region_name=c['region'], \
                 aws_access_key_id=c['admin_access_key_id'], aws_secret_access_key=c['admin_secret_access_key']); \
                 print(json.dumps([u['Username'] for u in idp.list_users(UserPoolId=c['user_pool_id'])['Users'] if u['Username'] != c['service_user']]))",
            ])
            .arg(self.dir.path().join("cognito.json"))
            .output()
            .unwrap();
        assert!(out.status.success(), "ListUsers failed: {}", text(&out));
        let _ = &c;
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Directus's own database: (test users, the admin's open sessions).
    fn directus_counts(&self) -> (usize, usize) {
        let out = Command::new(self.tools.venv.join("bin/python"))
            .args([
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
                 print(*(c.execute(q, (sys.argv[2],)).fetchone()[0] for q in (\
                 \"select count(*) from directus_users where email like 'smoke+%' and ? is not null\", \
                 'select count(*) from directus_sessions s join directus_users u on s.user = u.id where u.email = ?')))",
            ])
            .arg(self.dir.path().join("directus/directus.db"))
            .arg(DIRECTUS_ADMIN_EMAIL)
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        let mut n = s.split_whitespace().map(|x| x.parse::<usize>().unwrap_or_else(|_| panic!("{s}{}", text(&out))));
        (n.next().unwrap(), n.next().unwrap())
    }

    /// Everything the servers logged, nginx's access log and json-server's database, for a
    /// failing assertion.
    fn logs(&self) -> String {
        let mut all = String::new();
        for p in self.gateway.iter().chain(&self.services) {
            all.push_str(&format!("--- {}\n{}\n", p.name, std::fs::read_to_string(&p.log).unwrap_or_default()));
        }
        for f in ["access.log", "db.json"] {
            if let Ok(text) = std::fs::read_to_string(self.dir.path().join(f)) {
                all.push_str(&format!("--- {f}\n{text}\n"));
            }
        }
        all
    }

    /// `smokegate run` of `target` with `config` through this stack's gateway, from `p`'s
    /// folder with its own journal, writing every report (`all_output` reads them back).
    fn command(&self, p: &Project, config: &Path, target: &Path) -> Command {
        let mut c = p.std_cmd();
        c.arg("run")
            .arg("--state-dir")
            .arg(p.state())
            .arg("--config")
            .arg(config)
            .args(REPORTS)
            .arg(target)
            .env("GATEWAY_BASE_URL", self.url());
        self.secrets(&mut c);
        c
    }

    /// What a shell that runs this stack's recipe has set: the Directus admin's static token;
    /// the pool's ids, its endpoint and the IAM keys smokegate signs with.
    fn secrets(&self, c: &mut Command) {
        match self.kind {
            Kind::NginxDirectus => {
                c.env("SMOKE_ADMIN_TOKEN", DIRECTUS_ADMIN_TOKEN);
            }
            Kind::ApacheCognito => {
                let j = self.cognito();
                let s = |k: &str| j[k].as_str().unwrap().to_owned();
                c.env("COGNITO_USER_POOL_ID", s("user_pool_id"))
                    .env("COGNITO_CLIENT_ID", s("client_id"))
                    .env("COGNITO_SERVICE_USER_SECRET_ARN", s("secret_arn"))
                    .env("AWS_ENDPOINT_URL", self.moto());
                self.aws_keys(c);
            }
            Kind::NginxJsa | Kind::HaproxyDjoser => {}
        }
    }

    /// The IAM keys smokegate signs with: all another shell needs to finish a Cognito user.
    fn aws_keys(&self, c: &mut Command) {
        let j = self.cognito();
        c.env("AWS_ACCESS_KEY_ID", j["access_key_id"].as_str().unwrap())
            .env("AWS_SECRET_ACCESS_KEY", j["secret_access_key"].as_str().unwrap());
    }

    /// `smokegate cleanup` of `p`'s journal from another, empty folder (no config there: the
    /// routes are the journaled ones).
    fn cleanup_elsewhere(&self, p: &Project, extra: &[&str]) -> Output {
        let elsewhere = Project::new();
        let mut c = elsewhere.std_cmd();
        c.arg("cleanup").args(extra).arg("--state-dir").arg(p.state()).env("GATEWAY_BASE_URL", self.url());
        match self.kind {
            // Another shell has the secrets only: the pool's ids and endpoint are journaled.
            Kind::ApacheCognito => self.aws_keys(&mut c),
            _ => self.secrets(&mut c),
        }
        c.output().unwrap()
    }

    /// [`Stack::command`] of the recipe's suites, run to the end.
    fn run(&self, p: &Project, config: &Path, extra: &[&str]) -> Output {
        self.command(p, config, &self.kind.recipe().join("smoke-suites")).args(extra).output().unwrap()
    }
}

/// `start.sh DATA PORT` of the Directus recipe, with this stack's admin.
fn directus_command(tools: &Tools, data: &Path, port: u16) -> Command {
    let mut c = Command::new("bash");
    c.arg(Kind::NginxDirectus.recipe().join("service/start.sh"))
        .arg(data)
        .arg(port.to_string())
        .env("DIRECTUS_HOME", &tools.directus)
        .env("SMOKE_ADMIN_TOKEN", DIRECTUS_ADMIN_TOKEN)
        .env("ADMIN_EMAIL", DIRECTUS_ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", DIRECTUS_ADMIN_PASSWORD);
    c
}

/// A bootstrapped and set-up Directus database (registration open into a role that reads only
/// itself), made once per test process and copied per stack: bootstrapping takes 15 s, a copy
/// starts in 7.
fn directus_template(tools: &Tools) -> PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap().keep();
            let port = free_port();
            let mut procs = vec![Proc::spawn("directus-template", directus_command(tools, &dir.join("data"), port), &dir, "TERM")];
            assert!(wait_http(port, "/server/health", &mut procs), "the template's Directus lost its port");
            let setup = Command::new("bash")
                .arg(Kind::NginxDirectus.recipe().join("service/setup.sh"))
                .arg(format!("http://127.0.0.1:{port}"))
                .env("SMOKE_ADMIN_TOKEN", DIRECTUS_ADMIN_TOKEN)
                .output()
                .unwrap();
            assert!(setup.status.success(), "setup.sh failed: {}", text(&setup));
            drop(procs);
            let db = dir.join("template.db");
            std::fs::copy(dir.join("data/directus.db"), &db).unwrap();
            db
        })
        .clone()
}

/// A migrated database for the Django stack, made once per test process and copied per stack.
fn django_template(tools: &Tools) -> PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap().keep();
            let db = dir.join("template.sqlite3");
            let manage = |args: &[&str]| {
                let out = Command::new(tools.venv.join("bin/python"))
                    .arg("manage.py")
                    .args(args)
                    .current_dir(Kind::HaproxyDjoser.recipe().join("service"))
                    .env("PYTHONDONTWRITEBYTECODE", "1")
                    .env("SMOKESTACK_DB", &db)
                    .env("DJANGO_SUPERUSER_PASSWORD", ADMIN_PASSWORD)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "manage.py {args:?} failed: {}", text(&out));
            };
            manage(&["migrate", "-v", "0"]);
            // The staff user of the admin tests (it is not a test user: `left` counts non-staff).
            manage(&["createsuperuser", "--noinput", "--username", ADMIN_USER, "--email", ADMIN_USER]);
            db
        })
        .clone()
}

fn report(p: &Project) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p.path().join("r.json")).unwrap()).unwrap()
}

/// The failure classes of the report's failed steps, in order.
fn classes(p: &Project) -> Vec<String> {
    let r = report(p);
    r["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["steps"].as_array().unwrap().clone())
        .filter(|s| s["outcome"] == "failed")
        .map(|s| s["failure_class"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The recipes a user copies are the contract examples, as written (below the comment that
/// says what the stack is).
#[test]
fn the_recipes_are_the_contract_examples() {
    for kind in [Kind::NginxJsa, Kind::HaproxyDjoser, Kind::NginxDirectus, Kind::ApacheCognito] {
        let recipe = std::fs::read_to_string(kind.recipe().join("smokegate.yaml")).unwrap();
        let recipe: String = recipe.lines().skip_while(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
        let contract = std::fs::read_to_string(kind.contract()).unwrap();
        assert_eq!(recipe, contract, "{kind:?}: the recipe's smokegate.yaml is the contract example");
    }
}

/// Green with auth probes, every probe refused by the real gateway, and nothing left in the
/// stack's database: the deleted user's login (json-server-auth: `400 "Cannot find user"`;
/// simplejwt: 401) proves the deletion.
#[test]
fn each_stack_is_green_with_probes_and_leaves_nothing() {
    for kind in [Kind::NginxJsa, Kind::HaproxyDjoser] {
        let Some(stack) = Stack::start(kind, "healthy") else { return };
        let p = Project::new();
        let o = stack.run(&p, &kind.contract(), &["--auth-probes"]);
        let out = text(&o);
        assert_eq!(code(&o), 0, "{kind:?}: {out}\n{}", stack.logs());
        assert!(out.contains("probe: no token") && out.contains("probe: forged signature") && out.contains("probe: alg none"), "{out}");
        assert!(out.contains("cleanup: deleted test user"), "{out}");
        assert_eq!(stack.left(), (0, 0), "{kind:?}: the stack's database still holds test data\n{out}");
        assert!(p.journal_files().is_empty() && p.record_files().is_empty(), "{kind:?}: the journal is not empty");
    }
}

/// Broken variants of each stack are red with the class that names the break, and leave
/// nothing behind either.
#[test]
fn broken_variants_are_red_with_their_class_and_leave_nothing() {
    for kind in [Kind::NginxJsa, Kind::HaproxyDjoser] {
        for (variant, class) in [("auth-off", "auth-not-enforced"), ("empty", "assertion"), ("stub", "stub")] {
            let Some(stack) = Stack::start(kind, variant) else { return };
            let p = Project::new();
            let o = stack.run(&p, &kind.contract(), &["--auth-probes"]);
            let out = text(&o);
            assert_eq!(code(&o), 1, "{kind:?} {variant}: {out}\n{}", stack.logs());
            let got = classes(&p);
            assert_eq!(got.first().map(String::as_str), Some(class), "{kind:?} {variant}: classes {got:?}\n{out}");
            assert_eq!(stack.left(), (0, 0), "{kind:?} {variant}: test data left\n{out}");
        }
    }
}

/// A gateway that refuses the deletion: exit 5, the user stays in the stack and in the
/// journal; `cleanup` from another folder, with no config there, finishes it with the routes the
/// run journaled once the gateway allows it.
#[test]
fn a_refused_deletion_is_exit_5_and_cleanup_from_anywhere_finishes_it() {
    for kind in [Kind::NginxJsa, Kind::HaproxyDjoser] {
        let Some(mut stack) = Stack::start(kind, "no-delete") else { return };
        let p = Project::new();
        let o = stack.run(&p, &kind.contract(), &[]);
        let out = text(&o);
        assert_eq!(code(&o), 5, "{kind:?}: {out}\n{}", stack.logs());
        assert_eq!(stack.left(), (1, 0), "{kind:?}: the user is left, its records are not\n{out}");
        assert_eq!(p.journal_files().len(), 1);

        stack.restart_gateway("healthy");
        let o = stack.cleanup_elsewhere(&p, &[]);
        let out = text(&o);
        assert_eq!(code(&o), 0, "{kind:?}: {out}\n{}", stack.logs());
        assert!(out.contains("cleanup: 1 removed, 0 left"), "{out}");
        assert_eq!(stack.left(), (0, 0), "{kind:?}: {out}");
        assert!(p.journal_files().is_empty());
    }
}

/// A delete route that deletes nothing (a wrong path, answered 404 as the contract allows): the
/// real server's login still lets the user in, so neither the run nor `cleanup` from another
/// folder (the identity and routes read back from the journal) calls it deleted.
#[test]
fn a_delete_that_deletes_nothing_is_caught_by_the_login_in_the_run_and_in_cleanup() {
    let Some(stack) = Stack::start(Kind::NginxJsa, "healthy") else { return };
    let p = Project::new();
    let contract = std::fs::read_to_string(Kind::NginxJsa.contract()).unwrap();
    let wrong = contract.replace("/api/auth/V1/auth/users/{{ user_id }}", "/api/items/424242");
    assert_ne!(wrong, contract);
    let config = p.write("smokegate.yaml", &wrong);
    let o = stack.run(&p, &config, &[]);
    let out = text(&o);
    assert_eq!(code(&o), 5, "{out}\n{}", stack.logs());
    assert!(out.contains("but the user can still log in"), "{out}");
    assert_eq!(stack.left(), (1, 0), "{out}");
    assert_eq!(p.journal_files().len(), 1);

    let o = stack.cleanup_elsewhere(&p, &[]);
    let out = text(&o);
    assert_eq!(code(&o), 5, "{out}\n{}", stack.logs());
    assert!(out.contains("but the user can still log in"), "{out}");
    assert_eq!(stack.left(), (1, 0), "{out}");
    assert_eq!(p.journal_files().len(), 1);
}

/// SIGKILL while a step waits on a slow upstream, after the suite created a record: `cleanup`
/// from another folder deletes the record with its owner's token, then the owner.
#[test]
fn after_sigkill_cleanup_from_anywhere_deletes_records_then_their_owner() {
    let Some(stack) = Stack::start(Kind::NginxJsa, "healthy") else { return };
    let p = Project::new();
    let suite = p.write(
        "suites/slow.yaml",
        "name: slow\nsteps:\n  - name: create\n    request: { method: POST, path: /api/items, json: { name: a } }\n    expect: { status: 201 }\n    capture: { a: $.id }\n  - name: create another\n    request: { method: POST, path: /api/items, json: { name: b, after: \"{{ a }}\" } }\n    expect: { status: 201 }\n    capture: { b: $.id }\n  - name: wait\n    request: { path: /api/slow/20, timeout: 30s }\nteardown:\n  - name: delete a\n    request: { method: DELETE, path: \"/api/items/{{ a }}\" }\n  - name: delete b\n    request: { method: DELETE, path: \"/api/items/{{ b }}\" }\n  - name: a is gone\n    request: { path: \"/api/items/{{ a }}\" }\n    expect: { status: 404 }\n",
    );
    let mut c = stack.command(&p, &Kind::NginxJsa.contract(), &suite);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    // Killed once both records exist and are journaled with their teardowns (the "may exist"
    // note of the second create replaced): the run is then on its way to the slow step.
    let deadline = Instant::now() + Duration::from_secs(20);
    let journaled = || {
        let files = p.record_files();
        files.len() == 2
            && files.iter().all(|f| {
                std::fs::read(f)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .is_some_and(|r| r.get("pending").is_none())
            })
    };
    while stack.left().1 < 2 || !journaled() {
        assert!(Instant::now() < deadline, "the records never appeared: {}", stack.logs());
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(stack.left(), (1, 2));
    assert_eq!(p.record_files().len(), 2, "the read-only teardown step is not journaled as a record");

    let o = stack.cleanup_elsewhere(&p, &[]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}\n{}", stack.logs());
    let (b, a) = (out.find("DELETE /api/items/2").unwrap(), out.find("DELETE /api/items/1").unwrap());
    assert!(b < a, "the newest record is deleted first:\n{out}");
    assert!(out.find("deleted smoke+").unwrap() > a, "the owner goes last:\n{out}");
    assert_eq!(stack.left(), (0, 0), "{out}\n{}", stack.logs());
}

/// `GATEWAY_BASE_URL` pointed at the service port with a `fingerprint` configured: the run
/// stops before anything is created (exit 6), and `--wait-ready` does not call it ready.
#[test]
fn a_missing_fingerprint_stops_the_run_before_anything_is_created() {
    let Some(stack) = Stack::start(Kind::NginxJsa, "healthy") else { return };
    let p = Project::new();
    let contract = std::fs::read_to_string(Kind::NginxJsa.contract()).unwrap();
    let config =
        p.write("smokegate.yaml", &format!("{contract}gateway:\n  fingerprint: {{ header: X-Served-By, value: nginx-gateway }}\n"));
    for extra in [&[][..], &["--wait-ready", "2s"][..]] {
        let mut c = stack.command(&p, &config, &Kind::NginxJsa.recipe().join("smoke-suites"));
        c.args(extra).env("GATEWAY_BASE_URL", stack.service_url());
        let o = c.output().unwrap();
        let out = text(&o);
        assert_eq!(code(&o), 6, "{extra:?}: {out}");
        assert!(out.contains("x-served-by"), "the message names the missing header: {out}");
        assert_eq!(stack.left(), (0, 0), "{extra:?}: a user was created behind the gateway's back\n{out}");
    }
    // Through the gateway the same config is green.
    let o = stack.run(&p, &config, &["--wait-ready", "5s"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(stack.left(), (0, 0));
}

/// A login answer that breaks the OpenAPI document: the run is red with class `schema`, but the
/// token is used and the user deleted.
#[test]
fn a_contract_violation_in_the_login_answer_is_red_but_the_user_is_still_deleted() {
    let Some(stack) = Stack::start(Kind::NginxJsa, "healthy") else { return };
    let p = Project::new();
    p.write(
        "openapi.yaml",
        "openapi: 3.0.3\ninfo: { title: t, version: '1' }\npaths:\n  /api/auth/V1/auth/login:\n    post:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema:\n                type: object\n                required: [accessToken, refreshToken]\n",
    );
    let contract = std::fs::read_to_string(Kind::NginxJsa.contract()).unwrap();
    let config = p.write("smokegate.yaml", &format!("{contract}openapi: openapi.yaml\n"));
    let o = stack.run(&p, &config, &[]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(out.contains("schema") && out.contains("refreshToken"), "{out}");
    assert!(out.contains("cleanup: deleted test user"), "{out}");
    assert_eq!(stack.left(), (0, 0), "{out}");
}

impl Stack {
    /// Every refresh token the Django stack issued (simplejwt's outstanding-token table).
    fn issued_tokens(&self) -> Vec<String> {
        let out = Command::new(self.tools.venv.join("bin/python"))
            .args(["-c", "import sqlite3, sys; [print(t) for (t,) in sqlite3.connect(sys.argv[1]).execute('select token from token_blacklist_outstandingtoken')]"])
            .arg(self.dir.path().join("db.sqlite3"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }
}

/// Everything a run wrote: the console and every report file in the project folder.
fn all_output(p: &Project, o: &Output) -> String {
    let mut all = text(o);
    for f in ["r.json", "r.xml", "r.html", "r.log", "r.curl"] {
        all.push_str(&std::fs::read_to_string(p.path().join(f)).unwrap_or_default());
    }
    all
}

/// No 12-character window of any token the stack issued, and nothing shaped like a JWT.
fn assert_no_token_part(all: &str, tokens: &[String]) {
    assert!(!tokens.is_empty(), "the stack issued no token");
    for t in tokens {
        for w in t.as_bytes().windows(12) {
            let w = std::str::from_utf8(w).unwrap();
            assert!(!all.contains(w), "a part of an issued token ({w}) reached the output:\n{all}");
        }
    }
    assert!(!all.contains("eyJ"), "a JWT reached the output:\n{all}");
}

const REPORTS: &[&str] = &["--json", "r.json", "--junit", "r.xml", "--html", "r.html", "--log-file", "r.log", "--curl", "r.curl"];

/// simplejwt's refresh token, captured by the login and posted by a failing step: no part of
/// it in the console (`-vv`), the replay line, `--curl`, `--html`, `--json`, `--junit` or
/// `--log-file`; nor of the new access token the refresh answered with.
#[test]
fn a_refresh_token_captured_at_login_reaches_no_output() {
    let Some(stack) = Stack::start(Kind::HaproxyDjoser, "healthy") else { return };
    let p = Project::new();
    let contract = std::fs::read_to_string(Kind::HaproxyDjoser.contract()).unwrap();
    let config = p.write(
        "smokegate.yaml",
        &contract.replace("    token: $.access\n", "    token: $.access\n    capture: { refresh_token: $.refresh }\n"),
    );
    let suite = p.write(
        "suites/refresh.yaml",
        "steps:\n  - name: refresh\n    request: { method: POST, path: /auth/jwt/refresh/, json: { refresh: \"{{ refresh_token }}\" } }\n    expect: { status: 200, json: { $.access: { matches: \"^nope\" } } }\n",
    );
    let mut c = stack.command(&p, &config, &suite);
    c.arg("-vv");
    let o = c.output().unwrap();
    let all = all_output(&p, &o);
    assert_eq!(code(&o), 1, "{all}");
    assert!(all.contains("replay: curl"), "the failing step has a replay line: {all}");
    assert_no_token_part(&all, &stack.issued_tokens());
    assert_eq!(stack.left(), (0, 0));
}

/// A login that fails its own check after the server answered with tokens: the message names the
/// answer without any part of them.
#[test]
fn a_failing_bootstrap_login_prints_no_part_of_its_answer_s_tokens() {
    let Some(stack) = Stack::start(Kind::HaproxyDjoser, "healthy") else { return };
    let p = Project::new();
    let contract = std::fs::read_to_string(Kind::HaproxyDjoser.contract()).unwrap();
    let config =
        p.write("smokegate.yaml", &contract.replace("    token: $.access\n", "    token: $.access\n    expect: { status: 201 }\n"));
    let o = stack.command(&p, &config, &Kind::HaproxyDjoser.recipe().join("smoke-suites")).output().unwrap();
    let all = all_output(&p, &o);
    assert_eq!(code(&o), 3, "{all}");
    assert!(all.contains("answered 200"), "{all}");
    assert_no_token_part(&all, &stack.issued_tokens());
    // Its login never passes its check, so the user cannot be deleted with its own token: it is
    // journaled, and `cleanup --config` with a working login route finishes it.
    assert_eq!(stack.left(), (1, 0), "{all}");
    let mut c = p.std_cmd();
    c.arg("cleanup")
        .arg("--state-dir")
        .arg(p.state())
        .arg("--config")
        .arg(Kind::HaproxyDjoser.contract())
        .env("GATEWAY_BASE_URL", stack.url());
    let o = c.output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_no_token_part(&text(&o), &stack.issued_tokens());
    assert_eq!(stack.left(), (0, 0), "{}", text(&o));
}

/// The real-stacks contract with `auth.admin`: djoser's staff user deletes the disposable user
/// (`DELETE /auth/users/{id}/` confirmed with the admin's own `current_password`) and proves it
/// gone (`GET` as the admin answers 404), on a stack where a user may not delete itself.
fn admin_config(p: &Project, admin: &str) -> PathBuf {
    let contract = std::fs::read_to_string(Kind::HaproxyDjoser.contract()).unwrap();
    let head = contract.split("  cleanup:").next().unwrap();
    p.write(
        "smokegate.yaml",
        &format!(
            "{head}  admin:\n{admin}  cleanup:\n    auth: admin\n    request: {{ method: DELETE, path: \"/auth/users/{{{{ user_id }}}}/\", json: {{ current_password: \"{{{{ admin.password }}}}\" }} }}\n    expect: {{ status: 204 }}\n  verify:\n    auth: admin\n    request: {{ path: \"/auth/users/{{{{ user_id }}}}/\" }}\n    expect: {{ status: 404 }}\n"
        ),
    )
}

#[test]
fn an_admin_deletes_the_user_where_a_user_cannot_delete_itself() {
    let Some(stack) = Stack::start_with(Kind::HaproxyDjoser, "healthy", &[("SMOKESTACK_ADMIN_DELETES", "1")]) else { return };
    // The self-deleting contract is refused here: exit 5, the user left.
    let p = Project::new();
    let o = stack.run(&p, &Kind::HaproxyDjoser.contract(), &[]);
    assert_eq!(code(&o), 5, "{}", text(&o));
    assert_eq!(stack.left(), (1, 0));
    // The admin from a secrets manager's JSON file, and from the environment.
    for (admin, env) in [
        ("    credentials_file: admin-secret.json\n", vec![]),
        (
            "    username: \"{{ env.SMOKE_ADMIN_EMAIL }}\"\n    password: \"{{ env.SMOKE_ADMIN_PASSWORD }}\"\n",
            vec![("SMOKE_ADMIN_EMAIL", ADMIN_USER), ("SMOKE_ADMIN_PASSWORD", ADMIN_PASSWORD)],
        ),
    ] {
        let p = Project::new();
        p.write("admin-secret.json", &format!("{{\"username\": \"{ADMIN_USER}\", \"password\": \"{ADMIN_PASSWORD}\", \"arn\": \"x\"}}"));
        let config = admin_config(&p, admin);
        let mut c = stack.command(&p, &config, &Kind::HaproxyDjoser.recipe().join("smoke-suites"));
        c.arg("-v").arg("--auth-probes").envs(env.iter().copied());
        let o = c.output().unwrap();
        let all = all_output(&p, &o);
        assert_eq!(code(&o), 0, "{admin}: {all}\n{}", stack.logs());
        assert!(all.contains("admin.login POST /auth/jwt/create/") && all.contains("cleanup DELETE /auth/users/"), "{all}");
        assert!(all.contains("cleanup.verify GET /auth/users/") && all.contains("-> 404"), "{all}");
        assert!(!all.contains(ADMIN_PASSWORD), "the admin's password reached the output");
        assert_no_token_part(&all, &stack.issued_tokens());
        assert_eq!(stack.left(), (1, 0), "{admin}: only the self-deleting run's user is left\n{all}");
        assert!(p.journal_files().is_empty());
    }
}

/// SIGKILL mid-run with the admin configuration: `cleanup` from another folder, with no config
/// there, tears the records down with the user's token first, then the admin deletes the user.
#[test]
fn after_sigkill_cleanup_finishes_with_the_admin() {
    let Some(stack) = Stack::start_with(Kind::HaproxyDjoser, "healthy", &[("SMOKESTACK_ADMIN_DELETES", "1")]) else { return };
    let p = Project::new();
    p.write("admin-secret.json", &format!("{{\"username\": \"{ADMIN_USER}\", \"password\": \"{ADMIN_PASSWORD}\"}}"));
    let config = admin_config(&p, "    credentials_file: admin-secret.json\n");
    let suite = p.write(
        "suites/slow.yaml",
        "steps:\n  - name: create\n    request: { method: POST, path: /api/items/, json: { name: a } }\n    expect: { status: 201 }\n    capture: { a: $.id }\n  - name: wait\n    request: { path: \"/api/wait/?s=8\", timeout: 20s }\nteardown:\n  - name: delete a\n    request: { method: DELETE, path: \"/api/items/{{ a }}/\" }\n    expect: { status: [204, 404] }\n",
    );
    let mut c = stack.command(&p, &config, &suite);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Killed once the record is journaled with its id (not while only the write-ahead note
    // "a record may exist" is there: a kill in that window leaves a record `cleanup` cannot
    // delete, which is right, and is not what this test is about).
    let journaled = |f: &std::path::PathBuf| std::fs::read_to_string(f).is_ok_and(|t| !t.contains("\"pending\""));
    while stack.left().1 < 1 || p.record_files().len() != 1 || !p.record_files().iter().all(journaled) {
        assert!(Instant::now() < deadline, "the record never appeared: {}", stack.logs());
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(stack.left(), (1, 1));
    let o = stack.cleanup_elsewhere(&p, &["-v"]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}\n{}", stack.logs());
    let record = out.find("cleanup DELETE /api/items/").expect("the record's teardown");
    let user = out.find("cleanup DELETE /auth/users/").expect("the admin's deletion");
    assert!(record < user && out.contains("admin.login"), "records first, then the admin deletes the user:\n{out}");
    assert_eq!(stack.left(), (0, 0), "{out}");
}

/// djoser's opaque DRF token (`/auth/token/login/` → `auth_token`, sent as `Token …`): no claims,
/// used until a 401; probes forge it; the deleted user's token login answers 400, which proves
/// the deletion.
#[test]
fn an_opaque_drf_token_logs_in_and_is_probed() {
    let Some(stack) = Stack::start(Kind::HaproxyDjoser, "healthy") else { return };
    let p = Project::new();
    let contract = std::fs::read_to_string(Kind::HaproxyDjoser.contract()).unwrap();
    let config = p.write(
        "smokegate.yaml",
        &contract
            .replace("scheme: JWT", "scheme: Token")
            .replace("path: /auth/jwt/create/", "path: /auth/token/login/")
            .replace("token: $.access", "token: $.auth_token"),
    );
    let o = stack.run(&p, &config, &["--auth-probes", "-v"]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}\n{}", stack.logs());
    assert!(out.contains("opaque token") && out.contains("probe: forged token · 401") && out.contains("probe: no token · 401"), "{out}");
    assert!(out.contains("cleanup.verify POST /auth/token/login/ -> 400"), "{out}");
    assert_eq!(stack.left(), (0, 0), "{out}");
}

/// simplejwt's refresh (`POST /auth/jwt/refresh/ {refresh}`) with 4-second access tokens: the
/// run outlives two of them and renews with the refresh token, never logging in again.
#[test]
fn a_refresh_token_renews_the_access_token_without_a_login() {
    let Some(stack) = Stack::start_with(Kind::HaproxyDjoser, "healthy", &[("SMOKESTACK_ACCESS_SECONDS", "4")]) else { return };
    let p = Project::new();
    let contract = std::fs::read_to_string(Kind::HaproxyDjoser.contract()).unwrap();
    let config = p.write(
        "smokegate.yaml",
        &contract.replace(
            "    token: $.access\n",
            "    token: $.access\n    refresh:\n      request: { method: POST, path: /auth/jwt/refresh/, json: { refresh: \"{{ refresh_token }}\" } }\n      token: $.access\n",
        ),
    );
    let suite = p.write(
        "suites/long.yaml",
        "steps:\n  - name: me\n    request: { path: /auth/users/me/ }\n  - name: wait\n    request: { path: \"/api/wait/?s=3\" }\n  - name: me again\n    request: { path: /auth/users/me/ }\n  - name: wait more\n    request: { path: \"/api/wait/?s=3\" }\n  - name: me at the end\n    request: { path: /auth/users/me/ }\n",
    );
    let mut c = stack.command(&p, &config, &suite);
    c.arg("-v");
    let o = c.output().unwrap();
    let all = all_output(&p, &o);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}\n{}", stack.logs());
    let refreshes = out.matches("refresh POST /auth/jwt/refresh/ -> 200").count();
    assert!(refreshes >= 2, "renewed twice or more: {out}");
    let logins = out.matches("POST /auth/jwt/create/ -> 200").count();
    assert_eq!(logins, 1, "one login (the bootstrap's); the refreshes replaced the others: {out}");
    assert_no_token_part(&all, &stack.issued_tokens());
    assert_eq!(stack.left(), (0, 0), "{out}");
}

/// The 204-registration contract, as written, against nginx → Directus: green with probes; the
/// user's id learned by `after_login` (`GET /users/me`), the admin's static token deletes it,
/// and its refused login (Directus: 401) proves it gone. The same with `{{ token.claims.id }}`
/// in place of `after_login`, and with an admin that logs in by password and logs out (no
/// admin session left in Directus's database).
#[test]
fn directus_registration_204_is_green_and_leaves_nothing() {
    let Some(stack) = Stack::start(Kind::NginxDirectus, "healthy") else { return };
    let contract = std::fs::read_to_string(Kind::NginxDirectus.contract()).unwrap();
    let after_login = "  after_login:\n    - request: { path: /api/users/me }\n      auth: user\n      capture: { user_id: $.data.id }\n";
    assert!(contract.contains(after_login));
    let claims = contract.replace(after_login, "").replace("{{ user_id }}", "{{ token.claims.id }}");
    let admin_login = format!(
        "  admin:\n    username: {DIRECTUS_ADMIN_EMAIL}\n    password: \"{{{{ env.DIRECTUS_ADMIN_PASSWORD }}}}\"\n    login:\n      request: {{ method: POST, path: /api/auth/login, json: {{ email: \"{{{{ admin.username }}}}\", password: \"{{{{ admin.password }}}}\" }} }}\n      token: $.data.access_token\n      capture: {{ admin_refresh_token: $.data.refresh_token }}\n    logout:\n      request: {{ method: POST, path: /api/auth/logout, json: {{ refresh_token: \"{{{{ admin_refresh_token }}}}\", mode: json }} }}\n"
    );
    let with_logout = contract.replace("  admin: { token: \"{{ env.SMOKE_ADMIN_TOKEN }}\" }\n", &admin_login);
    assert_ne!(with_logout, contract);
    for (name, config) in [("contract", contract.clone()), ("claims", claims), ("admin logout", with_logout)] {
        let p = Project::new();
        let file = p.write("smokegate.yaml", &config);
        let mut c = stack.command(&p, &file, &Kind::NginxDirectus.recipe().join("smoke-suites"));
        let o = c.arg("--auth-probes").arg("-v").env("DIRECTUS_ADMIN_PASSWORD", DIRECTUS_ADMIN_PASSWORD).output().unwrap();
        let out = all_output(&p, &o);
        assert_eq!(code(&o), 0, "{name}: {out}\n{}", stack.logs());
        assert!(out.contains("cleanup: deleted test user"), "{name}: {out}");
        assert_eq!(stack.left(), (0, 0), "{name}: a test user or an admin session is left\n{out}");
        assert!(p.journal_files().is_empty(), "{name}: the journal is not empty");
        assert!(!out.contains(DIRECTUS_ADMIN_TOKEN) && !out.contains(DIRECTUS_ADMIN_PASSWORD), "{name}: a secret leaked:\n{out}");
        if name == "contract" {
            assert!(out.contains("bootstrap.after_login"), "{out}");
        }
        if name == "admin logout" {
            assert!(out.contains("admin.logout"), "{out}");
        }
    }
}

/// A gateway that refuses to delete users: exit 5, the user stays in Directus and in the
/// journal, with the id `after_login` learned; `cleanup` from another folder, with nothing but
/// the secret in its environment, deletes it once the gateway allows it.
#[test]
fn directus_refused_deletion_is_finished_by_cleanup_from_anywhere() {
    let Some(mut stack) = Stack::start(Kind::NginxDirectus, "no-delete") else { return };
    let p = Project::new();
    let o = stack.run(&p, &Kind::NginxDirectus.contract(), &[]);
    let out = text(&o);
    assert_eq!(code(&o), 5, "{out}\n{}", stack.logs());
    assert_eq!(stack.left(), (1, 0), "{out}");
    assert_eq!(p.journal_files().len(), 1);
    let entry = std::fs::read_to_string(&p.journal_files()[0]).unwrap();
    assert!(entry.contains("\"user_id\""), "the id after_login learned is journaled: {entry}");

    stack.restart_gateway("healthy");
    let o = stack.cleanup_elsewhere(&p, &[]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}\n{}", stack.logs());
    assert!(out.contains("cleanup: 1 removed, 0 left"), "{out}");
    assert_eq!(stack.left(), (0, 0), "{out}");
    assert!(p.journal_files().is_empty());
}

/// Directus's own registration rate limit (1 per 3 s here): with a user per suite, the second
/// registration is answered 429 with `Retry-After`, waited out, and sent again; green, nothing
/// left. With a `rate_limit_wait` shorter than the server asks, the step fails saying so.
#[test]
fn directus_rate_limited_registration_is_waited_out() {
    let limited = [
        ("RATE_LIMITER_REGISTRATION_ENABLED", "true"),
        ("RATE_LIMITER_REGISTRATION_POINTS", "1"),
        ("RATE_LIMITER_REGISTRATION_DURATION", "3"),
    ];
    let Some(stack) = Stack::start_with(Kind::NginxDirectus, "healthy", &limited) else { return };
    let contract = std::fs::read_to_string(Kind::NginxDirectus.contract()).unwrap();
    let per_suite = contract.replace("  mode: disposable\n", "  mode: disposable\n  scope: suite\n");
    // Two suites that need a user each: two registrations within Directus's window.
    let two_users = |p: &Project| {
        let me = std::fs::read_to_string(Kind::NginxDirectus.recipe().join("smoke-suites/me.yaml")).unwrap();
        p.write("suites/me.yaml", &me);
        p.write("suites/me-again.yaml", &me.replace("name: me", "name: me again"))
    };
    let p = Project::new();
    let file = p.write("smokegate.yaml", &per_suite);
    let suites = two_users(&p).parent().unwrap().to_path_buf();
    let o = stack.command(&p, &file, &suites).args(["--jobs", "1"]).output().unwrap();
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}\n{}", stack.logs());
    assert!(out.contains("rate-limited (429); waiting"), "{out}");
    assert_eq!(stack.left(), (0, 0), "{out}");

    let p = Project::new();
    let file = p.write("smokegate.yaml", &per_suite.replace("  scope: suite\n", "  scope: suite\n  rate_limit_wait: 100ms\n"));
    let suites = two_users(&p).parent().unwrap().to_path_buf();
    let o = stack.command(&p, &file, &suites).args(["--jobs", "1"]).output().unwrap();
    let out = text(&o);
    assert_eq!(code(&o), 3, "{out}\n{}", stack.logs());
    assert!(out.contains("longer than `auth.rate_limit_wait` (100 ms) allows"), "{out}");
    assert_eq!(stack.left(), (0, 0), "{out}");
    assert!(p.journal_files().is_empty(), "a 429 created nothing");
}

/// The Cognito preset as written (the contract example) against Apache +
/// mod_auth_openidc verifying the pool's tokens, the pool emulated by moto with SigV4 enforced:
/// green with probes, the user made by two signed admin calls, logged in by `InitiateAuth`,
/// deleted by a signed `AdminDeleteUser` and proven gone by `InitiateAuth` refused; the pool
/// holds no test user after; no fragment of a token, the secret key or a signature in any
/// output. `token.claims.username` is the name the gateway vouched for.
#[test]
fn cognito_preset_is_green_and_leaves_the_pool_empty() {
    let Some(stack) = Stack::start(Kind::ApacheCognito, "healthy") else { return };
    let p = Project::new();
    let suites = p.path().join("suites");
    for f in ["health.yaml", "echo.yaml"] {
        std::fs::create_dir_all(&suites).unwrap();
        std::fs::copy(Kind::ApacheCognito.recipe().join("smoke-suites").join(f), suites.join(f)).unwrap();
    }
    p.write(
        "suites/claims.yaml",
        "name: claims\nsteps:\n  - name: the gateway vouches for the token's user\n    request: { path: /api/whoami }\n    expect:\n      status: 200\n      json:\n        $.remote_user: \"{{ token.claims.username }}\"\n",
    );
    let o = stack.command(&p, &Kind::ApacheCognito.contract(), &suites).args(["--auth-probes", "-vv"]).output().unwrap();
    let out = all_output(&p, &o);
    assert_eq!(code(&o), 0, "{out}\n{}", stack.logs());
    assert!(out.contains("probe: no token") && out.contains("probe: forged signature"), "{out}");
    assert!(out.contains("cleanup: deleted test user"), "{out}");
    assert!(out.contains(&format!("identity provider {}", stack.moto())), "the header line names the pool's endpoint: {out}");
    assert_eq!(stack.left(), (0, 0), "test users left in the pool\n{out}");
    assert!(p.journal_files().is_empty());
    let j = stack.cognito();
    let secret = j["secret_access_key"].as_str().unwrap();
    assert!(!out.contains(secret) && !out.contains(&secret[..12]), "the secret key leaked:\n{out}");
    // A SigV4 signature is 64 hex digits after `Signature=`: none is printed anywhere.
    for (at, _) in out.match_indices("Signature=") {
        let after: String = out[at + "Signature=".len()..].chars().take(64).collect();
        assert!(!(after.len() == 64 && after.chars().all(|c| c.is_ascii_hexdigit())), "a signature in the output: …{after}");
    }
    assert!(out.contains("--aws-sigv4 aws:amz:us-east-1:cognito-idp"), "the replay line signs anew: {out}");
    assert!(!out.contains("eyJ"), "a JWT-shaped string in the output:\n{out}");
}

/// A wrong AWS secret key: moto refuses the signed `AdminCreateUser` (403); the run exits 3,
/// the pool holds nothing, the journal is empty, and the key is not printed.
#[test]
fn cognito_with_a_wrong_key_is_refused_and_creates_nothing() {
    let Some(stack) = Stack::start(Kind::ApacheCognito, "healthy") else { return };
    let p = Project::new();
    let wrong = "wrong-secret-key-0123456789abcdefghij";
    let o = stack
        .command(&p, &Kind::ApacheCognito.contract(), &Kind::ApacheCognito.recipe().join("smoke-suites"))
        .env("AWS_SECRET_ACCESS_KEY", wrong)
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(code(&o), 3, "{out}\n{}", stack.logs());
    assert!(out.contains("AdminCreateUser failed") && out.contains("403"), "{out}");
    assert_eq!(stack.left(), (0, 0), "{out}");
    assert!(p.journal_files().is_empty(), "a refused create leaves nothing to clean up");
    assert!(!out.contains(wrong), "{out}");
}

/// SIGKILL once the user exists: `cleanup` from another folder, in a shell with nothing but
/// the AWS keys (the pool's ids and endpoint are journaled with the identity), deletes it.
#[test]
fn cognito_after_sigkill_cleanup_from_another_shell_empties_the_pool() {
    let Some(stack) = Stack::start(Kind::ApacheCognito, "healthy") else { return };
    let p = Project::new();
    let suite = p.write(
        "suites/slow.yaml",
        "name: slow\nsteps:\n  - request: { path: /api/whoami }\n  - request: { path: /api/whoami }\n    delay: 30s\n",
    );
    let mut c = stack.command(&p, &Kind::ApacheCognito.contract(), &suite);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let logged_in = || {
        p.journal_files()
            .iter()
            .filter_map(|f| std::fs::read(f).ok())
            .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .any(|e| e["logged_in"] == true)
    };
    while !logged_in() {
        assert!(
            Instant::now() < deadline,
            "the run never logged its user in: {:?}\n{}",
            p.journal_files().iter().map(|f| std::fs::read_to_string(f).unwrap_or_default()).collect::<Vec<_>>(),
            stack.logs()
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended early:\n{}", stack.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill").args(["-s", "KILL", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    assert_eq!(stack.cognito_users().len(), 1, "the user exists after the kill");
    let entry: String = p.journal_files().iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect();
    let secret_key = stack.cognito()["secret_access_key"].as_str().unwrap().to_owned();
    assert!(entry.contains("COGNITO_USER_POOL_ID") && entry.contains("AWS_ENDPOINT_URL"), "the pool and its endpoint: {entry}");
    assert!(!entry.contains(&secret_key) && !entry.contains("refresh_token"), "no key, no refresh token in the journal: {entry}");

    let o = stack.cleanup_elsewhere(&p, &[]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}\n{}", stack.logs());
    assert!(out.contains("cleanup: 1 removed, 0 left"), "{out}");
    assert_eq!(stack.left(), (0, 0), "{out}");
    // The killed writer's lock file may stay (`.writer-PID.lock`, swept later): no entry does.
    let entries: Vec<_> = p.journal_files().into_iter().filter(|f| !f.file_name().unwrap().to_string_lossy().starts_with('.')).collect();
    assert!(entries.is_empty(), "{entries:?}");
}

/// Seed 004's service user: its credentials read from the Secrets Manager secret (signed
/// `GetSecretValue`), logged in by `InitiateAuth`; green, and its password is never printed.
/// A gateway that stops verifying tokens is red (`auth-not-enforced`).
#[test]
fn cognito_service_account_from_the_secret_and_a_gateway_that_stops_verifying() {
    let Some(mut stack) = Stack::start(Kind::ApacheCognito, "healthy") else { return };
    let service = Path::new(ROOT).join("tests/fixtures/contract-cognito-service.yaml");
    let p = Project::new();
    let o = stack.run(&p, &service, &["--auth-probes", "-vv"]);
    let out = all_output(&p, &o);
    assert_eq!(code(&o), 0, "{out}\n{}", stack.logs());
    assert!(out.contains("credentials.secret"), "the secret's read is logged: {out}");
    assert!(out.contains("logged in as svc-smokegate"), "a user's name is not a secret: {out}");
    assert!(!out.contains("Svc-Passw0rd!-smoke") && !out.contains("Svc-Passw0rd"), "the service user's password leaked:\n{out}");
    assert_eq!(stack.left(), (0, 0));

    // A secret that does not exist: exit 3, named with the cause's type, nothing sent to the gateway.
    let p = Project::new();
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:smokegate/nope-AbCdEf";
    let o = stack
        .command(&p, &service, &Kind::ApacheCognito.recipe().join("smoke-suites"))
        .env("COGNITO_SERVICE_USER_SECRET_ARN", missing)
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(code(&o), 3, "{out}\n{}", stack.logs());
    assert!(out.contains(&format!("the secret `{missing}` could not be read")) && out.contains("ResourceNotFoundException"), "{out}");

    stack.restart_gateway("auth-off");
    let p = Project::new();
    let o = stack.run(&p, &Kind::ApacheCognito.contract(), &["--auth-probes"]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}\n{}", stack.logs());
    assert_eq!(classes(&p).first().map(String::as_str), Some("auth-not-enforced"), "{out}");
    assert_eq!(stack.left(), (0, 0), "{out}");
}
