//! `oef models`: list and show the catalog's architectures.

use std::process::ExitCode;

use anyhow::Result;
use oef_catalog::{Catalog, Filter};

use crate::{Failure, io};

const EXAMPLES: &str = "\
Examples:
  oef models                                  # every architecture: key and display name
  oef models --task image_detection --backbone resnet_50_v1
  oef models --meta-arch ssd --json           # machine-readable
  oef models show image_detection.pretraining_natural_rgb.ssd.mobilenet_v1";

/// List the architectures of the catalog, or show one.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub show: Option<Show>,

    /// Only architectures of this task (first key part, e.g. image_classification).
    #[arg(long)]
    pub task: Option<String>,

    /// Only architectures with this pretraining (second key part, e.g. pretraining_natural_rgb).
    #[arg(long)]
    pub pretraining: Option<String>,

    /// Only architectures with this meta-architecture (third key part, e.g. ssd).
    #[arg(long)]
    pub meta_arch: Option<String>,

    /// Only architectures with this backbone (last key part, e.g. mobilenet_v1).
    #[arg(long)]
    pub backbone: Option<String>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `oef models show KEY`.
#[derive(Debug, clap::Subcommand)]
pub enum Show {
    /// Print one architecture: display name, default arguments and switches (JSON).
    Show {
        /// Architecture key (unknown keys get the closest suggestions).
        key: String,
    },
}

/// Runs `oef models`.
pub fn run(args: Args) -> Result<ExitCode> {
    let catalog = Catalog::global();
    if let Some(Show::Show { key }) = args.show {
        let architecture = catalog.get(&key).map_err(|e| Failure(e.to_string()))?;
        let shown = serde_json::json!({
            "key": architecture.key,
            "display_name": architecture.display_name,
            "default_args": architecture.default_args,
            "switch_args": architecture.switch_args,
        });
        io::print_line(&serde_json::to_string_pretty(&shown)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let filter = Filter {
        task: args.task,
        pretraining: args.pretraining,
        meta_arch: args.meta_arch,
        backbone: args.backbone,
    };
    let selected: Vec<_> = catalog.filter(&filter).collect();
    if args.json {
        let rows: Vec<_> = selected
            .iter()
            .map(|a| {
                serde_json::json!({
                    "key": a.key,
                    "display_name": a.display_name,
                    "task": a.task(),
                    "pretraining": a.pretraining(),
                    "meta_arch": a.meta_arch(),
                    "backbone": a.backbone(),
                })
            })
            .collect();
        io::print_line(&serde_json::to_string_pretty(&rows)?)?;
    } else {
        let width = selected.iter().map(|a| a.key.len()).max().unwrap_or(0);
        for a in &selected {
            io::print_line(&format!("{:width$}  {}", a.key, a.display_name))?;
        }
        eprintln!("{} of {} architectures", selected.len(), catalog.len());
    }
    Ok(ExitCode::SUCCESS)
}
