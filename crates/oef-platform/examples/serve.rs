//! Serves the platform on an embedded SQLite database until Ctrl-C or SIGTERM, after creating
//! an API key for an organization (printed once).
//!
//! ```sh
//! cargo run -p oef-platform --example serve -- sqlite:///tmp/oef-example.db 127.0.0.1:50051 acme
//! ```

use std::sync::Arc;

use oef_platform::{DefaultResolver, ServerConfig, auth, serve, shutdown_signal, store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let db = args.next().unwrap_or_else(|| "sqlite://oef-example.db".into());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:50051".into());
    let org = args.next().unwrap_or_else(|| "acme".into());

    let key = auth::create_api_key(store::open(&db).await?.as_ref(), &org, "example").await?;
    println!("API key of {org}: {key}");

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("serving on {listen}, database {db}");
    serve(ServerConfig::new(db), Arc::new(DefaultResolver), listener, shutdown_signal()).await?;
    Ok(())
}
