-- The assets a run writes, resolved at submit time: a run is only claimed while no started run
-- writes any of the same assets (two runs never replace one table at once).
CREATE TABLE run_assets (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    asset TEXT NOT NULL,
    PRIMARY KEY (run_id, asset)
);
CREATE INDEX run_assets_asset ON run_assets (asset);
