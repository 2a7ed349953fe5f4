//! One module per `oef` subcommand: its clap arguments (`Args`) and `run`.

pub mod build;
pub mod convert;
pub mod diff;
pub mod export_catalog;
pub mod models;
pub mod validate;
