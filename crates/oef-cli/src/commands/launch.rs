//! `oef launch`: launch a training on the platform.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context as _, Result};
use oef_proto::v1::{self, launch_experiment_request::Experiment};

use super::remote;
use crate::{Usage, io};

const EXAMPLES: &str = "\
Examples:
  oef launch experiment.pb --org acme --dataset cats --view v1 --tag nightly
  oef launch --model image_classification.pretraining_natural_rgb.softmax.efficientnet_b0 \\
      --set config_path=gs://bucket/cats/config.prototxt --set batch_size=16 \\
      --hp trainer.initial_learning_rate --org acme --dataset cats

Prints the training as JSON. Launching an experiment again on the same dataset view returns
the existing training (\"created\": false) unless --force-new.";

/// Launch a training of an experiment (a file, v0 or v1, any encoding; or an architecture key
/// and overrides) on a dataset view.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Experiment file (v0 or v1; binary, JSON or text, detected from content).
    #[arg(required_unless_present = "model", conflicts_with = "model")]
    pub file: Option<PathBuf>,

    /// Architecture key to build the experiment from (see `oef models`).
    #[arg(long, value_name = "KEY")]
    pub model: Option<String>,

    /// With --model: set NAME to VALUE, as `oef build --set` (VALUE is JSON when it parses).
    #[arg(long = "set", value_name = "NAME=VALUE", requires = "model")]
    pub set: Vec<String>,

    /// With --model: search hyperparameter PATH, as `oef build --hp` (DISTRIBUTION_JSON is the
    /// proto3 JSON of a HyperParameter; without it, the schema's search space for PATH).
    #[arg(long = "hp", value_name = "PATH[=DISTRIBUTION_JSON]", requires = "model")]
    pub hp: Vec<String>,

    /// The organization (must be the API key's).
    #[arg(long)]
    pub org: String,

    /// The dataset to train on.
    #[arg(long)]
    pub dataset: String,

    /// The dataset view.
    #[arg(long, default_value = "")]
    pub view: String,

    /// A tag to find the training by (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Create a new training even if this experiment was launched on this view.
    #[arg(long)]
    pub force_new: bool,

    /// Idempotency key: a retry with the same id returns the first launch's training.
    #[arg(long, value_name = "ID", default_value = "")]
    pub request_id: String,

    #[command(flatten)]
    pub connection: remote::Connection,
}

/// Runs `oef launch`.
pub fn run(args: Args) -> Result<ExitCode> {
    let experiment = match (&args.file, &args.model) {
        (Some(path), _) => {
            let content = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Experiment::Serialized(v1::SerializedExperiment { content, encoding: 0 })
        }
        (None, Some(key)) => {
            let mut overrides = std::collections::BTreeMap::new();
            for arg in &args.set {
                let (name, value) = io::split_assignment(arg, "--set")?;
                let value = value.ok_or_else(|| Usage(format!("--set {arg:?}: expected NAME=VALUE")))?;
                let value: pbjson_types::Value = serde_json::from_value(io::parse_value(&value))
                    .with_context(|| format!("--set {name}"))?;
                overrides.insert(name, value);
            }
            let mut hyperparameters = std::collections::BTreeMap::new();
            for arg in &args.hp {
                let (path, distribution) = io::parse_hp(arg)?;
                let distribution: v1::HyperParameter = match distribution {
                    Some(json) => serde_json::from_value(json)
                        .map_err(|e| Usage(format!("--hp {path}: the distribution is not a HyperParameter: {e}")))?,
                    None => v1::HyperParameter::default(),
                };
                hyperparameters.insert(path, distribution);
            }
            Experiment::Architecture(v1::ArchitectureExperiment { architecture: key.clone(), overrides, hyperparameters })
        }
        (None, None) => return Err(Usage("give an experiment FILE or --model KEY".into()).into()),
    };
    let request = v1::LaunchExperimentRequest {
        org: args.org,
        dataset: args.dataset,
        view_id: args.view,
        experiment: Some(experiment),
        tags: args.tags,
        force_new: args.force_new,
        request_id: args.request_id,
    };
    remote::block_on(async move {
        let mut client = args.connection.connect().await?;
        let response = client.launch(request).await.map_err(remote::failure)?;
        remote::print_json(&response)?;
        Ok(ExitCode::SUCCESS)
    })
}
