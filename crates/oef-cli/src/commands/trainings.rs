//! `oef trainings`: list, get, watch and cancel trainings.

use std::process::ExitCode;

use anyhow::Result;
use oef_proto::v1::{self, TrainingStatus};

use super::remote;
use crate::Usage;

/// List, inspect, follow and cancel the trainings of your organization.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub connection: remote::Connection,
}

/// A `trainings` subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List trainings, newest first (JSON lines, one training each).
    List {
        /// Only this status: queued, running, succeeded, failed, cancelled (repeatable).
        #[arg(long = "status", value_name = "STATUS")]
        statuses: Vec<String>,
        /// Only this architecture key.
        #[arg(long, default_value = "")]
        architecture: String,
        /// Only trainings with this tag.
        #[arg(long, default_value = "")]
        tag: String,
        /// Only this dataset.
        #[arg(long, default_value = "")]
        dataset: String,
        /// At most this many trainings (all pages are fetched up to it).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one training (JSON).
    Get {
        /// Training id.
        id: String,
        /// Include its resolved experiment file.
        #[arg(long)]
        experiment: bool,
    },
    /// Stream a training's status changes and metrics until it finishes (JSON lines).
    Watch {
        /// Training id.
        id: String,
        /// Resume after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// Cancel a queued or running training.
    Cancel {
        /// Training id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
}

fn parse_status(name: &str) -> Result<i32> {
    let upper = format!("TRAINING_STATUS_{}", name.to_ascii_uppercase());
    TrainingStatus::from_str_name(&upper)
        .map(|s| s as i32)
        .ok_or_else(|| Usage(format!("unknown status {name:?}")).into())
}

/// Runs `oef trainings`.
pub fn run(args: Args) -> Result<ExitCode> {
    remote::block_on(async move {
        let mut client = args.connection.connect().await?;
        match args.command {
            Command::List { statuses, architecture, tag, dataset, limit } => {
                let statuses = statuses.iter().map(|s| parse_status(s)).collect::<Result<Vec<_>>>()?;
                let mut token = String::new();
                let mut printed = 0;
                while printed < limit {
                    let request = v1::ListTrainingsRequest {
                        statuses: statuses.clone(),
                        architecture: architecture.clone(),
                        tag: tag.clone(),
                        dataset: dataset.clone(),
                        page_size: i32::try_from((limit - printed).min(1000)).unwrap_or(1000),
                        page_token: token,
                    };
                    let page = client.list_trainings(request).await.map_err(remote::failure)?;
                    for training in &page.trainings {
                        println!("{}", serde_json::to_string(training)?);
                        printed += 1;
                    }
                    if page.next_page_token.is_empty() || page.trainings.is_empty() {
                        break;
                    }
                    token = page.next_page_token;
                }
            }
            Command::Get { id, experiment } => {
                let response = client.get_training(&id, experiment).await.map_err(remote::failure)?;
                remote::print_json(&response)?;
            }
            Command::Watch { id, after } => {
                let mut stream = client.watch_training(&id, after).await.map_err(remote::failure)?;
                while let Some(event) = stream.message().await.map_err(|s| remote::failure(s.into()))? {
                    println!("{}", serde_json::to_string(&event)?);
                }
            }
            Command::Cancel { id, reason } => {
                let training = client.cancel_training(&id, &reason).await.map_err(remote::failure)?;
                remote::print_json(&training)?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
