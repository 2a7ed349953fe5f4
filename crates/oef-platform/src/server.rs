//! The server process: both services, gRPC health and reflection, a message size limit, the
//! lease reaper and graceful shutdown.

use std::{future::Future, sync::Arc, time::Duration};

use oef_proto::v1::{platform_service_server::PlatformServiceServer, worker_service_server::WorkerServiceServer};
use tokio::{net::TcpListener, sync::watch};
use tonic::transport::{Server, server::TcpIncoming};

use crate::{
    Platform,
    resolve::Resolver,
    store::{self, StoreError},
};

/// Default limit of a request or response message: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `sqlite://PATH` (created if missing) or `postgres://...`.
    pub database_url: String,
    /// Largest message accepted or sent, in bytes; larger requests fail with
    /// RESOURCE_EXHAUSTED.
    pub max_message_size: usize,
    /// How often running trainings with an expired lease are returned to the queue.
    pub lease_check_interval: Duration,
}

impl ServerConfig {
    /// The defaults for a database URL: 16 MiB messages, leases checked every second.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            lease_check_interval: Duration::from_secs(1),
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The reflection service could not be built from the descriptors.
    #[error("reflection service: {0}")]
    Reflection(String),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves on `listener` until `shutdown` completes, then finishes the calls in flight (watch
/// streams end with UNAVAILABLE so that clients resume elsewhere) and returns.
pub async fn serve(
    config: ServerConfig,
    resolver: Arc<dyn Resolver>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let store = store::open(&config.database_url).await?;
    let (stop, stopping) = watch::channel(false);
    let platform = Platform::new(store.clone(), resolver, stopping.clone());

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<PlatformServiceServer<Platform>>().await;
    health.set_serving::<WorkerServiceServer<Platform>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(oef_proto::descriptor::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(oef_proto::descriptor::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;

    let limit = config.max_message_size;
    let platform_service = PlatformServiceServer::new(platform.clone())
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let worker_service = WorkerServiceServer::new(platform)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);

    let reaper = tokio::spawn(reap_leases(store.clone(), config.lease_check_interval, stopping.clone()));

    let address = listener.local_addr().ok();
    tracing::info!(address = ?address, database = %redact(&config.database_url), max_message_size = limit, "serving");
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing calls in flight");
        let _ = stop.send(true);
        health.set_not_serving::<PlatformServiceServer<Platform>>().await;
    };
    let result = Server::builder()
        .layer(tower::util::MapResponseLayer::new(resource_exhausted))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(platform_service)
        .add_service(worker_service)
        .serve_with_incoming_shutdown(incoming, signal)
        .await;
    reaper.abort();
    tracing::info!("stopped");
    Ok(result?)
}

/// tonic answers a request over the size limit with OUT_OF_RANGE before any handler runs;
/// gRPC's convention (and this API's contract) is RESOURCE_EXHAUSTED. No handler of ours
/// returns OUT_OF_RANGE, so every such status is that one.
fn resource_exhausted<B>(mut response: http::Response<B>) -> http::Response<B> {
    let out_of_range = (tonic::Code::OutOfRange as i32).to_string();
    if response.headers().get("grpc-status").is_some_and(|v| v.as_bytes() == out_of_range.as_bytes()) {
        let code = (tonic::Code::ResourceExhausted as i32).to_string();
        if let Ok(value) = http::HeaderValue::from_str(&code) {
            response.headers_mut().insert("grpc-status", value);
        }
    }
    response
}

async fn reap_leases(store: Arc<dyn store::Storage>, every: Duration, mut stopping: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopping.changed() => return,
        }
        match store.requeue_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "leases expired: trainings returned to the queue"),
            Err(error) => tracing::warn!(%error, "lease check failed"),
        }
    }
}

/// The URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
