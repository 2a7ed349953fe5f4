//! `oef serve`: the platform service (gRPC), on SQLite by default.

use std::{process::ExitCode, sync::Arc};

use anyhow::{Context as _, Result};
use oef_platform::{DefaultResolver, ServerConfig};

use super::remote;

/// Run the platform service: LaunchExperiment and the training queue over gRPC.
///
/// Every write is durable (committed, fsynced) before its reply. SIGTERM or Ctrl-C stops
/// accepting calls and finishes those in flight. Logs go to stderr (RUST_LOG filters them).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Database: sqlite://PATH (created if missing) or postgres://USER:PASSWORD@HOST:PORT/DB.
    #[arg(long, env = "OEF_DB", default_value = "sqlite://oef.db", value_name = "URL")]
    pub db: String,

    /// Address to listen on.
    #[arg(long, env = "OEF_LISTEN", default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
    pub listen: String,

    /// Largest message accepted, in bytes; larger requests fail with RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = oef_platform::server::DEFAULT_MAX_MESSAGE_SIZE, value_name = "BYTES")]
    pub max_message_size: usize,
}

/// Runs `oef serve`.
pub fn run(args: Args) -> Result<ExitCode> {
    remote::init_logs();
    remote::block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let mut config = ServerConfig::new(args.db);
        config.max_message_size = args.max_message_size;
        oef_platform::serve(config, Arc::new(DefaultResolver), listener, oef_platform::shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}
