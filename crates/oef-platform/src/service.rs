//! The gRPC services `oef.v1.PlatformService` and `oef.v1.WorkerService` over a [`Storage`].

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use oef_proto::v1::{
    self, ExperimentFile, TrainingStatus, platform_service_server::PlatformService,
    worker_service_server::WorkerService,
};
use prost::Message as _;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, metadata::MetadataMap};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt as _};

use crate::{
    auth,
    resolve::{self, ResolveError, Resolver, Violation},
    store::{EventKind, EventRecord, ListFilter, MetricPoint, NewLaunch, Storage, StoreError, TrainingRecord},
};

/// How long a resolved API key is trusted without asking the database again.
const KEY_CACHE_TTL: Duration = Duration::from_secs(60);
/// Lease duration when a worker gives none.
const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Shortest and longest lease a worker may ask for.
const LEASE_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));
/// How often a watcher polls the database when nothing was written by this process (writes of
/// other replicas sharing a PostgreSQL database).
const WATCH_POLL: Duration = Duration::from_millis(500);
/// Longest identifier-like string (dataset, view, worker, ids).
const MAX_NAME: usize = 256;

/// Both services over one storage and resolver. Cheap to clone.
#[derive(Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Storage>,
    resolver: Arc<dyn Resolver>,
    keys: RwLock<HashMap<String, (String, Instant)>>,
    shutdown: watch::Receiver<bool>,
}

impl Platform {
    /// The services over `store`, resolving experiments with `resolver`; watch streams end when
    /// `shutdown` becomes true.
    pub fn new(store: Arc<dyn Storage>, resolver: Arc<dyn Resolver>, shutdown: watch::Receiver<bool>) -> Self {
        Self { inner: Arc::new(Inner { store, resolver, keys: RwLock::new(HashMap::new()), shutdown }) }
    }

    /// The organization of the request's API key.
    /// Ends a leased training as succeeded or failed, with the worker's message.
    async fn finish_training(
        &self,
        org: &str,
        training_id: &str,
        lease_id: &str,
        message: &str,
        succeeded: bool,
    ) -> Result<v1::Training, Status> {
        let mut violations = Vec::new();
        lease_fields(&mut violations, training_id, lease_id);
        max_len(&mut violations, "message", message, 4096);
        check(violations)?;
        let t = self
            .inner
            .store
            .finish(org, training_id, lease_id, succeeded, message)
            .await
            .map_err(store_status)?;
        if succeeded {
            tracing::info!(training = %t.id, "succeeded");
        } else {
            tracing::info!(training = %t.id, message = %t.message, "failed");
        }
        Ok(training_message(&t))
    }

    async fn org(&self, metadata: &MetadataMap) -> Result<String, Status> {
        let key = metadata
            .get(auth::API_KEY_HEADER)
            .ok_or_else(|| Status::unauthenticated("missing API key (x-api-key metadata)"))?
            .to_str()
            .map_err(|_| Status::unauthenticated("malformed API key"))?;
        let hash = auth::hash_key(key);
        if let Ok(keys) = self.inner.keys.read() {
            if let Some((org, at)) = keys.get(&hash) {
                if at.elapsed() < KEY_CACHE_TTL {
                    return Ok(org.clone());
                }
            }
        }
        let org = self
            .inner
            .store
            .org_of_key(&hash)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::unauthenticated("unknown API key"))?;
        if let Ok(mut keys) = self.inner.keys.write() {
            keys.insert(hash, (org.clone(), Instant::now()));
        }
        Ok(org)
    }

    async fn training(&self, org: &str, id: &str) -> Result<TrainingRecord, Status> {
        self.inner
            .store
            .training(org, id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("training {id} not found")))
    }

    async fn experiment_file(&self, experiment_id: &str) -> Result<ExperimentFile, Status> {
        let bytes = self
            .inner
            .store
            .experiment(experiment_id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::internal(format!("experiment {experiment_id} is missing")))?;
        ExperimentFile::decode(bytes.as_slice())
            .map_err(|e| Status::internal(format!("stored experiment {experiment_id}: {e}")))
    }
}

/// At most this many bytes of field paths and reasons go into a status's `BadRequest`.
///
/// The status message and details travel in HTTP/2 trailers, which clients cap (16 KiB for
/// hyper and grpc-go, 8 KiB by default for gRPC C-core, Python's client): a file that leaves
/// 60 values unset made the client fail with a protocol error instead of reading the status.
/// The violations past the budget are counted in a last entry.
pub const VIOLATION_BYTES: usize = 3 * 1024;

/// How many violations the status message lists (the details hold up to [`VIOLATION_BYTES`]).
const VIOLATIONS_IN_MESSAGE: usize = 3;

/// An INVALID_ARGUMENT status with a `google.rpc.BadRequest` of `violations` (as many as fit in
/// [`VIOLATION_BYTES`], then one entry with an empty field that counts the others).
pub fn invalid(violations: Vec<Violation>) -> Status {
    let total = violations.len();
    let mut message = violations
        .iter()
        .take(VIOLATIONS_IN_MESSAGE)
        .map(|v| format!("{}: {}", v.field, v.reason))
        .collect::<Vec<_>>()
        .join("; ");
    if total > VIOLATIONS_IN_MESSAGE {
        message += &format!("; and {} more ({total} field violations)", total - VIOLATIONS_IN_MESSAGE);
    }
    let mut budget = VIOLATION_BYTES;
    let mut listed = Vec::new();
    for v in violations {
        let size = v.field.len() + v.reason.len() + 8; // with the protobuf framing
        if size > budget {
            break;
        }
        budget -= size;
        listed.push(FieldViolation::new(v.field, v.reason));
    }
    if listed.len() < total {
        let more = total - listed.len();
        listed.push(FieldViolation::new("", format!("{more} more field violations not listed ({total} in all)")));
    }
    let details = ErrorDetails::with_bad_request(listed);
    Status::with_error_details(Code::InvalidArgument, format!("invalid request: {message}"), details)
}

fn resolve_status(error: ResolveError) -> Status {
    match error {
        ResolveError::Invalid(violations) => invalid(violations),
        ResolveError::Unsupported(message) => Status::unimplemented(message),
    }
}

fn store_status(error: StoreError) -> Status {
    match error {
        StoreError::NotFound(id) => Status::not_found(format!("training {id} not found")),
        StoreError::FailedPrecondition(message) => Status::failed_precondition(message),
        StoreError::Conflict(message) => invalid(vec![Violation::new("request_id", message)]),
        StoreError::WriterGone => Status::unavailable("the server is shutting down"),
        other => {
            tracing::error!(error = %other, "storage failure");
            Status::internal("storage failure")
        }
    }
}

/// Checks a required identifier-like field.
fn require(violations: &mut Vec<Violation>, field: &str, value: &str) {
    if value.is_empty() {
        violations.push(Violation::new(field, "required"));
    } else {
        limit(violations, field, value, MAX_NAME);
    }
}

fn limit(violations: &mut Vec<Violation>, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        violations.push(Violation::new(field, format!("longer than {max} characters")));
    } else if value.chars().any(char::is_control) {
        violations.push(Violation::new(field, "contains control characters"));
    }
}

fn max_len(violations: &mut Vec<Violation>, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        violations.push(Violation::new(field, format!("longer than {max} characters")));
    }
}

fn check(violations: Vec<Violation>) -> Result<(), Status> {
    if violations.is_empty() { Ok(()) } else { Err(invalid(violations)) }
}

fn lease_us(field: &str, duration: Option<&pbjson_types::Duration>, violations: &mut Vec<Violation>) -> i64 {
    let Some(d) = duration else { return micros(DEFAULT_LEASE) };
    let us = d.seconds.saturating_mul(1_000_000).saturating_add(i64::from(d.nanos) / 1000);
    if us < micros(LEASE_RANGE.0) || us > micros(LEASE_RANGE.1) {
        violations.push(Violation::new(field, "must be between 1 s and 1 h"));
    }
    us
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn timestamp(us: i64) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: i32::try_from(us.rem_euclid(1_000_000) * 1000).unwrap_or(0),
    }
}

/// The wire form of a stored training.
pub fn training_message(t: &TrainingRecord) -> v1::Training {
    v1::Training {
        training_id: t.id.clone(),
        experiment_id: t.experiment_id.clone(),
        org: t.org.clone(),
        dataset: t.dataset.clone(),
        view_id: t.view_id.clone(),
        status: t.status,
        architecture: t.architecture.clone(),
        tags: t.tags.clone(),
        create_time: Some(timestamp(t.created_us)),
        update_time: Some(timestamp(t.updated_us)),
        message: t.message.clone(),
        attempts: t.attempts,
        worker_id: t.worker_id.clone(),
        lease_expire_time: t.lease_expire_us.map(timestamp),
        last_sequence: t.last_seq,
    }
}

fn event_message(e: &EventRecord) -> v1::WatchTrainingResponse {
    use v1::watch_training_response::Event;
    let event = match &e.kind {
        EventKind::Status { from, to, message, worker_id } => Event::StatusChange(v1::StatusChange {
            from_status: *from,
            to_status: *to,
            message: message.clone(),
            worker_id: worker_id.clone(),
        }),
        EventKind::Metric(m) => Event::Metric(v1::Metric { name: m.name.clone(), step: m.step, value: m.value }),
    };
    v1::WatchTrainingResponse { sequence: e.seq, time: Some(timestamp(e.time_us)), event: Some(event) }
}

fn is_final(status: i32) -> bool {
    matches!(
        TrainingStatus::try_from(status),
        Ok(TrainingStatus::Succeeded | TrainingStatus::Failed | TrainingStatus::Cancelled)
    )
}

/// A page token: `<created_us>.<training id>.<filters>`, the position of the last training of
/// the previous page and the fingerprint of the filters that page was listed with.
struct PageToken {
    created_us: i64,
    training_id: String,
    filters: String,
}

impl PageToken {
    fn parse(token: &str) -> Option<Self> {
        let mut parts = token.splitn(3, '.');
        let created_us = parts.next()?.parse().ok()?;
        let training_id = parts.next()?.to_owned();
        let filters = parts.next()?.to_owned();
        let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
        (hex(&training_id) && hex(&filters)).then_some(Self { created_us, training_id, filters })
    }

    fn format(&self) -> String {
        format!("{}.{}.{}", self.created_us, self.training_id, self.filters)
    }
}

/// Fingerprint of a listing's filters (org, statuses as a set, architecture, tag, dataset; not
/// the page size), carried in its page tokens: a token is only valid with the filters of the
/// first page, and applying it to others would skip or repeat trainings silently.
fn filters_fingerprint(org: &str, statuses: &[i32], architecture: &str, tag: &str, dataset: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut statuses = statuses.to_vec();
    statuses.sort_unstable();
    statuses.dedup();
    let mut hash = Sha256::new();
    for text in [org, architecture, tag, dataset] {
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
    }
    for status in statuses {
        hash.update(status.to_le_bytes());
    }
    auth::hex(&hash.finalize()[..8])
}

#[tonic::async_trait]
impl PlatformService for Platform {
    async fn launch_experiment(
        &self,
        request: Request<v1::LaunchExperimentRequest>,
    ) -> Result<Response<v1::LaunchExperimentResponse>, Status> {
        let org = self.org(request.metadata()).await?;
        let r = request.into_inner();
        if !r.org.is_empty() && r.org != org {
            return Err(Status::permission_denied(format!(
                "the API key is not a key of organization {:?}",
                r.org
            )));
        }
        let mut violations = Vec::new();
        require(&mut violations, "dataset", &r.dataset);
        limit(&mut violations, "view_id", &r.view_id, MAX_NAME);
        limit(&mut violations, "request_id", &r.request_id, 128);
        if r.tags.len() > 32 {
            violations.push(Violation::new("tags", "more than 32 tags"));
        }
        for (i, tag) in r.tags.iter().enumerate() {
            if tag.is_empty() || tag.chars().count() > 128 || tag.chars().any(char::is_control) {
                violations.push(Violation::new(format!("tags[{i}]"), "must be 1 to 128 characters, no control characters"));
            }
        }
        let resolved = match resolve::resolve(self.inner.resolver.as_ref(), r.experiment.as_ref()) {
            Ok(resolved) => Some(resolved),
            Err(ResolveError::Invalid(more)) => {
                violations.extend(more);
                None
            }
            Err(other) => {
                check(violations)?;
                return Err(resolve_status(other));
            }
        };
        check(violations)?;
        let resolved = resolved.ok_or_else(|| Status::internal("unresolved experiment"))?;
        let mut tags = r.tags;
        tags.sort();
        tags.dedup();
        let launch = NewLaunch {
            org,
            dataset: r.dataset,
            view_id: r.view_id,
            experiment_id: resolved.experiment_id,
            architecture: resolved.file.architecture.clone(),
            tags,
            force_new: r.force_new,
            request_id: (!r.request_id.is_empty()).then_some(r.request_id),
            file: resolved.file.encode_to_vec(),
        };
        let outcome = self.inner.store.launch(launch).await.map_err(store_status)?;
        tracing::debug!(
            training = %outcome.training.id,
            experiment = %outcome.training.experiment_id,
            org = %outcome.training.org,
            created = outcome.created,
            "launch"
        );
        Ok(Response::new(v1::LaunchExperimentResponse {
            training: Some(training_message(&outcome.training)),
            created: outcome.created,
        }))
    }

    async fn get_training(
        &self,
        request: Request<v1::GetTrainingRequest>,
    ) -> Result<Response<v1::GetTrainingResponse>, Status> {
        let org = self.org(request.metadata()).await?;
        let r = request.into_inner();
        let mut violations = Vec::new();
        require(&mut violations, "training_id", &r.training_id);
        check(violations)?;
        let t = self.training(&org, &r.training_id).await?;
        let experiment =
            if r.include_experiment { Some(self.experiment_file(&t.experiment_id).await?) } else { None };
        Ok(Response::new(v1::GetTrainingResponse { training: Some(training_message(&t)), experiment }))
    }

    async fn list_trainings(
        &self,
        request: Request<v1::ListTrainingsRequest>,
    ) -> Result<Response<v1::ListTrainingsResponse>, Status> {
        let org = self.org(request.metadata()).await?;
        let r = request.into_inner();
        let mut violations = Vec::new();
        if !(0..=1000).contains(&r.page_size) {
            violations.push(Violation::new("page_size", "must be between 0 and 1000"));
        }
        for (i, status) in r.statuses.iter().enumerate() {
            if TrainingStatus::try_from(*status).is_err() {
                violations.push(Violation::new(format!("statuses[{i}]"), format!("unknown status {status}")));
            }
        }
        let statuses = if r.statuses.contains(&(TrainingStatus::Unspecified as i32)) { Vec::new() } else { r.statuses };
        let filters = filters_fingerprint(&org, &statuses, &r.architecture, &r.tag, &r.dataset);
        let after = if r.page_token.is_empty() {
            None
        } else {
            match PageToken::parse(&r.page_token) {
                None => {
                    violations.push(Violation::new("page_token", "not a page token of this server"));
                    None
                }
                Some(token) if token.filters != filters => {
                    violations.push(Violation::new(
                        "page_token",
                        "made for other filters: statuses, architecture, tag and dataset must be those of the first page",
                    ));
                    None
                }
                Some(token) => Some((token.created_us, token.training_id)),
            }
        };
        limit(&mut violations, "architecture", &r.architecture, MAX_NAME);
        limit(&mut violations, "tag", &r.tag, 128);
        limit(&mut violations, "dataset", &r.dataset, MAX_NAME);
        check(violations)?;
        let page_size = if r.page_size == 0 { 100 } else { u32::try_from(r.page_size).unwrap_or(100) };
        let filter = ListFilter {
            statuses,
            architecture: r.architecture,
            tag: r.tag,
            dataset: r.dataset,
            limit: page_size + 1,
            after,
        };
        let mut records = self.inner.store.list(&org, &filter).await.map_err(store_status)?;
        let mut next_page_token = String::new();
        if records.len() > page_size as usize {
            records.truncate(page_size as usize);
            if let Some(last) = records.last() {
                next_page_token =
                    PageToken { created_us: last.created_us, training_id: last.id.clone(), filters }.format();
            }
        }
        Ok(Response::new(v1::ListTrainingsResponse {
            trainings: records.iter().map(training_message).collect(),
            next_page_token,
        }))
    }

    async fn cancel_training(
        &self,
        request: Request<v1::CancelTrainingRequest>,
    ) -> Result<Response<v1::CancelTrainingResponse>, Status> {
        let org = self.org(request.metadata()).await?;
        let r = request.into_inner();
        let mut violations = Vec::new();
        require(&mut violations, "training_id", &r.training_id);
        max_len(&mut violations, "reason", &r.reason, 4096);
        check(violations)?;
        let t = self.inner.store.cancel(&org, &r.training_id, &r.reason).await.map_err(store_status)?;
        tracing::info!(training = %t.id, org = %org, "cancelled");
        Ok(Response::new(v1::CancelTrainingResponse { training: Some(training_message(&t)) }))
    }

    type WatchTrainingStream = ReceiverStream<Result<v1::WatchTrainingResponse, Status>>;

    async fn watch_training(
        &self,
        request: Request<v1::WatchTrainingRequest>,
    ) -> Result<Response<Self::WatchTrainingStream>, Status> {
        let org = self.org(request.metadata()).await?;
        let r = request.into_inner();
        let mut violations = Vec::new();
        require(&mut violations, "training_id", &r.training_id);
        check(violations)?;
        // Not found (or another organization's) before the stream starts.
        self.training(&org, &r.training_id).await?;
        let (tx, rx) = mpsc::channel(64);
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let mut after = r.after_sequence;
            let mut changes = inner.store.changes();
            let mut shutdown = inner.shutdown.clone();
            loop {
                changes.borrow_and_update();
                let events = match inner.store.events(&r.training_id, after, 256).await {
                    Ok(events) => events,
                    Err(e) => {
                        let _ = tx.send(Err(store_status(e))).await;
                        return;
                    }
                };
                let caught_up = events.len() < 256;
                for event in &events {
                    after = event.seq;
                    if tx.send(Ok(event_message(event))).await.is_err() {
                        return; // the client went away
                    }
                    if let EventKind::Status { to, .. } = &event.kind {
                        if is_final(*to) {
                            return;
                        }
                    }
                }
                if !caught_up {
                    continue;
                }
                if events.is_empty() {
                    match inner.store.training(&org, &r.training_id).await {
                        Ok(Some(t)) if is_final(t.status) && after >= t.last_seq => return,
                        Ok(_) => {}
                        Err(e) => {
                            let _ = tx.send(Err(store_status(e))).await;
                            return;
                        }
                    }
                }
                tokio::select! {
                    _ = changes.changed() => {}
                    _ = tokio::time::sleep(WATCH_POLL) => {}
                    _ = shutdown.changed() => {
                        let _ = tx.send(Err(Status::unavailable("the server is shutting down; resume from the last sequence"))).await;
                        return;
                    }
                    () = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn list_architectures(
        &self,
        request: Request<v1::ListArchitecturesRequest>,
    ) -> Result<Response<v1::ListArchitecturesResponse>, Status> {
        self.org(request.metadata()).await?;
        let task = request.into_inner().task;
        let architectures = self
            .inner
            .resolver
            .architectures()
            .into_iter()
            .filter(|a| task.is_empty() || a.task == task)
            .map(|a| v1::Architecture { key: a.key, task: a.task })
            .collect();
        Ok(Response::new(v1::ListArchitecturesResponse { architectures }))
    }

    async fn build_experiment(
        &self,
        request: Request<v1::BuildExperimentRequest>,
    ) -> Result<Response<v1::BuildExperimentResponse>, Status> {
        self.org(request.metadata()).await?;
        let r = request.into_inner();
        let Some(arch) = r.experiment else {
            return Err(invalid(vec![Violation::new("experiment", "required")]));
        };
        let resolver = self.inner.resolver.clone();
        let file = tokio::task::spawn_blocking(move || resolve::build_architecture(resolver.as_ref(), &arch))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| resolve_status(prefix(e, "experiment")))?;
        let experiment_id = file.experiment.as_ref().map(resolve::experiment_id).unwrap_or_default();
        Ok(Response::new(v1::BuildExperimentResponse { file: Some(file), experiment_id }))
    }
}

fn prefix(error: ResolveError, prefix: &str) -> ResolveError {
    match error {
        ResolveError::Invalid(v) => ResolveError::Invalid(
            v.into_iter().map(|v| Violation::new(format!("{prefix}.{}", v.field), v.reason)).collect(),
        ),
        other => other,
    }
}

fn lease_fields(violations: &mut Vec<Violation>, training_id: &str, lease_id: &str) {
    require(violations, "training_id", training_id);
    require(violations, "lease_id", lease_id);
}

#[tonic::async_trait]
impl WorkerService for Platform {
    async fn claim_training(
        &self,
        request: Request<v1::ClaimTrainingRequest>,
    ) -> Result<Response<v1::ClaimTrainingResponse>, Status> {
        let org = self.org(request.metadata()).await?;
        let r = request.into_inner();
        let mut violations = Vec::new();
        require(&mut violations, "worker_id", &r.worker_id);
        let lease = lease_us("lease_duration", r.lease_duration.as_ref(), &mut violations);
        check(violations)?;
        let Some(claim) = self.inner.store.claim(&org, &r.worker_id, lease).await.map_err(store_status)? else {
            return Ok(Response::new(v1::ClaimTrainingResponse::default()));
        };
        let experiment = ExperimentFile::decode(claim.file.as_slice())
            .map_err(|e| Status::internal(format!("stored experiment: {e}")))?;
        tracing::info!(training = %claim.training.id, worker = %r.worker_id, attempt = claim.training.attempts, "claimed");
        Ok(Response::new(v1::ClaimTrainingResponse {
            lease_id: claim.training.lease_id.clone(),
            training: Some(training_message(&claim.training)),
            experiment: Some(experiment),
        }))
    }

    async fn heartbeat(&self, request: Request<v1::HeartbeatRequest>) -> Result<Response<v1::HeartbeatResponse>, Status> {
        let org = self.org(request.metadata()).await?;
        let r = request.into_inner();
        let mut violations = Vec::new();
        lease_fields(&mut violations, &r.training_id, &r.lease_id);
        let lease = lease_us("lease_duration", r.lease_duration.as_ref(), &mut violations);
        check(violations)?;
        let t = self.inner.store.heartbeat(&org, &r.training_id, &r.lease_id, lease).await.map_err(store_status)?;
        Ok(Response::new(v1::HeartbeatResponse { training: Some(training_message(&t)) }))
    }

    async fn report_metrics(
        &self,
        request: Request<v1::ReportMetricsRequest>,
    ) -> Result<Response<v1::ReportMetricsResponse>, Status> {
        let org = self.org(request.metadata()).await?;
        let r = request.into_inner();
        let mut violations = Vec::new();
        lease_fields(&mut violations, &r.training_id, &r.lease_id);
        if r.metrics.len() > 1000 {
            violations.push(Violation::new("metrics", "more than 1000 metrics"));
        }
        for (i, m) in r.metrics.iter().enumerate() {
            if m.name.is_empty() || m.name.chars().count() > 128 || m.name.chars().any(char::is_whitespace) {
                violations.push(Violation::new(format!("metrics[{i}].name"), "must be 1 to 128 characters, no whitespace"));
            }
            if !m.value.is_finite() {
                violations.push(Violation::new(format!("metrics[{i}].value"), "must be finite"));
            }
        }
        check(violations)?;
        let metrics = r.metrics.into_iter().map(|m| MetricPoint { name: m.name, step: m.step, value: m.value }).collect();
        let last_sequence =
            self.inner.store.report_metrics(&org, &r.training_id, &r.lease_id, metrics).await.map_err(store_status)?;
        Ok(Response::new(v1::ReportMetricsResponse { last_sequence }))
    }

    async fn complete_training(
        &self,
        request: Request<v1::CompleteTrainingRequest>,
    ) -> Result<Response<v1::CompleteTrainingResponse>, Status> {
        let org = self.org(request.metadata()).await?;
        let r = request.into_inner();
        let training = self.finish_training(&org, &r.training_id, &r.lease_id, &r.message, true).await?;
        Ok(Response::new(v1::CompleteTrainingResponse { training: Some(training) }))
    }

    async fn fail_training(
        &self,
        request: Request<v1::FailTrainingRequest>,
    ) -> Result<Response<v1::FailTrainingResponse>, Status> {
        let org = self.org(request.metadata()).await?;
        let r = request.into_inner();
        let training = self.finish_training(&org, &r.training_id, &r.lease_id, &r.message, false).await?;
        Ok(Response::new(v1::FailTrainingResponse { training: Some(training) }))
    }
}
