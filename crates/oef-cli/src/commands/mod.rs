//! One module per `oef` subcommand: its clap arguments (`Args`) and `run`.

pub mod build;
pub mod convert;
pub mod diff;
pub mod export_catalog;
pub mod keys;
pub mod launch;
pub mod models;
pub mod remote;
pub mod serve;
pub mod trainings;
pub mod validate;
pub mod worker;
