-- Idempotency keys of submits: the SHA-256 of the caller's scope and key (never the key itself),
-- unique while set (a key older than its holding time is released, set to NULL, when reused),
-- and the SHA-256 of the request it was first used with.
ALTER TABLE runs ADD COLUMN idempotency_key TEXT;
ALTER TABLE runs ADD COLUMN idempotency_digest TEXT;
CREATE UNIQUE INDEX runs_idempotency_key ON runs (idempotency_key);
