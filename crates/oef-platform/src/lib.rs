//! The OEF platform service: services and scripts launch trainings over gRPC, workers run them.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use oef_platform::{DefaultResolver, ServerConfig, serve, shutdown_signal};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
//! let config = ServerConfig::new("sqlite://oef.db");
//! serve(config, Arc::new(DefaultResolver), listener, shutdown_signal()).await?;
//! # Ok(()) }
//! ```
//!
//! Table of contents:
//! * [`server`]: [`serve`] runs `oef.v1.PlatformService` and `oef.v1.WorkerService` with gRPC
//!   health and reflection, the message size limit, the lease reaper and graceful shutdown.
//! * [`service`]: [`Platform`], the implementation of both services: API-key auth, request
//!   validation (INVALID_ARGUMENT with `google.rpc.BadRequest`), lifecycle, watch streams.
//! * [`resolve`]: an experiment given as a v1 file, v0/v1 bytes or architecture + overrides
//!   becomes a v1 file; its experiment id is the SHA-256 of its canonical encoding.
//! * [`store`]: the [`Storage`](store::Storage) trait and its sqlx backends (SQLite, PostgreSQL)
//!   with versioned migrations and group commit.
//! * [`auth`]: API keys (generated, stored as SHA-256 hashes).

#![warn(missing_docs)]

pub mod auth;
pub mod resolve;
pub mod server;
pub mod service;
pub mod store;

pub use resolve::{DefaultResolver, Resolver};
pub use server::{ServeError, ServerConfig, serve, shutdown_signal};
pub use service::Platform;
