-- Workers' signs of life, recorded by their loop even while idle (a worker running a run is also
-- seen through the run's heartbeat). Times are milliseconds since the Unix epoch (UTC).
CREATE TABLE workers (
    id TEXT PRIMARY KEY NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
CREATE INDEX workers_last_seen ON workers (last_seen);
