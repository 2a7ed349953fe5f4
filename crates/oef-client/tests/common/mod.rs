//! Test harness: real server processes on loopback, over SQLite (a temporary file) and, when
//! `OEF_TEST_POSTGRES_URL` is set, PostgreSQL.
//!
//! The server process is this test binary itself, re-executed to run the ignored test
//! `serve_child` with `OEF_TEST_SERVE_DB` set: a real process that can be killed with SIGKILL.

#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use oef_client::Client;
use oef_proto::v1;

/// Environment of the server child: its database URL.
pub const SERVE_DB: &str = "OEF_TEST_SERVE_DB";
/// Environment of the server child: message size limit.
pub const SERVE_MAX_MESSAGE: &str = "OEF_TEST_SERVE_MAX_MESSAGE";

/// The body of the `serve_child` test: serves until SIGTERM, printing `LISTENING <addr>`.
pub fn serve_child() {
    let Ok(db) = std::env::var(SERVE_DB) else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("LISTENING {}", listener.local_addr().expect("address"));
        let mut config = oef_platform::ServerConfig::new(db);
        config.lease_check_interval = Duration::from_millis(200);
        if let Ok(max) = std::env::var(SERVE_MAX_MESSAGE) {
            config.max_message_size = max.parse().expect("size");
        }
        oef_platform::serve(config, Arc::new(oef_platform::DefaultResolver), listener, oef_platform::shutdown_signal())
            .await
            .expect("serve");
    });
}

/// A database for one test.
pub struct Database {
    /// Its URL.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// The databases to run a test on: SQLite always, PostgreSQL when configured.
pub fn databases() -> Vec<Database> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("oef.db").display());
    let mut out = vec![Database { url, _dir: Some(dir) }];
    if let Ok(url) = std::env::var("OEF_TEST_POSTGRES_URL") {
        if !url.is_empty() {
            out.push(Database { url, _dir: None });
        }
    }
    out
}

/// A server process.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Server {
    /// Starts a server process on `db`.
    pub fn start(db: &str, env: &[(&str, String)]) -> Server {
        let exe = std::env::current_exe().expect("test binary");
        let mut command = Command::new(exe);
        command
            .args(["serve_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(SERVE_DB, db)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let line = lines.next().expect("server exited before listening").expect("read");
            // libtest prints "test serve_child ... " before the child's own output.
            if let Some((_, address)) = line.split_once("LISTENING ") {
                break address.trim().to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url: format!("http://{address}") }
    }

    /// SIGKILL, then reaps the process.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().expect("wait")
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A fresh random organization name (tests share PostgreSQL databases).
pub fn org() -> String {
    format!("org-{}", oef_platform::auth::generate_key().trim_start_matches("oef_").get(..12).unwrap_or("x"))
}

/// Creates an API key of `org` in `db`.
pub async fn key(db: &str, org: &str) -> String {
    let store = oef_platform::store::open(db).await.expect("open store");
    oef_platform::auth::create_api_key(store.as_ref(), org, "test").await.expect("create key")
}

/// The architecture of the test experiments.
pub const ARCHITECTURE: &str = "image_classification.pretraining_natural_rgb.softmax.efficientnet_b0";

/// The dataset configuration of the test experiments.
pub const CONFIG_PATH: &str = "gs://test/dataset.prototxt";

/// The v1 file of [`ARCHITECTURE`]'s defaults (every value stated, as format v1 requires), built
/// once by the platform's own resolver.
pub fn default_file() -> &'static v1::ExperimentFile {
    use oef_platform::resolve::Resolver as _;
    static FILE: std::sync::OnceLock<v1::ExperimentFile> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let overrides = [("config_path".to_owned(), serde_json::json!(CONFIG_PATH))].into_iter().collect();
        oef_platform::resolve::DefaultResolver.build(ARCHITECTURE, &overrides, &Default::default()).expect("default file")
    })
}

/// A valid v1 experiment file, distinct per seed.
pub fn experiment(seed: i32) -> v1::ExperimentFile {
    let mut file = default_file().clone();
    if let Some(experiment) = file.experiment.as_mut() {
        experiment.seed = Some(seed);
    }
    file
}

/// A launch request of `experiment(seed)` on `dataset`.
pub fn launch(dataset: &str, seed: i32) -> v1::LaunchExperimentRequest {
    v1::LaunchExperimentRequest {
        dataset: dataset.into(),
        experiment: Some(v1::launch_experiment_request::Experiment::File(experiment(seed))),
        ..Default::default()
    }
}

/// A server on a database with one organization and its key, and a client.
pub struct Env {
    /// The server process.
    pub server: Server,
    /// The organization.
    pub org: String,
    /// Its key.
    pub key: String,
    /// A client with that key.
    pub client: Client,
}

impl Env {
    /// Starts a server on `db` with a new organization.
    pub async fn new(db: &Database) -> Env {
        Self::with(db, &[]).await
    }

    /// Same, with extra environment for the server.
    pub async fn with(db: &Database, env: &[(&str, String)]) -> Env {
        let org = org();
        let key = key(&db.url, &org).await;
        let server = Server::start(&db.url, env);
        let client = Client::connect(&server.url, &key).await.expect("connect");
        Env { server, org, key, client }
    }
}

/// The BadRequest field paths of an INVALID_ARGUMENT status.
pub fn violations(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// The status of a failed client call.
pub fn status(result: Result<impl std::fmt::Debug, oef_client::ClientError>) -> tonic::Status {
    match result {
        Err(oef_client::ClientError::Status(status)) => status,
        other => panic!("expected an error status, got {other:?}"),
    }
}
