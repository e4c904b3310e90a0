"""The io_path bench's frame written by the same libraries from Python, in the bench's run.

Usage: python python_io.py FRAME.parquet OUT_DIR

Reads the frame once (written by the bench), rechunks it to one chunk per column like the bench's
frame and prints "ready <rows> polars <version> dagster <version or 'missing'>". Then, for every
line on standard input, writes the frame and prints the seconds it took:

- "polars": DataFrame.write_parquet with polars' defaults (zstd, statistics) to OUT_DIR;
- "dagster": Dagster materializes an asset returning the frame through its DuckDB polars IO
  manager (dagster-duckdb-polars) into a DuckDB file in OUT_DIR (the whole `materialize` call).

Exits at the end of its input.
"""

import logging
import os
import sys
import time

import polars as pl

try:
    import dagster
    from dagster_duckdb_polars import DuckDBPolarsIOManager
except ImportError:
    dagster = None


def main() -> None:
    frame, out = sys.argv[1], sys.argv[2]
    df = pl.read_parquet(frame).rechunk()
    materialize = dagster_materialize(df, out) if dagster else None
    version = dagster.__version__ if dagster else "missing"
    print(f"ready {df.height} polars {pl.__version__} dagster {version}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        t = time.perf_counter()
        if command == "polars":
            df.write_parquet(os.path.join(out, "python.parquet"))
        elif command == "dagster" and materialize:
            materialize()
        else:
            print(f"error: unknown command {command!r}", flush=True)
            continue
        print(f"{time.perf_counter() - t:.6f}", flush=True)


def dagster_materialize(df: pl.DataFrame, out: str):
    """A function materializing one asset that returns `df`, as a Dagster user writes it."""
    logging.getLogger("dagster").setLevel(logging.WARNING)

    @dagster.asset(key_prefix=["bench"])
    def condition_era() -> pl.DataFrame:
        return df

    instance = dagster.DagsterInstance.ephemeral()
    resources = {
        "io_manager": DuckDBPolarsIOManager(
            database=os.path.join(out, "dagster.duckdb"), schema="bench"
        )
    }

    def run() -> None:
        result = dagster.materialize(
            [condition_era], resources=resources, instance=instance, raise_on_error=True
        )
        assert result.success

    return run


if __name__ == "__main__":
    main()
