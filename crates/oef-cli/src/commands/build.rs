//! `oef build`: one experiment from an architecture key and overrides.

use std::{path::PathBuf, process::ExitCode};

use std::{sync::Arc, time::SystemTime};

use anyhow::Result;
use oef_builder::{BuildError, ExperimentBuilder};
use oef_migrations::{
    ArchitectureDefaults, ArchitectureIndex, Document, Registry, StepContext, Tool,
    architecture::ArchitectureError, snapshot,
};
use oef_proto::{codec, v0};
use prost::Message;
use prost_reflect::{DynamicMessage, Value};

use crate::{
    Failure, Usage,
    io::{self, Format},
};

const EXAMPLES: &str = "\
Examples:
  oef build image_classification.pretraining_natural_rgb.softmax.efficientnet_b0 \\
      --set config_path=gs://bucket/dataset/config.prototxt
  oef build image_detection.pretraining_natural_rgb.ssd.mobilenet_v1 \\
      --set config_path=gs://b/c.prototxt --set batch_size=8 \\
      --set 'optimizer={\"adam_optimizer\":{}}' --hp trainer.initial_learning_rate -o exp.pb
  oef build KEY --set config_path=gs://b/c.prototxt \\
      --hp 'trainer.batch_size={\"categorical\":{\"values\":[{\"integerValue\":8},{\"integerValue\":16}]}}'

Exit status: 0 built, 1 the experiment is invalid (reason on stderr, nothing written),
2 usage error.";

/// Build the experiment of an architecture, with overrides.
///
/// Overrides are names, not paths: `--set batch_size=8` is offered to every field named
/// `batch_size` on the built experiment, at any depth. A JSON object sets a message, and naming
/// a oneof member selects it (`--set 'adam_optimizer={}'`).
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Architecture key, task.pretraining.meta_arch.backbone (list them with `oef models`).
    pub key: String,

    /// Set NAME to VALUE. NAME is everything before the first `=`, kept exactly; VALUE is
    /// parsed as JSON when it parses, else taken as a string.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,

    /// Add the hyperparameter at the dotted PATH to the search space, with the given
    /// distribution (proto3 JSON of a HyperParameter) or the field's default one.
    #[arg(long = "hp", value_name = "PATH[=DISTRIBUTION_JSON]")]
    pub hp: Vec<String>,

    /// Format version of the output: 1 (oef.v1 ExperimentFile: every value explicit, the
    /// architecture recorded, explicit values checked against their search spaces) or 0 (the
    /// deepomatic-oef Experiment, byte for byte what deepomatic-oef 0.23.1 builds).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1))]
    pub format_version: u32,

    /// Output encoding [default: from the -o extension, else json].
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Write to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Applies `--set` and `--hp` arguments to a builder.
pub fn configure(mut builder: ExperimentBuilder, set: &[String], hp: &[String]) -> Result<ExperimentBuilder> {
    for arg in set {
        let (name, value) = io::split_assignment(arg, "--set")?;
        let value = value.ok_or_else(|| Usage(format!("--set {arg:?}: expected NAME=VALUE")))?;
        builder = builder.set(name, io::parse_value(&value));
    }
    for arg in hp {
        let (path, distribution) = io::parse_hp(arg)?;
        builder = builder.hyperparameter_json(&path, distribution.as_ref());
    }
    Ok(builder)
}

/// Builds and encodes one experiment in the requested version and encoding.
pub fn build_bytes(
    key: &str,
    set: &[String],
    hp: &[String],
    format_version: u32,
    encoding: codec::Encoding,
) -> Result<Vec<u8>> {
    let builder = ExperimentBuilder::new(key).map_err(|e| Failure(e.to_string()))?;
    build_bytes_with(builder, set, hp, format_version, encoding)
}

/// [`build_bytes`] from a builder already made (e.g. from an owned architecture).
pub fn build_bytes_with(
    builder: ExperimentBuilder,
    set: &[String],
    hp: &[String],
    format_version: u32,
    encoding: codec::Encoding,
) -> Result<Vec<u8>> {
    let builder = configure(builder, set, hp)?;
    let experiment = builder.build().map_err(build_failure)?;
    match format_version {
        0 => Ok(codec::encode_v0(&experiment, encoding)?),
        _ => {
            let file = to_v1_file(builder.architecture().key.as_str(), &experiment)?;
            Ok(oef_migrations::document::encode(&file, encoding)?)
        }
    }
}

/// A build error as the command reports it: the builder's message, and for required fields
/// left unset the `--set` that gives them a value (the field's name reaches it from the top:
/// keyword names are offered to the whole tree).
pub fn build_failure(error: BuildError) -> Failure {
    let mut message = error.to_string();
    if let BuildError::MissingRequired { fields, .. } = &error {
        let names: Vec<String> = fields
            .iter()
            .map(|path| format!("--set {}=VALUE", path.rsplit('.').next().unwrap_or(path)))
            .collect();
        let what = if names.len() == 1 { "give it a value" } else { "give them values" };
        message.push_str(&format!("\nhint: {what} with {}", names.join(" ")));
    }
    Failure(message)
}

/// Loads what a build needs, in parallel: the builder's schema (the descriptor pool) and, for
/// format v1, the migration snapshots on a second thread, the catalog on this one. Each is
/// loaded once per process (lazily); doing it here only overlaps the waits, and a failure is
/// left to the first real use to report.
pub fn load_schemas_and_catalog(format_version: u32) {
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _ = oef_builder::schema::Schema::v0();
            if format_version >= 1 {
                let _ = snapshot::root_message(0);
                let _ = snapshot::root_message(1);
            }
        });
        let _ = oef_catalog::Catalog::global();
    });
}

/// The one architecture a build comes from: v0 → v1 records this key without inference.
struct Built {
    key: String,
    experiment: v0::Experiment,
}

impl ArchitectureDefaults for Built {
    fn defaults(&self) -> Result<Vec<(String, v0::Experiment)>, ArchitectureError> {
        Ok(vec![(self.key.clone(), self.experiment.clone())])
    }
}

/// Converts a built v0 experiment to a v1 file with the v0 → v1 migration step (every default
/// made explicit, enums mapped), then makes it a file written as v1 from the start: written by
/// `oef`, no migration provenance. Unlike format v0, every value at a hyperparameter path is
/// checked against its search space, whatever set it (defaults and oneof shortcuts included).
pub fn to_v1_file(key: &str, experiment: &v0::Experiment) -> Result<Document> {
    let root = snapshot::root_message(0).ok_or_else(|| Failure("no v0 schema snapshot".into()))?;
    let message = DynamicMessage::decode(root, experiment.encode_to_vec().as_slice())?;
    let index = ArchitectureIndex::new(Built { key: key.to_owned(), experiment: experiment.clone() });
    let registry = Registry::standard(Arc::new(index));
    let tool = Tool { name: "oef".into(), version: env!("CARGO_PKG_VERSION").into() };
    let context = StepContext {
        source_sha256: String::new(),
        tool,
        time: SystemTime::UNIX_EPOCH,
        architecture: Some(key.to_owned()),
    };
    let mut file = registry
        .migrate(&Document { version: 0, message }, 1, &context)
        .map_err(|e| Failure(format!("architecture '{key}': {e}")))?;
    file.message.clear_field_by_name("migrations");
    if let Some(Value::Message(v1)) = file.message.get_field_by_name("experiment").as_deref() {
        let problems = oef_builder::validate::search_spaces(v1);
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.path, p.reason)).collect();
            return Err(Failure(format!(
                "architecture '{key}': outside the search space (format v1 checks every value): {}",
                list.join("; ")
            ))
            .into());
        }
    }
    Ok(file)
}

/// Runs `oef build`.
pub fn run(args: Args) -> Result<ExitCode> {
    let encoding = io::output_encoding(args.format, args.output.as_deref())?;
    load_schemas_and_catalog(args.format_version);
    let bytes = build_bytes(&args.key, &args.set, &args.hp, args.format_version, encoding)?;
    io::write_output(args.output.as_deref(), &bytes)?;
    Ok(ExitCode::SUCCESS)
}
