//! `oef keys`: API keys of organizations.

use std::process::ExitCode;

use anyhow::Result;

use super::remote;

/// Manage API keys (stored hashed in the server's database).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// A `keys` subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a key for an organization and print it (once: only its SHA-256 is stored).
    Create {
        /// The organization.
        #[arg(long)]
        org: String,
        /// A name to remember the key by.
        #[arg(long, default_value = "")]
        name: String,
        /// The server's database (see `oef serve --db`).
        #[arg(long, env = "OEF_DB", default_value = "sqlite://oef.db", value_name = "URL")]
        db: String,
    },
}

/// Runs `oef keys`.
pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Create { org, name, db } => remote::block_on(async move {
            if org.is_empty() {
                return Err(crate::Usage("--org must not be empty".into()).into());
            }
            let store = oef_platform::store::open(&db).await?;
            let key = oef_platform::auth::create_api_key(store.as_ref(), &org, &name).await?;
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }),
    }
}
