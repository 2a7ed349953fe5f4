-- OEF platform schema, version 1 (PostgreSQL). Times are microseconds since the Unix epoch.
CREATE TABLE api_keys (
    key_hash   TEXT PRIMARY KEY,          -- sha256 of the key, lowercase hex; the key is never stored
    org        TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    created_us BIGINT NOT NULL
);

CREATE TABLE experiments (
    experiment_id TEXT PRIMARY KEY,       -- sha256 of the canonical encoding of the v1 experiment
    file          BYTEA NOT NULL           -- the resolved oef.v1.ExperimentFile, binary
);

CREATE TABLE trainings (
    id              TEXT PRIMARY KEY,
    org             TEXT NOT NULL,
    dataset         TEXT NOT NULL,
    view_id         TEXT NOT NULL,
    experiment_id   TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    tags            TEXT NOT NULL,        -- sorted, newline-separated
    status          BIGINT NOT NULL,     -- oef.v1.TrainingStatus
    message         TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    worker_id       TEXT NOT NULL,
    lease_id        TEXT NOT NULL,
    lease_expire_us BIGINT,              -- NULL unless running
    last_seq        BIGINT NOT NULL,
    request_id      TEXT,                 -- NULL when the launch had none
    created_us      BIGINT NOT NULL,
    updated_us      BIGINT NOT NULL
);
CREATE UNIQUE INDEX trainings_org_request ON trainings (org, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX trainings_org_created ON trainings (org, created_us DESC, id DESC);
CREATE INDEX trainings_queue ON trainings (org, status, created_us, id);
CREATE INDEX trainings_lease ON trainings (status, lease_expire_us);

-- The training that a launch without force_new returns for an experiment on a dataset view.
CREATE TABLE launch_keys (
    org           TEXT NOT NULL,
    dataset       TEXT NOT NULL,
    view_id       TEXT NOT NULL,
    experiment_id TEXT NOT NULL,
    training_id   TEXT NOT NULL,
    PRIMARY KEY (org, dataset, view_id, experiment_id)
);

CREATE TABLE training_tags (
    tag         TEXT NOT NULL,
    training_id TEXT NOT NULL,
    PRIMARY KEY (tag, training_id)
);

-- Status changes (kind 1) and metrics (kind 2), numbered 1, 2, ... per training.
CREATE TABLE events (
    training_id TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    time_us     BIGINT NOT NULL,
    kind        BIGINT NOT NULL,
    from_status BIGINT NOT NULL,
    to_status   BIGINT NOT NULL,
    message     TEXT NOT NULL,
    worker_id   TEXT NOT NULL,
    metric_name TEXT NOT NULL,
    step        BIGINT NOT NULL,
    value       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (training_id, seq)
);
