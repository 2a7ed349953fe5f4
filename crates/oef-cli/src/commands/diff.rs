//! `oef diff`: structural difference of two experiments by dotted field path.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use oef_builder::ExperimentBuilder;
use oef_proto::{
    codec::{self, FORMAT_V0},
    descriptor, diff,
};
use prost::Message;
use prost_reflect::{DynamicMessage, Value};

use crate::{Failure, Usage, io};

const EXAMPLES: &str = "\
Examples:
  oef diff a.pb b.json                     # any encodings, same format version
  oef diff run.pb --against-default --architecture image_detection.pretraining_natural_rgb.ssd.mobilenet_v1
  oef diff a.pb b.pb --json

Prints one line per differing field path: `path: left -> right` (`(unset)` when absent on one
side). Against the default, the default experiment is built with the file's dataset
config_path, so only real overrides show. Exit status (like diff(1)): 0 no difference,
1 differences found, 2 trouble (unreadable or invalid input, usage error).";

/// Compare two experiments, or one with its architecture's default, by field path.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// First experiment file.
    pub left: PathBuf,

    /// Second experiment file (omit with --against-default).
    #[arg(required_unless_present = "against_default", conflicts_with = "against_default")]
    pub right: Option<PathBuf>,

    /// Compare LEFT with the default experiment of its architecture.
    #[arg(long)]
    pub against_default: bool,

    /// The architecture of LEFT for --against-default (a v1 file records its own).
    #[arg(long, value_name = "KEY")]
    pub architecture: Option<String>,

    /// Print the differences as JSON.
    #[arg(long)]
    pub json: bool,
}

struct Loaded {
    version: u32,
    root: DynamicMessage,
}

fn load(path: &std::path::Path) -> Result<Loaded> {
    let bytes = io::read_input(path)?;
    let (detected, root) = codec::decode(&bytes).map_err(|e| Usage(format!("{}: {e}", path.display())))?;
    Ok(Loaded { version: detected.version, root })
}

/// The experiment inside a root message (v0: the root itself; v1: `ExperimentFile.experiment`).
fn experiment(loaded: &Loaded) -> DynamicMessage {
    if loaded.version == FORMAT_V0 {
        return loaded.root.clone();
    }
    match loaded.root.get_field_by_name("experiment").as_deref() {
        Some(Value::Message(m)) => m.clone(),
        _ => DynamicMessage::new(descriptor::v1_experiment()),
    }
}

fn default_for(left: &Loaded, architecture: Option<&str>) -> Result<Loaded> {
    let key = match (architecture, left.version) {
        (Some(key), _) => key.to_owned(),
        (None, FORMAT_V0) => {
            return Err(Usage("--against-default on a format v0 file needs --architecture KEY".into()).into());
        }
        (None, _) => match left.root.get_field_by_name("architecture").as_deref() {
            Some(Value::String(key)) if !key.is_empty() => key.clone(),
            _ => return Err(Usage("the file records no architecture; give --architecture KEY".into()).into()),
        },
    };
    if left.version != FORMAT_V0 {
        return Err(Failure("--against-default supports format v0 files in this build".into()).into());
    }
    let config_path = experiment(left)
        .get_field_by_name("dataset")
        .and_then(|d| d.as_message().and_then(|m| m.get_field_by_name("config_path").and_then(|v| v.as_str().map(str::to_owned))))
        .unwrap_or_default();
    let built = ExperimentBuilder::new(&key)
        .map_err(|e| Failure(e.to_string()))?
        .set("config_path", serde_json::Value::String(config_path))
        .build()
        .map_err(|e| Failure(format!("building the default of {key}: {e}")))?;
    let root = DynamicMessage::decode(descriptor::v0_experiment(), built.encode_to_vec().as_slice())?;
    Ok(Loaded { version: FORMAT_V0, root })
}

/// Runs `oef diff`.
pub fn run(args: Args) -> Result<ExitCode> {
    let left = load(&args.left)?;
    let right = match &args.right {
        Some(path) => load(path)?,
        None => default_for(&left, args.architecture.as_deref())?,
    };
    if left.version != right.version {
        return Err(Usage(format!(
            "cannot compare format v{} with format v{}: migrate one first (oef-migrate --to N)",
            left.version, right.version
        ))
        .into());
    }
    let differences = diff::diff(&left.root, &right.root);
    if args.json {
        io::print_line(&serde_json::to_string_pretty(&differences)?)?;
    } else {
        for d in &differences {
            io::print_line(&format!(
                "{}: {} -> {}",
                d.path,
                d.left.as_deref().unwrap_or("(unset)"),
                d.right.as_deref().unwrap_or("(unset)")
            ))?;
        }
    }
    Ok(if differences.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
