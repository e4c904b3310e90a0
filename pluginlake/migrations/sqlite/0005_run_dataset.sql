-- The ingest dataset a run receives (its `dataset` tag), as a column: runs are listed by it.
ALTER TABLE runs ADD COLUMN dataset TEXT;
UPDATE runs SET dataset = json_extract(tags, '$.dataset');
CREATE INDEX runs_dataset_created ON runs (dataset, created_at);
