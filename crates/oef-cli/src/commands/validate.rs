//! `oef validate`: decode experiment files and report every problem by field path.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use oef_proto::codec::{self, FORMAT_V0};
use prost_reflect::{DynamicMessage, Value};

use oef_builder::validate;

use crate::io;

const EXAMPLES: &str = "\
Examples:
  oef validate experiment.pb
  oef validate runs/*.json --json
  oef validate experiments/              # every file below it, recursively

Each file is decoded (encoding and format version detected from content), its required fields
and hyperparameter search spaces are checked, and every problem is reported with its dotted
field path. Exit status: 0 all valid, 1 some file invalid, 2 usage error.";

/// Check experiment files: decoding, required fields, hyperparameter search spaces.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Files to check; a directory means every file below it (`-`: standard input).
    #[arg(required = true, value_name = "FILE|DIR")]
    pub files: Vec<PathBuf>,

    /// Print a JSON report instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One problem of a file, by dotted field path (empty: the file as a whole).
#[derive(Debug, serde::Serialize)]
struct Finding {
    path: String,
    reason: String,
}

/// The outcome for one file.
#[derive(Debug, serde::Serialize)]
struct Report {
    file: String,
    format_version: Option<u32>,
    encoding: Option<String>,
    valid: bool,
    problems: Vec<Finding>,
}

fn check(path: &std::path::Path) -> Report {
    let mut report = Report {
        file: path.display().to_string(),
        format_version: None,
        encoding: None,
        valid: false,
        problems: Vec::new(),
    };
    let bytes = match io::read_input(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            // The report names the file already: the reason is what went wrong.
            report.problems.push(Finding { path: String::new(), reason: format!("cannot read: {}", e.root_cause()) });
            return report;
        }
    };
    match codec::decode(&bytes) {
        Err(e) => {
            let problems = match &e.kind {
                oef_proto::CodecErrorKind::MissingRequired(paths) => paths
                    .iter()
                    .map(|p| Finding { path: p.clone(), reason: "required field is missing".into() })
                    .collect(),
                _ => vec![Finding { path: String::new(), reason: e.to_string() }],
            };
            report.problems = problems;
        }
        Ok((detected, message)) => {
            report.format_version = Some(detected.version);
            report.encoding = Some(detected.encoding.to_string());
            let experiment = if detected.version == FORMAT_V0 {
                Some(message)
            } else {
                match message.get_field_by_name("experiment").as_deref() {
                    Some(Value::Message(m)) if message.has_field_by_name("experiment") => Some(m.clone()),
                    _ => {
                        report.problems.push(Finding {
                            path: "experiment".into(),
                            reason: "the file holds no experiment".into(),
                        });
                        None
                    }
                }
            };
            if let Some(experiment) = experiment {
                report.problems.extend(
                    validate::search_spaces(&experiment).into_iter().map(|p| Finding { path: p.path, reason: p.reason }),
                );
                if detected.version != FORMAT_V0 {
                    report.problems.extend(explicit_values(&experiment));
                }
            }
        }
    }
    report.valid = report.problems.is_empty();
    report
}

/// Format v1 states every value: each scalar of a present message must be set (oneof members
/// and repeated fields excepted); [`oef_proto::explicit`] finds those left unset.
fn explicit_values(experiment: &DynamicMessage) -> Vec<Finding> {
    match experiment.transcode_to::<oef_proto::v1::Experiment>() {
        Ok(typed) => oef_proto::explicit::unset_values(&typed)
            .into_iter()
            .map(|path| Finding { path, reason: oef_proto::explicit::UNSET_REASON.into() })
            .collect(),
        Err(e) => vec![Finding { path: "experiment".into(), reason: format!("not a v1 experiment: {e}") }],
    }
}

/// The files named by the arguments, in order: a directory stands for every file below it
/// (recursively, sorted, as `oef-migrate` walks it), `-` for standard input. An argument that
/// cannot be read is a report already.
fn expand(arguments: &[PathBuf]) -> Vec<Result<PathBuf, Report>> {
    let mut files = Vec::new();
    for argument in arguments {
        if argument.as_os_str() == "-" {
            files.push(Ok(argument.clone()));
            continue;
        }
        let (inputs, failures) = oef_migrations::run::collect(std::slice::from_ref(argument), false);
        files.extend(inputs.into_iter().map(|input| Ok(input.path)));
        files.extend(failures.into_iter().map(|failure| {
            let reason = failure.error.unwrap_or_default();
            Err(Report {
                file: failure.path.display().to_string(),
                format_version: None,
                encoding: None,
                valid: false,
                problems: vec![Finding { path: String::new(), reason }],
            })
        }));
    }
    files
}

/// Runs `oef validate`.
pub fn run(args: Args) -> Result<ExitCode> {
    let reports: Vec<Report> =
        expand(&args.files).into_iter().map(|file| file.map_or_else(|failed| failed, |path| check(&path))).collect();
    let invalid = reports.iter().filter(|r| !r.valid).count();
    if args.json {
        io::print_line(&serde_json::to_string_pretty(&reports)?)?;
    } else {
        for report in &reports {
            if report.valid {
                io::print_line(&format!(
                    "{}: valid (format v{}, {})",
                    report.file,
                    report.format_version.unwrap_or_default(),
                    report.encoding.as_deref().unwrap_or_default()
                ))?;
            }
            for problem in &report.problems {
                if problem.path.is_empty() {
                    io::print_line(&format!("{}: {}", report.file, problem.reason))?;
                } else {
                    io::print_line(&format!("{}: {}: {}", report.file, problem.path, problem.reason))?;
                }
            }
        }
        eprintln!("{} file(s) checked, {} invalid", reports.len(), invalid);
    }
    Ok(if invalid == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
