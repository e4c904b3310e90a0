"""Dagster's cost per asset in the chain bench's shape, in the bench's run.

Usage: python dagster_chain.py OUT_DIR RUNS

50 assets in a chain, each loading its upstream's 1-row polars DataFrame through Dagster's DuckDB
polars IO manager (dagster-duckdb-polars) and returning a 1-row DataFrame, materialized RUNS times
into a DuckDB file in OUT_DIR (the tables exist after the first). Prints "ready <dagster version>",
then one line per run with the seconds the whole `materialize` took.
"""

import logging
import os
import sys
import time

import dagster
import polars as pl
from dagster_duckdb_polars import DuckDBPolarsIOManager

LEN = 50


def chain():
    assets = []

    @dagster.asset(name="a00", key_prefix=["chain"])
    def first() -> pl.DataFrame:
        return pl.DataFrame({"v": [0]})

    assets.append(first)
    for i in range(1, LEN):
        prev = f"a{i - 1:02}"

        def make(prev):
            @dagster.asset(
                name=f"a{i:02}",
                key_prefix=["chain"],
                ins={"prev": dagster.AssetIn(key=["chain", prev])},
            )
            def step(prev: pl.DataFrame) -> pl.DataFrame:
                return pl.DataFrame({"v": [prev["v"][0] + 1]})

            return step

        assets.append(make(prev))
    return assets


def main() -> None:
    out, runs = sys.argv[1], int(sys.argv[2])
    logging.getLogger("dagster").setLevel(logging.WARNING)
    assets = chain()
    instance = dagster.DagsterInstance.ephemeral()
    resources = {
        "io_manager": DuckDBPolarsIOManager(
            database=os.path.join(out, "dagster_chain.duckdb"), schema="chain"
        )
    }
    print(f"ready {dagster.__version__}", flush=True)
    for _ in range(runs):
        t = time.perf_counter()
        result = dagster.materialize(
            assets, resources=resources, instance=instance, raise_on_error=True
        )
        assert result.success
        print(f"{time.perf_counter() - t:.6f}", flush=True)


if __name__ == "__main__":
    main()
