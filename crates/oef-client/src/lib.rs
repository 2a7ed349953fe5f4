//! Rust client of the OEF platform service (`oef.v1.PlatformService`, `oef.v1.WorkerService`).
//!
//! ```no_run
//! # async fn run() -> Result<(), oef_client::ClientError> {
//! use oef_client::Client;
//! use oef_proto::v1;
//!
//! let mut client = Client::connect("http://127.0.0.1:50051", "oef_...").await?;
//! let list = client.list_trainings(v1::ListTrainingsRequest::default()).await?;
//! println!("{} trainings", list.trainings.len());
//! # Ok(()) }
//! ```
//!
//! Table of contents:
//! * [`Client`]: typed calls of both services; every request carries the API key
//!   ([`ApiKey`], an interceptor adding the `x-api-key` metadata).
//! * [`worker`]: the worker loop behind `oef worker --exec CMD`.
//! * [`ClientError`]: connection, key and call failures.

#![warn(missing_docs)]

mod client;
mod error;
pub mod worker;

pub use client::{ApiKey, Client, Channel};
pub use error::ClientError;
