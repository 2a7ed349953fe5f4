// The SQL implementation of `Storage`, included once per backend by `store/mod.rs` with `Db`
// (the sqlx database), `DIALECT`, `MIGRATIONS` and `connect` in scope. The SQL is the same for
// both backends (`$N` placeholders work in SQLite too) but for `DIALECT`'s row locks.

use oef_proto::v1::TrainingStatus;
use sqlx::Row as _;
use tokio::sync::{mpsc, oneshot};

type Conn = <Db as sqlx::Database>::Connection;
type DbRow = <Db as sqlx::Database>::Row;

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;

const QUEUED: i32 = TrainingStatus::Queued as i32;
const RUNNING: i32 = TrainingStatus::Running as i32;
const SUCCEEDED: i32 = TrainingStatus::Succeeded as i32;
const FAILED: i32 = TrainingStatus::Failed as i32;
const CANCELLED: i32 = TrainingStatus::Cancelled as i32;

const COLUMNS: &str = "id, org, dataset, view_id, experiment_id, architecture, tags, status, \
    message, attempts, worker_id, lease_id, lease_expire_us, last_seq, request_id, created_us, \
    updated_us";

/// A write, executed by the writer task.
enum Op {
    Launch(NewLaunch),
    Cancel { org: String, id: String, reason: String },
    Claim { org: String, worker_id: String, lease_us: i64 },
    Heartbeat { org: String, id: String, lease_id: String, lease_us: i64 },
    Metrics { org: String, id: String, lease_id: String, metrics: Vec<MetricPoint> },
    Finish { org: String, id: String, lease_id: String, success: bool, message: String },
    Requeue,
    AddKey { hash: String, org: String, name: String },
}

/// The result of an [`Op`].
enum Reply {
    Launch(LaunchOutcome),
    Training(TrainingRecord),
    Claim(Option<Claim>),
    Seq(u64),
    Count(usize),
    Unit,
}

struct Pending {
    op: Op,
    reply: oneshot::Sender<Result<Reply, StoreError>>,
}

/// The storage over one database: a writer task (group commit) and a pool of readers.
pub(crate) struct SqlStore {
    writes: mpsc::Sender<Pending>,
    readers: sqlx::Pool<Db>,
    changes: watch::Receiver<u64>,
}

impl SqlStore {
    /// Connects, migrates and starts the writer task.
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let (notify, changes) = watch::channel(0u64);
        let (writer, readers) = connect(url, changes.clone()).await?;
        let migrator = migrate::migrator(migrate::Embedded(MIGRATIONS)).await?;
        migrator.run(&writer).await?;
        let (writes, queue) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(writer_loop(writer, queue, notify));
        Ok(Self { writes, readers, changes })
    }

    async fn submit(&self, op: Op) -> Result<Reply, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writes.send(Pending { op, reply }).await.map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

fn unexpected() -> StoreError {
    StoreError::Database(sqlx::Error::Protocol("unexpected reply from the storage writer".into()))
}

#[tonic::async_trait]
impl Storage for SqlStore {
    async fn launch(&self, launch: NewLaunch) -> Result<LaunchOutcome, StoreError> {
        match self.submit(Op::Launch(launch)).await? {
            Reply::Launch(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }

    async fn training(&self, org: &str, id: &str) -> Result<Option<TrainingRecord>, StoreError> {
        let mut conn = self.readers.acquire().await?;
        select_training(&mut conn, "org = $1 AND id = $2", &[org, id], false).await
    }

    async fn experiment(&self, experiment_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT file FROM experiments WHERE experiment_id = $1")
            .bind(experiment_id)
            .fetch_optional(&self.readers)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get::<Vec<u8>, _>("file")?),
            None => None,
        })
    }

    async fn list(&self, org: &str, filter: &ListFilter) -> Result<Vec<TrainingRecord>, StoreError> {
        enum Arg<'a> {
            I(i64),
            S(&'a str),
        }
        let mut args = vec![Arg::S(org)];
        let mut sql = format!("SELECT {COLUMNS} FROM trainings WHERE org = $1");
        if !filter.statuses.is_empty() {
            let mut marks = Vec::new();
            for status in &filter.statuses {
                args.push(Arg::I(i64::from(*status)));
                marks.push(format!("${}", args.len()));
            }
            sql.push_str(&format!(" AND status IN ({})", marks.join(", ")));
        }
        if !filter.architecture.is_empty() {
            args.push(Arg::S(&filter.architecture));
            sql.push_str(&format!(" AND architecture = ${}", args.len()));
        }
        if !filter.dataset.is_empty() {
            args.push(Arg::S(&filter.dataset));
            sql.push_str(&format!(" AND dataset = ${}", args.len()));
        }
        if !filter.tag.is_empty() {
            args.push(Arg::S(&filter.tag));
            sql.push_str(&format!(
                " AND id IN (SELECT training_id FROM training_tags WHERE tag = ${})",
                args.len()
            ));
        }
        if let Some((created, id)) = &filter.after {
            args.push(Arg::I(*created));
            let c = args.len();
            args.push(Arg::S(id));
            let i = args.len();
            sql.push_str(&format!(" AND (created_us < ${c} OR (created_us = ${c} AND id < ${i}))"));
        }
        args.push(Arg::I(i64::from(filter.limit)));
        sql.push_str(&format!(" ORDER BY created_us DESC, id DESC LIMIT ${}", args.len()));
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = match arg {
                Arg::I(v) => query.bind(v),
                Arg::S(v) => query.bind(v),
            };
        }
        let rows = query.fetch_all(&self.readers).await?;
        rows.iter().map(|row| training_from_row(row).map_err(StoreError::from)).collect()
    }

    async fn events(&self, id: &str, after: u64, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, time_us, kind, from_status, to_status, message, worker_id, metric_name, \
             step, value FROM events WHERE training_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(id)
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(|row| event_from_row(row).map_err(StoreError::from)).collect()
    }

    async fn cancel(&self, org: &str, id: &str, reason: &str) -> Result<TrainingRecord, StoreError> {
        let op = Op::Cancel { org: org.into(), id: id.into(), reason: reason.into() };
        match self.submit(op).await? {
            Reply::Training(t) => Ok(t),
            _ => Err(unexpected()),
        }
    }

    async fn claim(&self, org: &str, worker_id: &str, lease_us: i64) -> Result<Option<Claim>, StoreError> {
        let op = Op::Claim { org: org.into(), worker_id: worker_id.into(), lease_us };
        match self.submit(op).await? {
            Reply::Claim(claim) => Ok(claim),
            _ => Err(unexpected()),
        }
    }

    async fn heartbeat(
        &self,
        org: &str,
        id: &str,
        lease_id: &str,
        lease_us: i64,
    ) -> Result<TrainingRecord, StoreError> {
        let op = Op::Heartbeat { org: org.into(), id: id.into(), lease_id: lease_id.into(), lease_us };
        match self.submit(op).await? {
            Reply::Training(t) => Ok(t),
            _ => Err(unexpected()),
        }
    }

    async fn report_metrics(
        &self,
        org: &str,
        id: &str,
        lease_id: &str,
        metrics: Vec<MetricPoint>,
    ) -> Result<u64, StoreError> {
        let op = Op::Metrics { org: org.into(), id: id.into(), lease_id: lease_id.into(), metrics };
        match self.submit(op).await? {
            Reply::Seq(seq) => Ok(seq),
            _ => Err(unexpected()),
        }
    }

    async fn finish(
        &self,
        org: &str,
        id: &str,
        lease_id: &str,
        success: bool,
        message: &str,
    ) -> Result<TrainingRecord, StoreError> {
        let op = Op::Finish {
            org: org.into(),
            id: id.into(),
            lease_id: lease_id.into(),
            success,
            message: message.into(),
        };
        match self.submit(op).await? {
            Reply::Training(t) => Ok(t),
            _ => Err(unexpected()),
        }
    }

    async fn requeue_expired(&self) -> Result<usize, StoreError> {
        match self.submit(Op::Requeue).await? {
            Reply::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    async fn add_api_key(&self, key_hash: &str, org: &str, name: &str) -> Result<(), StoreError> {
        let op = Op::AddKey { hash: key_hash.into(), org: org.into(), name: name.into() };
        match self.submit(op).await? {
            Reply::Unit => Ok(()),
            _ => Err(unexpected()),
        }
    }

    async fn org_of_key(&self, key_hash: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT org FROM api_keys WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&self.readers)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get::<String, _>("org")?),
            None => None,
        })
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }
}

/// Commits queued writes in batches until every sender is gone.
///
/// The task keeps the writer connection between batches: handing a connection back to an sqlx
/// pool spawns a task that pings it (for SQLite a round trip to the connection's thread), which
/// every lone launch paid after its commit. After a database error the connection goes back to
/// the pool (whose ping closes it if it is broken) and the next batch takes one again.
async fn writer_loop(pool: sqlx::Pool<Db>, mut queue: mpsc::Receiver<Pending>, notify: watch::Sender<u64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut held: Option<sqlx::pool::PoolConnection<Db>> = None;
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let results = match run_batch(&pool, &mut held, &batch).await {
            Ok(results) => results,
            Err(error) => {
                // One failed statement aborts a transaction (PostgreSQL): run each write alone,
                // retrying once (a concurrent replica may have won a unique key meanwhile).
                tracing::warn!(%error, size = batch.len(), "batch failed; retrying writes one by one");
                let mut results = Vec::with_capacity(batch.len());
                for pending in &batch {
                    let mut result = run_batch(&pool, &mut held, std::slice::from_ref(pending)).await;
                    if result.is_err() {
                        result = run_batch(&pool, &mut held, std::slice::from_ref(pending)).await;
                    }
                    results.push(match result {
                        Ok(mut one) => one.pop().unwrap_or_else(|| Err(unexpected())),
                        Err(error) => Err(error),
                    });
                }
                results
            }
        };
        notify.send_modify(|v| *v = v.wrapping_add(batch.len() as u64));
        for (pending, result) in batch.drain(..).zip(results) {
            // The caller may have gone (cancelled call); the write stands.
            let _ = pending.reply.send(result);
        }
    }
    // Every handle is gone: close the connection (background tasks watching it stop).
    drop(held);
    pool.close().await;
}

/// Applies `batch` in one transaction on the held connection (taken from `pool` when none is
/// held); `Err` when a database error aborted it (nothing of it is committed then, and the
/// connection is handed back to the pool). Refusals (not found, illegal transitions) are
/// per-write results.
async fn run_batch(
    pool: &sqlx::Pool<Db>,
    held: &mut Option<sqlx::pool::PoolConnection<Db>>,
    batch: &[Pending],
) -> Result<Vec<Result<Reply, StoreError>>, StoreError> {
    let conn = match held {
        Some(conn) => conn,
        None => held.insert(pool.acquire().await?),
    };
    let result = run_batch_on(conn, batch).await;
    if result.is_err() {
        *held = None;
    }
    result
}

async fn run_batch_on(conn: &mut Conn, batch: &[Pending]) -> Result<Vec<Result<Reply, StoreError>>, StoreError> {
    if let [Pending { op: Op::Launch(launch), .. }] = batch {
        if let Some(outcome) = launch_alone(conn, launch).await? {
            return Ok(vec![Ok(Reply::Launch(outcome))]);
        }
    }
    let mut tx = sqlx::Connection::begin(conn).await?;
    let mut results = Vec::with_capacity(batch.len());
    let mut rest = batch;
    while !rest.is_empty() {
        // A run of consecutive launches goes in a few multi-row statements when it can.
        let run = rest.iter().take_while(|p| matches!(p.op, Op::Launch(_))).count();
        if run >= 2 {
            let launches: Vec<&NewLaunch> = rest[..run]
                .iter()
                .filter_map(|p| if let Op::Launch(l) = &p.op { Some(l) } else { None })
                .collect();
            if let Some(outcomes) = launch_many(&mut tx, &launches, now_us()).await? {
                results.extend(outcomes.into_iter().map(|o| o.map(Reply::Launch)));
                rest = &rest[run..];
                continue;
            }
        }
        match apply(&mut tx, &rest[0].op).await {
            Err(error @ (StoreError::Database(_) | StoreError::Migrate(_))) => return Err(error),
            result => results.push(result),
        }
        rest = &rest[1..];
    }
    tx.commit().await?;
    Ok(results)
}

async fn apply(conn: &mut Conn, op: &Op) -> Result<Reply, StoreError> {
    let now = now_us();
    match op {
        Op::Launch(launch) => launch_one(conn, launch, now).await.map(Reply::Launch),
        Op::Cancel { org, id, reason } => {
            let t = select_training(conn, "org = $1 AND id = $2", &[org, id], true)
                .await?
                .ok_or_else(|| StoreError::NotFound(id.clone()))?;
            match t.status {
                QUEUED | RUNNING => {
                    let worker = t.worker_id.clone();
                    transition(conn, t, CANCELLED, reason, &worker, None, now).await.map(Reply::Training)
                }
                CANCELLED => Ok(Reply::Training(t)),
                other => Err(StoreError::FailedPrecondition(format!(
                    "training {id} is {}: only a queued or running training can be cancelled",
                    status_name(other)
                ))),
            }
        }
        Op::Claim { org, worker_id, lease_us } => {
            let row = sqlx::query(&format!(
                "SELECT id FROM trainings WHERE org = $1 AND status = $2 \
                 ORDER BY created_us, id LIMIT 1{}",
                DIALECT.skip_locked
            ))
            .bind(org.as_str())
            .bind(i64::from(QUEUED))
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else { return Ok(Reply::Claim(None)) };
            let id: String = row.try_get("id")?;
            let mut t = select_training(conn, "id = $1", &[&id], false)
                .await?
                .ok_or_else(|| StoreError::NotFound(id.clone()))?;
            t.attempts += 1;
            let lease = (new_id(), now.saturating_add(*lease_us));
            let t = transition(conn, t, RUNNING, "", worker_id, Some(lease), now).await?;
            let file = sqlx::query("SELECT file FROM experiments WHERE experiment_id = $1")
                .bind(t.experiment_id.as_str())
                .fetch_one(&mut *conn)
                .await?
                .try_get::<Vec<u8>, _>("file")?;
            Ok(Reply::Claim(Some(Claim { training: t, file })))
        }
        Op::Heartbeat { org, id, lease_id, lease_us } => {
            let mut t = leased(conn, org, id, lease_id, now).await?;
            let expire = now.saturating_add(*lease_us);
            sqlx::query("UPDATE trainings SET lease_expire_us = $1 WHERE id = $2")
                .bind(expire)
                .bind(id.as_str())
                .execute(&mut *conn)
                .await?;
            t.lease_expire_us = Some(expire);
            Ok(Reply::Training(t))
        }
        Op::Metrics { org, id, lease_id, metrics } => {
            let t = leased(conn, org, id, lease_id, now).await?;
            let mut seq = t.last_seq;
            for metric in metrics {
                seq += 1;
                insert_event(conn, id, seq, now, &EventKind::Metric(metric.clone())).await?;
            }
            sqlx::query("UPDATE trainings SET last_seq = $1 WHERE id = $2")
                .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                .bind(id.as_str())
                .execute(&mut *conn)
                .await?;
            Ok(Reply::Seq(seq))
        }
        Op::Finish { org, id, lease_id, success, message } => {
            let t = leased(conn, org, id, lease_id, now).await?;
            let to = if *success { SUCCEEDED } else { FAILED };
            let worker = t.worker_id.clone();
            transition(conn, t, to, message, &worker, None, now).await.map(Reply::Training)
        }
        Op::Requeue => {
            let rows = sqlx::query(&format!(
                "SELECT id FROM trainings WHERE status = $1 AND lease_expire_us < $2 LIMIT 1000{}",
                DIALECT.skip_locked
            ))
            .bind(i64::from(RUNNING))
            .bind(now)
            .fetch_all(&mut *conn)
            .await?;
            let mut count = 0;
            for row in rows {
                let id: String = row.try_get("id")?;
                if let Some(t) = select_training(conn, "id = $1", &[&id], false).await? {
                    let worker = t.worker_id.clone();
                    transition(conn, t, QUEUED, "lease expired", &worker, None, now).await?;
                    count += 1;
                }
            }
            Ok(Reply::Count(count))
        }
        Op::AddKey { hash, org, name } => {
            sqlx::query("INSERT INTO api_keys (key_hash, org, name, created_us) VALUES ($1, $2, $3, $4)")
                .bind(hash.as_str())
                .bind(org.as_str())
                .bind(name.as_str())
                .bind(now)
                .execute(&mut *conn)
                .await?;
            Ok(Reply::Unit)
        }
    }
}

async fn launch_one(conn: &mut Conn, l: &NewLaunch, now: i64) -> Result<LaunchOutcome, StoreError> {
    if let Some(request_id) = &l.request_id {
        if let Some(t) =
            select_training(conn, "org = $1 AND request_id = $2", &[&l.org, request_id], false).await?
        {
            if t.experiment_id != l.experiment_id || t.dataset != l.dataset || t.view_id != l.view_id {
                return Err(StoreError::Conflict(format!(
                    "request id {request_id:?} was already used by another launch (training {})",
                    t.id
                )));
            }
            return Ok(LaunchOutcome { training: t, created: false });
        }
    }
    let id = new_id();
    let key_sql = "INSERT INTO launch_keys (org, dataset, view_id, experiment_id, training_id) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org, dataset, view_id, experiment_id) ";
    let key = format!(
        "{key_sql}{}",
        if l.force_new { "DO UPDATE SET training_id = excluded.training_id" } else { "DO NOTHING" }
    );
    let inserted = sqlx::query(&key)
        .bind(l.org.as_str())
        .bind(l.dataset.as_str())
        .bind(l.view_id.as_str())
        .bind(l.experiment_id.as_str())
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if inserted == 0 {
        return existing_launch(conn, l).await;
    }
    let t = new_record(l, id, now);
    let files = std::collections::HashMap::from([(l.experiment_id.as_str(), l.file.as_slice())]);
    insert_created(conn, std::slice::from_ref(&t), &files, now).await?;
    Ok(LaunchOutcome { training: t, created: true })
}

/// Most tags a launch may have for [`launch_alone`] (the API allows 32).
const ALONE_MAX_TAGS: usize = 32;

/// A launch alone in its batch (the usual case below a few hundred launches per second), as
/// one query of several statements: the transaction, the inserts of [`launch_one`] and
/// [`insert_created`], the lookup of the launch key's training and the commit reach the
/// database in one round trip instead of six. With SQLite each round trip is a hop to the
/// connection's thread and back, two thread wake-ups: they were most of a lone launch's time.
///
/// The rows written are those of [`launch_one`]: every insert after the launch key's is
/// conditional on the key holding this launch's new training id (else the launch key was
/// already taken and the existing training is returned). `None` (nothing done) when the
/// backend takes one statement per query, or for a request id or `force_new` (the general
/// path handles them).
async fn launch_alone(conn: &mut Conn, l: &NewLaunch) -> Result<Option<LaunchOutcome>, StoreError> {
    if !DIALECT.multi_statement || l.request_id.is_some() || l.force_new || l.tags.len() > ALONE_MAX_TAGS {
        return Ok(None);
    }
    let id = new_id();
    let now = now_us();
    // $1..$4 the launch key, $5 the new training id, $6 the file, $7 the architecture, $8 the
    // tags joined, $9 the queued status, $10 now, $11.. each tag.
    const CREATED: &str = "EXISTS (SELECT 1 FROM launch_keys WHERE org = $1 AND dataset = $2 AND view_id = $3 \
                           AND experiment_id = $4 AND training_id = $5)";
    let mut sql = format!(
        "BEGIN; \
         INSERT INTO launch_keys (org, dataset, view_id, experiment_id, training_id) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (org, dataset, view_id, experiment_id) DO NOTHING; \
         INSERT INTO experiments (experiment_id, file) SELECT $4, $6 WHERE {CREATED} \
         ON CONFLICT (experiment_id) DO NOTHING; \
         INSERT INTO trainings ({COLUMNS}) SELECT $5, $1, $2, $3, $4, $7, $8, $9, '', 0, '', '', NULL, 1, NULL, $10, $10 \
         WHERE {CREATED}; \
         INSERT INTO events (training_id, seq, time_us, kind, from_status, to_status, message, worker_id, \
         metric_name, step, value) SELECT $5, 1, $10, 1, 0, $9, '', '', '', 0, 0.0 WHERE {CREATED}; "
    );
    for i in 0..l.tags.len() {
        sql.push_str(&format!(
            "INSERT INTO training_tags (tag, training_id) SELECT ${}, $5 WHERE {CREATED}; ",
            11 + i
        ));
    }
    sql.push_str(
        "SELECT training_id FROM launch_keys WHERE org = $1 AND dataset = $2 AND view_id = $3 \
         AND experiment_id = $4; COMMIT;",
    );
    let mut query = sqlx::query(&sql)
        .bind(l.org.as_str())
        .bind(l.dataset.as_str())
        .bind(l.view_id.as_str())
        .bind(l.experiment_id.as_str())
        .bind(id.as_str())
        .bind(l.file.as_slice())
        .bind(l.architecture.as_str())
        .bind(l.tags.join("\n"))
        .bind(i64::from(QUEUED))
        .bind(now);
    for tag in &l.tags {
        query = query.bind(tag.as_str());
    }
    let rows = match query.fetch_all(&mut *conn).await {
        Ok(rows) => rows,
        Err(error) => {
            // A failed statement leaves the transaction open: end it (nothing of it stays).
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            return Err(error.into());
        }
    };
    let holder: String = rows.first().ok_or_else(unexpected)?.try_get("training_id")?;
    if holder == id {
        return Ok(Some(LaunchOutcome { training: new_record(l, id, now), created: true }));
    }
    let training = select_training(conn, "id = $1", &[&holder], false)
        .await?
        .ok_or(StoreError::NotFound(holder))?;
    Ok(Some(LaunchOutcome { training, created: false }))
}

/// The training already launched under `l`'s launch key (org, dataset, view, experiment).
async fn existing_launch(conn: &mut Conn, l: &NewLaunch) -> Result<LaunchOutcome, StoreError> {
    let existing: String = sqlx::query(
        "SELECT training_id FROM launch_keys WHERE org = $1 AND dataset = $2 AND view_id = $3 \
         AND experiment_id = $4",
    )
    .bind(l.org.as_str())
    .bind(l.dataset.as_str())
    .bind(l.view_id.as_str())
    .bind(l.experiment_id.as_str())
    .fetch_one(&mut *conn)
    .await?
    .try_get("training_id")?;
    let t = select_training(conn, "id = $1", &[&existing], false)
        .await?
        .ok_or(StoreError::NotFound(existing))?;
    Ok(LaunchOutcome { training: t, created: false })
}

/// The record of a training `id` newly created by launch `l`: queued, sequence 1.
fn new_record(l: &NewLaunch, id: String, now: i64) -> TrainingRecord {
    TrainingRecord {
        id,
        org: l.org.clone(),
        dataset: l.dataset.clone(),
        view_id: l.view_id.clone(),
        experiment_id: l.experiment_id.clone(),
        architecture: l.architecture.clone(),
        tags: l.tags.clone(),
        status: QUEUED,
        message: String::new(),
        attempts: 0,
        worker_id: String::new(),
        lease_id: String::new(),
        lease_expire_us: None,
        last_seq: 1,
        request_id: l.request_id.clone(),
        created_us: now,
        updated_us: now,
    }
}

/// Rows per multi-row INSERT: 17 columns × 64 rows stays far below both backends' limits on
/// bound parameters (SQLite 32 766, PostgreSQL 65 535).
const ROWS_PER_INSERT: usize = 64;

/// Applies several launches with a few multi-row statements instead of four or more statements
/// each: the same rows and outcomes as [`launch_one`] on each launch in order. Only for the
/// common case: `None` (nothing done) when a launch has a request id or `force_new`, or when
/// two launches share a launch key; the caller then applies them one by one.
async fn launch_many(
    conn: &mut Conn,
    launches: &[&NewLaunch],
    now: i64,
) -> Result<Option<Vec<Result<LaunchOutcome, StoreError>>>, StoreError> {
    let launch_key = |l: &NewLaunch| (l.org.clone(), l.dataset.clone(), l.view_id.clone(), l.experiment_id.clone());
    let mut keys = std::collections::HashSet::with_capacity(launches.len());
    if launches.iter().any(|l| l.request_id.is_some() || l.force_new || !keys.insert(launch_key(l))) {
        return Ok(None);
    }
    let ids: Vec<String> = launches.iter().map(|_| new_id()).collect();

    // Launch keys: the rows inserted are the launches that create a training.
    let mut created = std::collections::HashSet::with_capacity(launches.len());
    for chunk in launches.iter().zip(&ids).collect::<Vec<_>>().chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO launch_keys (org, dataset, view_id, experiment_id, training_id) ",
        );
        insert.push_values(chunk, |mut row, (l, id)| {
            row.push_bind(l.org.as_str())
                .push_bind(l.dataset.as_str())
                .push_bind(l.view_id.as_str())
                .push_bind(l.experiment_id.as_str())
                .push_bind(id.as_str());
        });
        insert.push(" ON CONFLICT (org, dataset, view_id, experiment_id) DO NOTHING RETURNING training_id");
        for row in insert.build().persistent(false).fetch_all(&mut *conn).await? {
            created.insert(row.try_get::<String, _>("training_id")?);
        }
    }
    let new: Vec<TrainingRecord> = launches
        .iter()
        .zip(&ids)
        .filter(|(_, id)| created.contains(*id))
        .map(|(l, id)| new_record(l, id.clone(), now))
        .collect();
    let files: std::collections::HashMap<&str, &[u8]> =
        launches.iter().map(|l| (l.experiment_id.as_str(), l.file.as_slice())).collect();

    insert_created(conn, &new, &files, now).await?;

    let mut new = new.into_iter();
    let mut outcomes = Vec::with_capacity(launches.len());
    for (l, id) in launches.iter().zip(&ids) {
        if created.contains(id) {
            let training = new.next().ok_or_else(unexpected)?;
            outcomes.push(Ok(LaunchOutcome { training, created: true }));
        } else {
            match existing_launch(conn, l).await {
                Err(error @ (StoreError::Database(_) | StoreError::Migrate(_))) => return Err(error),
                outcome => outcomes.push(outcome),
            }
        }
    }
    Ok(Some(outcomes))
}

/// Inserts what a launch creates, for each record of `new` (created at `now`): its experiment
/// (`files` by experiment id; kept if already stored), the training row, its tags and its first
/// event (queued). A few multi-row statements per [`ROWS_PER_INSERT`] records.
async fn insert_created(
    conn: &mut Conn,
    new: &[TrainingRecord],
    files: &std::collections::HashMap<&str, &[u8]>,
    now: i64,
) -> Result<(), StoreError> {
    // One-row statements always have the same text: worth keeping prepared. Multi-row ones vary
    // with the row count and would only churn the statement cache.
    let persistent = new.len() == 1;
    for chunk in new.chunks(ROWS_PER_INSERT) {
        let mut seen = std::collections::HashSet::new();
        let experiments: Vec<&str> =
            chunk.iter().map(|t| t.experiment_id.as_str()).filter(|id| seen.insert(*id)).collect();
        let mut insert = sqlx::QueryBuilder::<Db>::new("INSERT INTO experiments (experiment_id, file) ");
        insert.push_values(&experiments, |mut row, id| {
            row.push_bind(*id).push_bind(files.get(id).copied().unwrap_or_default());
        });
        insert.push(" ON CONFLICT (experiment_id) DO NOTHING");
        insert.build().persistent(persistent).execute(&mut *conn).await?;

        let mut insert = sqlx::QueryBuilder::<Db>::new(format!("INSERT INTO trainings ({COLUMNS}) "));
        insert.push_values(chunk, |mut row, t| {
            row.push_bind(t.id.as_str())
                .push_bind(t.org.as_str())
                .push_bind(t.dataset.as_str())
                .push_bind(t.view_id.as_str())
                .push_bind(t.experiment_id.as_str())
                .push_bind(t.architecture.as_str())
                .push_bind(t.tags.join("\n"))
                .push_bind(i64::from(t.status))
                .push_bind("")
                .push_bind(0i64)
                .push_bind("")
                .push_bind("")
                .push_bind(None::<i64>)
                .push_bind(1i64)
                .push_bind(t.request_id.as_deref())
                .push_bind(now)
                .push_bind(now);
        });
        insert.build().persistent(persistent).execute(&mut *conn).await?;

        let tags: Vec<(&str, &str)> =
            chunk.iter().flat_map(|t| t.tags.iter().map(|tag| (tag.as_str(), t.id.as_str()))).collect();
        for tags in tags.chunks(ROWS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::<Db>::new("INSERT INTO training_tags (tag, training_id) ");
            insert.push_values(tags, |mut row, (tag, id)| {
                row.push_bind(*tag).push_bind(*id);
            });
            insert.build().persistent(persistent).execute(&mut *conn).await?;
        }

        let mut insert = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO events (training_id, seq, time_us, kind, from_status, to_status, message, \
             worker_id, metric_name, step, value) ",
        );
        insert.push_values(chunk, |mut row, t| {
            row.push_bind(t.id.as_str())
                .push_bind(1i64)
                .push_bind(now)
                .push_bind(1i64)
                .push_bind(0i64)
                .push_bind(i64::from(QUEUED))
                .push_bind("")
                .push_bind("")
                .push_bind("")
                .push_bind(0i64)
                .push_bind(0f64);
        });
        insert.build().persistent(persistent).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The running training `id` of `org` if `lease_id` is its current, unexpired lease.
async fn leased(conn: &mut Conn, org: &str, id: &str, lease_id: &str, now: i64) -> Result<TrainingRecord, StoreError> {
    let t = select_training(conn, "org = $1 AND id = $2", &[org, id], true)
        .await?
        .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
    if t.status != RUNNING {
        return Err(StoreError::FailedPrecondition(format!(
            "training {id} is {}, not running",
            status_name(t.status)
        )));
    }
    if t.lease_id != lease_id {
        return Err(StoreError::FailedPrecondition(format!(
            "lease {lease_id:?} of training {id} is no longer held (the training was claimed again)"
        )));
    }
    if t.lease_expire_us.is_some_and(|expire| expire < now) {
        return Err(StoreError::FailedPrecondition(format!("lease {lease_id:?} of training {id} expired")));
    }
    Ok(t)
}

/// Moves `t` to status `to`, recording the event; `lease` is the new (lease id, expiry).
async fn transition(
    conn: &mut Conn,
    mut t: TrainingRecord,
    to: i32,
    message: &str,
    worker_id: &str,
    lease: Option<(String, i64)>,
    now: i64,
) -> Result<TrainingRecord, StoreError> {
    let from = t.status;
    t.status = to;
    t.message = message.to_owned();
    t.worker_id = worker_id.to_owned();
    (t.lease_id, t.lease_expire_us) = match lease {
        Some((id, expire)) => (id, Some(expire)),
        None => (String::new(), None),
    };
    t.last_seq += 1;
    t.updated_us = now;
    sqlx::query(
        "UPDATE trainings SET status = $1, message = $2, worker_id = $3, lease_id = $4, \
         lease_expire_us = $5, attempts = $6, last_seq = $7, updated_us = $8 WHERE id = $9",
    )
    .bind(i64::from(t.status))
    .bind(t.message.as_str())
    .bind(t.worker_id.as_str())
    .bind(t.lease_id.as_str())
    .bind(t.lease_expire_us)
    .bind(i64::from(t.attempts))
    .bind(i64::try_from(t.last_seq).unwrap_or(i64::MAX))
    .bind(now)
    .bind(t.id.as_str())
    .execute(&mut *conn)
    .await?;
    let event = EventKind::Status { from, to, message: message.to_owned(), worker_id: worker_id.to_owned() };
    insert_event(conn, &t.id, t.last_seq, now, &event).await?;
    Ok(t)
}

async fn insert_event(conn: &mut Conn, id: &str, seq: u64, now: i64, kind: &EventKind) -> Result<(), StoreError> {
    let (kind_code, from, to, message, worker, name, step, value) = match kind {
        EventKind::Status { from, to, message, worker_id } => {
            (1i64, i64::from(*from), i64::from(*to), message.as_str(), worker_id.as_str(), "", 0i64, 0f64)
        }
        EventKind::Metric(m) => (2i64, 0, 0, "", "", m.name.as_str(), m.step, m.value),
    };
    sqlx::query(
        "INSERT INTO events (training_id, seq, time_us, kind, from_status, to_status, message, \
         worker_id, metric_name, step, value) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(i64::try_from(seq).unwrap_or(i64::MAX))
    .bind(now)
    .bind(kind_code)
    .bind(from)
    .bind(to)
    .bind(message)
    .bind(worker)
    .bind(name)
    .bind(step)
    .bind(value)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn select_training(
    conn: &mut Conn,
    condition: &str,
    args: &[&str],
    lock: bool,
) -> Result<Option<TrainingRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM trainings WHERE {condition}{}",
        if lock { DIALECT.for_update } else { "" }
    );
    let mut query = sqlx::query(&sql);
    for arg in args {
        query = query.bind(*arg);
    }
    let row = query.fetch_optional(&mut *conn).await?;
    Ok(match row {
        Some(row) => Some(training_from_row(&row)?),
        None => None,
    })
}

fn training_from_row(row: &DbRow) -> Result<TrainingRecord, sqlx::Error> {
    let tags: String = row.try_get("tags")?;
    Ok(TrainingRecord {
        id: row.try_get("id")?,
        org: row.try_get("org")?,
        dataset: row.try_get("dataset")?,
        view_id: row.try_get("view_id")?,
        experiment_id: row.try_get("experiment_id")?,
        architecture: row.try_get("architecture")?,
        tags: if tags.is_empty() { Vec::new() } else { tags.split('\n').map(str::to_owned).collect() },
        status: i32::try_from(row.try_get::<i64, _>("status")?).unwrap_or_default(),
        message: row.try_get("message")?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or_default(),
        worker_id: row.try_get("worker_id")?,
        lease_id: row.try_get("lease_id")?,
        lease_expire_us: row.try_get("lease_expire_us")?,
        last_seq: u64::try_from(row.try_get::<i64, _>("last_seq")?).unwrap_or_default(),
        request_id: row.try_get("request_id")?,
        created_us: row.try_get("created_us")?,
        updated_us: row.try_get("updated_us")?,
    })
}

fn event_from_row(row: &DbRow) -> Result<EventRecord, sqlx::Error> {
    let kind = if row.try_get::<i64, _>("kind")? == 2 {
        EventKind::Metric(MetricPoint {
            name: row.try_get("metric_name")?,
            step: row.try_get("step")?,
            value: row.try_get("value")?,
        })
    } else {
        EventKind::Status {
            from: i32::try_from(row.try_get::<i64, _>("from_status")?).unwrap_or_default(),
            to: i32::try_from(row.try_get::<i64, _>("to_status")?).unwrap_or_default(),
            message: row.try_get("message")?,
            worker_id: row.try_get("worker_id")?,
        }
    };
    Ok(EventRecord {
        seq: u64::try_from(row.try_get::<i64, _>("seq")?).unwrap_or_default(),
        time_us: row.try_get("time_us")?,
        kind,
    })
}

fn status_name(status: i32) -> &'static str {
    match TrainingStatus::try_from(status) {
        Ok(TrainingStatus::Queued) => "queued",
        Ok(TrainingStatus::Running) => "running",
        Ok(TrainingStatus::Succeeded) => "succeeded",
        Ok(TrainingStatus::Failed) => "failed",
        Ok(TrainingStatus::Cancelled) => "cancelled",
        _ => "unspecified",
    }
}

/// A new id: 32 lowercase hex digits, the first 12 the creation time in milliseconds, the other
/// 20 random (80 bits). Ids made later sort after earlier ones, so the rows a batch inserts
/// into the id-keyed B-trees (trainings, events) land on the same few pages instead of one
/// random page each, which is what every commit writes to the WAL.
fn new_id() -> String {
    let millis = now_us() / 1000;
    format!("{:012x}{}", millis & 0xffff_ffff_ffff, crate::auth::random_hex(10))
}
