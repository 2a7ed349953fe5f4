//! What the platform commands share: the server connection, the async runtime, output.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use oef_client::Client;

use crate::{Failure, Usage};

/// Where the platform is and the API key to use.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// URL of the platform server.
    #[arg(long, global = true, env = "OEF_SERVER", default_value = "http://127.0.0.1:50051", value_name = "URL")]
    pub server: String,

    /// API key of the organization (created with `oef keys create`).
    #[arg(long, global = true, env = "OEF_API_KEY", hide_env_values = true, value_name = "KEY")]
    pub api_key: Option<String>,
}

impl Connection {
    /// Connects with the key.
    pub async fn connect(&self) -> Result<Client> {
        let key = self
            .api_key
            .as_deref()
            .ok_or_else(|| Usage("an API key is required: --api-key KEY or the OEF_API_KEY environment variable".into()))?;
        Ok(Client::connect(&self.server, key).await?)
    }
}

/// Runs `future` on a new multi-threaded runtime.
pub fn block_on<F: std::future::Future<Output = Result<ExitCode>>>(future: F) -> Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?.block_on(future)
}

/// Structured logs on stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// A server error as a failure (exit 1) with the status and its field violations.
pub fn failure(error: oef_client::ClientError) -> anyhow::Error {
    use tonic_types::StatusExt as _;
    let mut message = error.to_string();
    if let Some(bad) = error.status().and_then(|s| s.get_details_bad_request()) {
        for v in bad.field_violations {
            if v.field.is_empty() {
                // The server lists what fits in a status; `oef validate` has no such limit.
                message.push_str(&format!("\n  {} (`oef validate FILE` lists every problem)", v.description));
            } else {
                message.push_str(&format!("\n  {}: {}", v.field, v.description));
            }
        }
    }
    Failure(message).into()
}

/// Prints a message as proto3 JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
