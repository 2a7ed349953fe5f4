//! The worker loop: claim a training, run a command on it, report, repeat.
//!
//! For each claimed training the worker writes the experiment file (binary
//! `oef.v1.ExperimentFile`) into its work directory and runs the command with `sh -c`, with
//! [`ENV_EXPERIMENT_FILE`], [`ENV_TRAINING_ID`] and [`ENV_EXPERIMENT_ID`] in its environment.
//! While it runs, the worker heartbeats (a third of the lease), forwards every stdout line
//! `metric NAME STEP VALUE` as ReportMetrics (other lines are copied to its own stdout), and
//! kills the command if the lease is lost (training cancelled, or lease expired and claimed
//! again). When the command exits the training is completed (exit status 0) or failed.

use std::{future::Future, path::PathBuf, pin::pin, process::Stdio, time::Duration};

use oef_proto::v1;
use prost::Message as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::{Client, ClientError};

/// Environment variable with the path of the experiment file.
pub const ENV_EXPERIMENT_FILE: &str = "OEF_EXPERIMENT_FILE";
/// Environment variable with the training id.
pub const ENV_TRAINING_ID: &str = "OEF_TRAINING_ID";
/// Environment variable with the experiment id.
pub const ENV_EXPERIMENT_ID: &str = "OEF_EXPERIMENT_ID";

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Name recorded on the trainings it claims.
    pub worker_id: String,
    /// The command, run with `sh -c`.
    pub command: String,
    /// Lease asked for; heartbeats every third of it.
    pub lease: Duration,
    /// Wait between two claims when none is queued.
    pub poll_interval: Duration,
    /// Where experiment files are written.
    pub work_dir: PathBuf,
    /// Stop after this many trainings.
    pub max_trainings: Option<usize>,
    /// Stop as soon as no training is queued.
    pub exit_when_idle: bool,
}

impl WorkerConfig {
    /// Defaults for a command: 60 s lease, 1 s poll, the system temporary directory, run forever.
    pub fn new(worker_id: impl Into<String>, command: impl Into<String>) -> Self {
        Self {
            worker_id: worker_id.into(),
            command: command.into(),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            work_dir: std::env::temp_dir(),
            max_trainings: None,
            exit_when_idle: false,
        }
    }
}

/// How one training ended on this worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command exited with status 0; the training is succeeded.
    Succeeded,
    /// The command failed; the training is failed with this message.
    Failed(String),
    /// The lease was lost (cancelled, expired); the command was killed.
    LeaseLost(String),
}

/// One training run by the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The training.
    pub training_id: String,
    /// How it ended.
    pub outcome: Outcome,
}

/// Parses a `metric NAME STEP VALUE` line.
pub fn parse_metric(line: &str) -> Option<v1::Metric> {
    let mut parts = line.split_whitespace();
    if parts.next()? != "metric" {
        return None;
    }
    let name = parts.next()?.to_owned();
    let step = parts.next()?.parse().ok()?;
    let value: f64 = parts.next()?.parse().ok()?;
    (parts.next().is_none() && value.is_finite()).then_some(v1::Metric { name, step, value })
}

/// Runs trainings until `stop` completes (after the current training), `max_trainings` are
/// done, or (with `exit_when_idle`) none is queued. Returns the runs.
pub async fn run(mut client: Client, config: &WorkerConfig, stop: impl Future<Output = ()>) -> Result<Vec<Run>, ClientError> {
    let mut stop = pin!(stop);
    let mut runs = Vec::new();
    loop {
        if config.max_trainings.is_some_and(|max| runs.len() >= max) {
            return Ok(runs);
        }
        let Some(claim) = client.claim(&config.worker_id, config.lease).await? else {
            if config.exit_when_idle {
                return Ok(runs);
            }
            tokio::select! {
                () = tokio::time::sleep(config.poll_interval) => continue,
                () = &mut stop => return Ok(runs),
            }
        };
        runs.push(run_one(&mut client, config, claim).await?);
        // Stop between trainings if asked to.
        if futures_ready(&mut stop).await {
            return Ok(runs);
        }
    }
}

async fn futures_ready(stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
    tokio::select! {
        biased;
        () = stop.as_mut() => true,
        () = std::future::ready(()) => false,
    }
}

async fn run_one(client: &mut Client, config: &WorkerConfig, claim: v1::ClaimTrainingResponse) -> Result<Run, ClientError> {
    let training = claim.training.ok_or(ClientError::Malformed("training"))?;
    let id = training.training_id.clone();
    let lease_id = claim.lease_id;
    let file = claim.experiment.unwrap_or_default();
    tokio::fs::create_dir_all(&config.work_dir)
        .await
        .map_err(|e| ClientError::io(format!("creating {}", config.work_dir.display()), e))?;
    let path = config.work_dir.join(format!("{id}.pb"));
    tokio::fs::write(&path, file.encode_to_vec())
        .await
        .map_err(|e| ClientError::io(format!("writing {}", path.display()), e))?;
    tracing::info!(training = %id, file = %path.display(), "running");

    let spawned = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&config.command)
        .env(ENV_EXPERIMENT_FILE, &path)
        .env(ENV_TRAINING_ID, &id)
        .env(ENV_EXPERIMENT_ID, &training.experiment_id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let message = format!("cannot run {:?}: {e}", config.command);
            client.fail(&id, &lease_id, &message).await?;
            let _ = tokio::fs::remove_file(&path).await;
            return Ok(Run { training_id: id, outcome: Outcome::Failed(message) });
        }
    };
    let mut lines = child.stdout.take().map(|out| BufReader::new(out).lines());
    let mut heartbeat = tokio::time::interval((config.lease / 3).max(Duration::from_millis(100)));
    heartbeat.tick().await; // the first tick is immediate
    let mut flush = tokio::time::interval(Duration::from_millis(200));
    let mut pending: Vec<v1::Metric> = Vec::new();
    let lost = |e: &ClientError| {
        e.status().is_some_and(|s| matches!(s.code(), tonic::Code::FailedPrecondition | tonic::Code::NotFound))
    };

    let status = loop {
        tokio::select! {
            line = async { match lines.as_mut() { Some(l) => l.next_line().await, None => Ok(None) } }, if lines.is_some() => {
                match line {
                    Ok(Some(line)) => match parse_metric(&line) {
                        Some(metric) => pending.push(metric),
                        None => println!("{line}"),
                    },
                    _ => lines = None,
                }
            }
            status = child.wait(), if lines.is_none() => break status,
            _ = heartbeat.tick() => {
                if let Err(e) = client.heartbeat(&id, &lease_id, config.lease).await {
                    if lost(&e) {
                        let _ = child.kill().await;
                        let _ = tokio::fs::remove_file(&path).await;
                        tracing::warn!(training = %id, error = %e, "lease lost; command killed");
                        return Ok(Run { training_id: id, outcome: Outcome::LeaseLost(e.to_string()) });
                    }
                    tracing::warn!(training = %id, error = %e, "heartbeat failed; retrying");
                }
            }
            _ = flush.tick(), if !pending.is_empty() => {
                let metrics = std::mem::take(&mut pending);
                if let Err(e) = client.report_metrics(&id, &lease_id, metrics).await {
                    if lost(&e) {
                        let _ = child.kill().await;
                        let _ = tokio::fs::remove_file(&path).await;
                        return Ok(Run { training_id: id, outcome: Outcome::LeaseLost(e.to_string()) });
                    }
                    tracing::warn!(training = %id, error = %e, "metrics not reported");
                }
            }
        }
    };
    let _ = tokio::fs::remove_file(&path).await;
    if !pending.is_empty() {
        client.report_metrics(&id, &lease_id, pending).await?;
    }
    let status = status.map_err(|e| ClientError::io("waiting for the command", e))?;
    let outcome = if status.success() {
        client.complete(&id, &lease_id, "exit status 0").await?;
        Outcome::Succeeded
    } else {
        let message = format!("command exited with {status}");
        client.fail(&id, &lease_id, &message).await?;
        Outcome::Failed(message)
    };
    tracing::info!(training = %id, outcome = ?outcome, "done");
    Ok(Run { training_id: id, outcome })
}

#[cfg(test)]
mod tests {
    use super::parse_metric;

    #[test]
    fn metric_lines() {
        let m = parse_metric("metric loss 10 0.5").expect("a metric");
        assert_eq!((m.name.as_str(), m.step, m.value), ("loss", 10, 0.5));
        assert!(parse_metric("metric loss 10").is_none());
        assert!(parse_metric("metric loss x 1").is_none());
        assert!(parse_metric("metric loss 1 NaN").is_none());
        assert!(parse_metric("epoch 1 done").is_none());
    }
}
