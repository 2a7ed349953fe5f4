//! The typed client.

use oef_proto::v1::{
    self, platform_service_client::PlatformServiceClient, worker_service_client::WorkerServiceClient,
};
use tonic::{
    Request, Status,
    codegen::InterceptedService,
    metadata::{Ascii, MetadataValue},
    service::Interceptor,
    transport::Endpoint,
};

pub use tonic::transport::Channel;

use crate::ClientError;

/// Largest response accepted: 64 MiB (the server's default limit is 16 MiB).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// Adds the API key to every request, as the `x-api-key` metadata.
#[derive(Debug, Clone)]
pub struct ApiKey(MetadataValue<Ascii>);

impl ApiKey {
    /// Checks that `key` can be sent as metadata (non-empty visible ASCII).
    pub fn new(key: &str) -> Result<Self, ClientError> {
        if key.is_empty() {
            return Err(ClientError::InvalidApiKey("empty".into()));
        }
        key.parse().map(Self).map_err(|_| ClientError::InvalidApiKey("not visible ASCII".into()))
    }
}

impl Interceptor for ApiKey {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert("x-api-key", self.0.clone());
        Ok(request)
    }
}

type Inner = InterceptedService<Channel, ApiKey>;

/// A connection to the platform with one organization's API key. Cheap to clone (clones
/// share the HTTP/2 connection).
#[derive(Debug, Clone)]
pub struct Client {
    platform: PlatformServiceClient<Inner>,
    worker: WorkerServiceClient<Inner>,
}

impl Client {
    /// Connects to `url` (e.g. `http://127.0.0.1:50051`).
    pub async fn connect(url: &str, api_key: &str) -> Result<Self, ClientError> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| ClientError::InvalidUrl { url: url.to_owned(), reason: e.to_string() })?
            .tcp_nodelay(true);
        let key = ApiKey::new(api_key)?;
        let channel =
            endpoint.connect().await.map_err(|transport| ClientError::connect(url, transport))?;
        Ok(Self::with_channel(channel, key))
    }

    /// A client over an existing channel.
    pub fn with_channel(channel: Channel, key: ApiKey) -> Self {
        let platform = PlatformServiceClient::with_interceptor(channel.clone(), key.clone())
            .max_decoding_message_size(MAX_RESPONSE);
        let worker = WorkerServiceClient::with_interceptor(channel, key).max_decoding_message_size(MAX_RESPONSE);
        Self { platform, worker }
    }

    /// The generated client of `oef.v1.PlatformService`, for calls with custom metadata.
    pub fn platform(&mut self) -> &mut PlatformServiceClient<Inner> {
        &mut self.platform
    }

    /// The generated client of `oef.v1.WorkerService`.
    pub fn worker(&mut self) -> &mut WorkerServiceClient<Inner> {
        &mut self.worker
    }

    /// Launches a training (or returns the existing one).
    pub async fn launch(&mut self, request: v1::LaunchExperimentRequest) -> Result<v1::LaunchExperimentResponse, ClientError> {
        Ok(self.platform.launch_experiment(request).await?.into_inner())
    }

    /// One training, with its experiment file when `include_experiment`.
    pub async fn get_training(
        &mut self,
        training_id: &str,
        include_experiment: bool,
    ) -> Result<v1::GetTrainingResponse, ClientError> {
        let request = v1::GetTrainingRequest { training_id: training_id.to_owned(), include_experiment };
        Ok(self.platform.get_training(request).await?.into_inner())
    }

    /// One page of trainings.
    pub async fn list_trainings(&mut self, request: v1::ListTrainingsRequest) -> Result<v1::ListTrainingsResponse, ClientError> {
        Ok(self.platform.list_trainings(request).await?.into_inner())
    }

    /// Cancels a training.
    pub async fn cancel_training(&mut self, training_id: &str, reason: &str) -> Result<v1::Training, ClientError> {
        let request = v1::CancelTrainingRequest { training_id: training_id.to_owned(), reason: reason.to_owned() };
        self.platform.cancel_training(request).await?.into_inner().training.ok_or(ClientError::Malformed("training"))
    }

    /// The event stream of a training, after sequence `after` (0 for all).
    pub async fn watch_training(
        &mut self,
        training_id: &str,
        after: u64,
    ) -> Result<tonic::Streaming<v1::WatchTrainingResponse>, ClientError> {
        let request = v1::WatchTrainingRequest { training_id: training_id.to_owned(), after_sequence: after };
        Ok(self.platform.watch_training(request).await?.into_inner())
    }

    /// The architectures of the server's catalog, of one task or all (`""`).
    pub async fn list_architectures(&mut self, task: &str) -> Result<Vec<v1::Architecture>, ClientError> {
        let request = v1::ListArchitecturesRequest { task: task.to_owned() };
        Ok(self.platform.list_architectures(request).await?.into_inner().architectures)
    }

    /// Claims a queued training for `worker_id` under a lease of `lease`; `None` when none is
    /// queued.
    pub async fn claim(
        &mut self,
        worker_id: &str,
        lease: std::time::Duration,
    ) -> Result<Option<v1::ClaimTrainingResponse>, ClientError> {
        let request = v1::ClaimTrainingRequest {
            worker_id: worker_id.to_owned(),
            lease_duration: Some(duration(lease)),
        };
        let response = self.worker.claim_training(request).await?.into_inner();
        Ok(response.training.is_some().then_some(response))
    }

    /// Extends a lease.
    pub async fn heartbeat(
        &mut self,
        training_id: &str,
        lease_id: &str,
        lease: std::time::Duration,
    ) -> Result<v1::Training, ClientError> {
        let request = v1::HeartbeatRequest {
            training_id: training_id.to_owned(),
            lease_id: lease_id.to_owned(),
            lease_duration: Some(duration(lease)),
        };
        self.worker.heartbeat(request).await?.into_inner().training.ok_or(ClientError::Malformed("training"))
    }

    /// Reports metrics; returns the last sequence number.
    pub async fn report_metrics(
        &mut self,
        training_id: &str,
        lease_id: &str,
        metrics: Vec<v1::Metric>,
    ) -> Result<u64, ClientError> {
        let request =
            v1::ReportMetricsRequest { training_id: training_id.to_owned(), lease_id: lease_id.to_owned(), metrics };
        Ok(self.worker.report_metrics(request).await?.into_inner().last_sequence)
    }

    /// Marks a training succeeded.
    pub async fn complete(&mut self, training_id: &str, lease_id: &str, message: &str) -> Result<v1::Training, ClientError> {
        let request = v1::CompleteTrainingRequest {
            training_id: training_id.to_owned(),
            lease_id: lease_id.to_owned(),
            message: message.to_owned(),
        };
        self.worker.complete_training(request).await?.into_inner().training.ok_or(ClientError::Malformed("training"))
    }

    /// Marks a training failed.
    pub async fn fail(&mut self, training_id: &str, lease_id: &str, message: &str) -> Result<v1::Training, ClientError> {
        let request = v1::FailTrainingRequest {
            training_id: training_id.to_owned(),
            lease_id: lease_id.to_owned(),
            message: message.to_owned(),
        };
        self.worker.fail_training(request).await?.into_inner().training.ok_or(ClientError::Malformed("training"))
    }
}

fn duration(d: std::time::Duration) -> pbjson_types::Duration {
    pbjson_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}
