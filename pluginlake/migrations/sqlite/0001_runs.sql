-- Runs and their append-only event logs. Times are milliseconds since the Unix epoch (UTC).
CREATE TABLE runs (
    id TEXT PRIMARY KEY NOT NULL,
    selection TEXT NOT NULL,
    payload TEXT,
    tags TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL CHECK (state IN ('queued', 'started', 'success', 'failure', 'canceled')),
    attempt BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL DEFAULT 1,
    error TEXT,
    worker TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    heartbeat_at BIGINT
);
CREATE INDEX runs_state_created ON runs (state, created_at);
CREATE INDEX runs_created ON runs (created_at);

CREATE TABLE run_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    asset TEXT,
    snapshot_id BIGINT,
    rows BIGINT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX run_events_run ON run_events (run_id, seq);
CREATE INDEX run_events_asset ON run_events (asset, kind, seq);
