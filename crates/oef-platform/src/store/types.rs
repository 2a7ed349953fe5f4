//! The records the storage reads and writes.

/// A training as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingRecord {
    /// Training id.
    pub id: String,
    /// Organization that launched it.
    pub org: String,
    /// Dataset.
    pub dataset: String,
    /// Dataset view; empty for the whole dataset.
    pub view_id: String,
    /// SHA-256 (hex) of the canonical encoding of the resolved v1 experiment.
    pub experiment_id: String,
    /// Catalog key of the architecture; may be empty.
    pub architecture: String,
    /// Tags, sorted, without duplicates.
    pub tags: Vec<String>,
    /// `oef.v1.TrainingStatus` value.
    pub status: i32,
    /// Message of the last final transition.
    pub message: String,
    /// Number of claims.
    pub attempts: u32,
    /// Worker holding (or last holding) the lease.
    pub worker_id: String,
    /// Current lease id; empty unless running.
    pub lease_id: String,
    /// Lease expiry (µs since the epoch) while running.
    pub lease_expire_us: Option<i64>,
    /// Sequence number of the last event.
    pub last_seq: u64,
    /// Client request id of the launch, if any.
    pub request_id: Option<String>,
    /// Launch time, µs since the epoch.
    pub created_us: i64,
    /// Time of the last status change, µs since the epoch.
    pub updated_us: i64,
}

/// A launch to record.
#[derive(Debug, Clone)]
pub struct NewLaunch {
    /// Organization.
    pub org: String,
    /// Dataset.
    pub dataset: String,
    /// Dataset view.
    pub view_id: String,
    /// Experiment id of the resolved experiment.
    pub experiment_id: String,
    /// Architecture key.
    pub architecture: String,
    /// Tags, sorted, without duplicates.
    pub tags: Vec<String>,
    /// Create a new training even if this experiment was launched on this view.
    pub force_new: bool,
    /// Client request id.
    pub request_id: Option<String>,
    /// The resolved `oef.v1.ExperimentFile`, binary.
    pub file: Vec<u8>,
}

/// What a launch returned.
#[derive(Debug, Clone)]
pub struct LaunchOutcome {
    /// The training created or found.
    pub training: TrainingRecord,
    /// Whether this launch created it.
    pub created: bool,
}

/// Filters and page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Statuses to keep; empty for all.
    pub statuses: Vec<i32>,
    /// Architecture key to keep; empty for all.
    pub architecture: String,
    /// Tag to keep; empty for all.
    pub tag: String,
    /// Dataset to keep; empty for all.
    pub dataset: String,
    /// Maximum number of records.
    pub limit: u32,
    /// Position after which the page starts: (created_us, id) of the last record of the
    /// previous page.
    pub after: Option<(i64, String)>,
}

/// One metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// Metric name.
    pub name: String,
    /// Training step.
    pub step: i64,
    /// Value.
    pub value: f64,
}

/// What happened in an event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A status change.
    Status {
        /// Status before (0 at launch).
        from: i32,
        /// Status after.
        to: i32,
        /// Message given with the change.
        message: String,
        /// Worker involved.
        worker_id: String,
    },
    /// A reported metric.
    Metric(MetricPoint),
}

/// One event of a training.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// Sequence number within the training.
    pub seq: u64,
    /// When it was recorded, µs since the epoch.
    pub time_us: i64,
    /// What happened.
    pub kind: EventKind,
}

/// A claimed training.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The training, now running.
    pub training: TrainingRecord,
    /// Its resolved `oef.v1.ExperimentFile`, binary.
    pub file: Vec<u8>,
}
