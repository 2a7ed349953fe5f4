//! Durable storage of API keys, experiments, trainings and their events.
//!
//! [`Storage`] is what the service needs; [`open`] gives the implementation for a database URL:
//! `sqlite://PATH` (embedded, created if missing, WAL, `synchronous=FULL`) or
//! `postgres://...` (several server replicas may share it). Both run the versioned migrations of
//! `migrations/<backend>/` at start and share one SQL implementation (`sql_impl.rs`).
//!
//! Every write goes through one writer task per process that commits concurrent requests in
//! one transaction (group commit): each request is answered only after its transaction is
//! committed, hence durable, and a burst of launches costs one fsync, not one each.

use std::sync::Arc;

use tokio::sync::watch;

pub(crate) mod migrate;
mod types;

pub use types::{
    Claim, EventKind, EventRecord, LaunchOutcome, ListFilter, MetricPoint, NewLaunch,
    TrainingRecord,
};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No training with that id in the caller's organization.
    #[error("training {0} not found")]
    NotFound(String),
    /// The operation is not allowed in the training's current state (illegal transition,
    /// lease not held).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The request contradicts an earlier one (a request id reused for another launch).
    #[error("{0}")]
    Conflict(String),
    /// The database URL is not `sqlite://...` or `postgres://...`.
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema migrations failed.
    #[error("database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The writer task stopped (the store is shutting down).
    #[error("the storage writer has stopped")]
    WriterGone,
}

/// Storage of the platform: every method is one durable operation, answered after commit.
#[tonic::async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Launches a training, or returns the existing one (same request id, or same experiment on
    /// the same dataset view without `force_new`).
    async fn launch(&self, launch: NewLaunch) -> Result<LaunchOutcome, StoreError>;
    /// The training `id` of `org`, if any.
    async fn training(&self, org: &str, id: &str) -> Result<Option<TrainingRecord>, StoreError>;
    /// The stored experiment file (binary `oef.v1.ExperimentFile`) of an experiment id.
    async fn experiment(&self, experiment_id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Trainings of `org` matching `filter`, newest first, at most `filter.limit`.
    async fn list(&self, org: &str, filter: &ListFilter) -> Result<Vec<TrainingRecord>, StoreError>;
    /// Events of training `id` with a sequence number above `after`, in order, at most `limit`.
    async fn events(&self, id: &str, after: u64, limit: u32) -> Result<Vec<EventRecord>, StoreError>;
    /// Cancels a queued or running training (a cancelled one is returned unchanged).
    async fn cancel(&self, org: &str, id: &str, reason: &str) -> Result<TrainingRecord, StoreError>;
    /// Claims the oldest queued training of `org` for `lease_us` microseconds.
    async fn claim(&self, org: &str, worker_id: &str, lease_us: i64) -> Result<Option<Claim>, StoreError>;
    /// Extends the lease of a running training.
    async fn heartbeat(&self, org: &str, id: &str, lease_id: &str, lease_us: i64)
    -> Result<TrainingRecord, StoreError>;
    /// Records metrics of a running training; returns the last sequence number.
    async fn report_metrics(&self, org: &str, id: &str, lease_id: &str, metrics: Vec<MetricPoint>)
    -> Result<u64, StoreError>;
    /// Moves a running training to succeeded (`success`) or failed, with a message.
    async fn finish(&self, org: &str, id: &str, lease_id: &str, success: bool, message: &str)
    -> Result<TrainingRecord, StoreError>;
    /// Returns the running trainings whose lease expired before now to the queue; returns how
    /// many.
    async fn requeue_expired(&self) -> Result<usize, StoreError>;
    /// Stores an API key hash for `org`.
    async fn add_api_key(&self, key_hash: &str, org: &str, name: &str) -> Result<(), StoreError>;
    /// The organization of an API key hash, if the key exists.
    async fn org_of_key(&self, key_hash: &str) -> Result<Option<String>, StoreError>;
    /// A receiver whose value changes after every committed write (watchers wake on it; other
    /// replicas' writes are seen by polling). The value counts this process's committed
    /// writes (wrapping).
    fn changes(&self) -> watch::Receiver<u64>;
}

/// Opens (creating a SQLite file if missing) the database at `url` and migrates its schema.
pub async fn open(url: &str) -> Result<Arc<dyn Storage>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqlStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::SqlStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

/// Microseconds since the Unix epoch, now.
pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The SQL that differs between the backends.
pub(crate) struct Dialect {
    /// Suffix locking the selected rows until commit.
    pub for_update: &'static str,
    /// Suffix locking the selected rows, skipping rows locked by others.
    pub skip_locked: &'static str,
    /// Whether one query may hold several statements sharing its `$N` arguments (sqlx's
    /// SQLite driver; PostgreSQL's extended protocol takes one statement per query).
    pub multi_statement: bool,
}

/// The embedded SQLite backend.
mod sqlite {
    use super::*;
    type Db = sqlx::Sqlite;
    const DIALECT: Dialect = Dialect { for_update: "", skip_locked: "", multi_statement: true };
    const MIGRATIONS: &[(i64, &str, &str)] = &[(
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    )];

    /// How often the checkpointer looks at the count of committed writes.
    const CHECKPOINT_TICK: std::time::Duration = std::time::Duration::from_millis(100);
    /// Committed writes after which a checkpoint runs even while writes go on: bounds the WAL
    /// (a launch adds a few pages to it) and what readers scan in it.
    const CHECKPOINT_AFTER_WRITES: u64 = 20_000;

    async fn connect(
        url: &str,
        writes: watch::Receiver<u64>,
    ) -> Result<(sqlx::Pool<Db>, sqlx::Pool<Db>), StoreError> {
        use std::str::FromStr;
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10))
            .foreign_keys(false)
            // Checkpoints run in the background (below), not inside a commit that a client
            // waits for.
            .pragma("wal_autocheckpoint", "0");
        // No ping before each use (sqlx's default): a SQLite connection is a file opened by this
        // process, not a link that can drop, and each ping is a round trip to the connection's
        // thread, two thread wake-ups, before every batch of writes and every read.
        let pool = || SqlitePoolOptions::new().test_before_acquire(false);
        let writer = pool().max_connections(1).min_connections(1).connect_with(options.clone()).await?;
        let readers = pool().max_connections(4).connect_with(options.clone().read_only(true)).await?;
        let checkpointer = pool().max_connections(1).connect_with(options).await?;
        tokio::spawn(checkpoint_loop(checkpointer, writer.clone(), writes));
        Ok((writer, readers))
    }

    /// Copies the WAL into the database file (PASSIVE: never blocks the writer or readers)
    /// when writes pause, or after [`CHECKPOINT_AFTER_WRITES`] writes, until the store is
    /// dropped.
    ///
    /// Why not on a clock: a checkpoint that catches up with the WAL syncs the database file,
    /// and on a disk that sync holds back the commits' own WAL syncs for tens of milliseconds
    /// (measured: a stall of ~35 launches at 1,000/s, once per second with a 1 s checkpoint).
    /// A pause of one tick (no write committed for [`CHECKPOINT_TICK`]) costs no client a wait;
    /// under writes that never pause, the cap keeps such stalls to one per
    /// [`CHECKPOINT_AFTER_WRITES`] writes.
    async fn checkpoint_loop(pool: sqlx::Pool<Db>, writer: sqlx::Pool<Db>, writes: watch::Receiver<u64>) {
        let mut ticks = tokio::time::interval(CHECKPOINT_TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen = *writes.borrow();
        let mut checkpointed = seen;
        while !writer.is_closed() {
            ticks.tick().await;
            let now = *writes.borrow();
            let paused = now == seen;
            seen = now;
            let pending = now.wrapping_sub(checkpointed);
            if pending == 0 || !(paused || pending >= CHECKPOINT_AFTER_WRITES) {
                continue;
            }
            match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool).await {
                Ok((_, wal_frames, copied)) => {
                    checkpointed = now;
                    tracing::debug!(pending, paused, wal_frames, copied, "WAL checkpoint");
                }
                Err(error) => tracing::warn!(%error, "WAL checkpoint failed"),
            }
        }
    }

    include!("sql_impl.rs");
}

/// The PostgreSQL backend.
mod postgres {
    use super::*;
    type Db = sqlx::Postgres;
    const DIALECT: Dialect =
        Dialect { for_update: " FOR UPDATE", skip_locked: " FOR UPDATE SKIP LOCKED", multi_statement: false };
    const MIGRATIONS: &[(i64, &str, &str)] = &[(
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    )];

    async fn connect(
        url: &str,
        _writes: watch::Receiver<u64>,
    ) -> Result<(sqlx::Pool<Db>, sqlx::Pool<Db>), StoreError> {
        use sqlx::postgres::PgPoolOptions;
        let writer = PgPoolOptions::new().max_connections(1).connect(url).await?;
        let readers = PgPoolOptions::new().max_connections(8).connect(url).await?;
        Ok((writer, readers))
    }

    include!("sql_impl.rs");
}
