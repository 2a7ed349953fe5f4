//! `oef worker`: run queued trainings with a command.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Result;
use oef_client::worker::{self, WorkerConfig};

use super::remote;

/// Claim queued trainings of your organization and run CMD on each (`sh -c CMD`).
///
/// CMD gets OEF_EXPERIMENT_FILE (the experiment, a binary oef.v1.ExperimentFile),
/// OEF_TRAINING_ID and OEF_EXPERIMENT_ID in its environment. Lines `metric NAME STEP VALUE` it
/// prints are reported as metrics; its exit status completes (0) or fails the training. The
/// lease is renewed while CMD runs; CMD is killed if the training is cancelled.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The command to run for each training.
    #[arg(long = "exec", value_name = "CMD")]
    pub exec: String,

    /// Name of this worker [default: worker-<hostname>-<pid>].
    #[arg(long)]
    pub worker_id: Option<String>,

    /// Lease duration in seconds (heartbeats every third of it).
    #[arg(long, default_value_t = 60)]
    pub lease_secs: u64,

    /// Where experiment files are written [default: the temporary directory].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,

    /// Run one training, then exit.
    #[arg(long)]
    pub once: bool,

    /// Exit when no training is queued instead of waiting for one.
    #[arg(long)]
    pub exit_when_idle: bool,

    #[command(flatten)]
    pub connection: remote::Connection,
}

/// Runs `oef worker`.
pub fn run(args: Args) -> Result<ExitCode> {
    remote::init_logs();
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let worker_id = args.worker_id.unwrap_or_else(|| format!("worker-{host}-{}", std::process::id()));
    let mut config = WorkerConfig::new(worker_id, args.exec);
    config.lease = Duration::from_secs(args.lease_secs.clamp(3, 3600));
    if let Some(dir) = args.work_dir {
        config.work_dir = dir;
    }
    config.max_trainings = args.once.then_some(1);
    config.exit_when_idle = args.exit_when_idle;
    remote::block_on(async move {
        let client = args.connection.connect().await?;
        let runs = worker::run(client, &config, oef_platform::shutdown_signal()).await.map_err(remote::failure)?;
        let failed = runs.iter().filter(|r| r.outcome != worker::Outcome::Succeeded).count();
        eprintln!("{} training(s) run, {failed} not succeeded", runs.len());
        Ok(ExitCode::SUCCESS)
    })
}
