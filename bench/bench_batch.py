"""Batch runs, file to file: a 1,000,000-option book × 5 scenarios, Parquet → Parquet, beside
the kernel alone and pyarrow's own read and write of the same files; a 101-point probability
ladder on that book against one run; 10,000,000 lines in bounded memory; and the book on a
local two-worker Dask cluster against the local run.

The book: calls, puts, JPY and USD digitals and forwards in equal parts, strikes uniform in
120–170, tenors 1W … 1Y, notionals 10⁵ … 10⁷, 30% sold, a ``tag.desk`` column; seeded. It is
priced on the built-in set (5 scenarios, market surface). Each case runs in a fresh process
(``--case``) so its peak memory (``ru_maxrss``) is its own; a case prints its wall time
cold (the first run in the process: numba's compiled kernels loaded from the disk cache) and
warm (the best of the next runs in the same process).

* ``run``: ``fxscen batch``'s :func:`service.batch.run.run_batch` end to end — read the
  book in 100,000-line chunks, price, write results, errors and totals (target ≤ 2 s warm).
* ``kernel``: the same lines as arrays in memory, through the compiled kernel and the
  position pass only (:func:`pricing.fx.book.value_fx_options`, :func:`pricing.positions.
  fx_positions`): the pricing a run cannot avoid.
* ``io``: pyarrow reading the book and writing the run's own results file again with the
  run's writer settings: the I/O a run cannot avoid.
* ``ladder``: the run with a 101-point ladder of the no-deal probability (0.05 … 0.55):
  the cube is recombined from the scenario totals, the kernel runs once (target ≤ 1.5×).
* ``big``: 10,000,000 lines (the 1,000,000-line book ten times over, streamed from a CSV of
  that size written once): peak memory against the 1,000,000-line run's.
* ``dask``: the run on a cluster started as the README says (``dask scheduler``, two
  ``dask worker --nthreads 1`` processes on loopback), its results checked equal to the
  local run's, byte for byte.

    python bench/bench_batch.py [--lines 1000000] [--repeat 3] [--skip-big] [--skip-dask]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = "us-japan-tariff-2025-07-09"


def make_book(path: Path, n: int, seed: int = 1) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    kinds = np.array(["call", "put", "digital_call", "digital_put", "forward"])
    kind = kinds[rng.integers(0, 5, n)]
    digital = np.isin(kind, ["digital_call", "digital_put"])
    payout = np.where(digital, np.where(rng.random(n) < 0.5, "JPY", "USD"), "")
    tenors = np.array(["1W", "1M", "2M", "3M", "6M", "9M", "1Y"])
    table = pa.table(
        {
            "kind": kind,
            "strike": np.round(rng.uniform(120.0, 170.0, n), 2),
            "tenor": tenors[rng.integers(0, 7, n)],
            "notional": rng.integers(1, 100, n) * 1e5,
            "side": np.where(rng.random(n) < 0.3, "sell", "buy"),
            "payout_currency": pa.array([None if p == "" else p for p in payout.tolist()]),
            "tag.desk": np.array(["g10", "exotics", "em"])[rng.integers(0, 3, n)],
        }
    )
    pq.write_table(table, path)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def case(name: str, book: Path, work: Path, repeat: int, scheduler: str | None) -> dict[str, Any]:
    """One case in this process: times cold and warm, peak memory."""
    sys.path.insert(0, str(ROOT))
    from service.batch.run import run_batch
    from service.batch.spec import RunSpec

    spec = RunSpec(sources={"scenario_set_id": BUILTIN})
    if name == "ladder":
        spec = RunSpec(
            sources={"scenario_set_id": BUILTIN},
            sweep=({"axis": "probability", "scenario": "no_deal", "from": 0.05, "to": 0.55,
                    "points": 101},),
        )  # fmt: skip
    times = []
    out = work / f"{name}.parquet"
    if name in ("run", "ladder", "big"):
        for _ in range(1 if name == "big" else repeat + 1):
            t0 = time.perf_counter()
            summary = run_batch(spec, book, out)
            times.append(time.perf_counter() - t0)
        return {"times": times, "peak_mb": peak_mb(), "lines": summary.lines}
    if name == "dask":
        from service.batch.executors import executor_for

        with executor_for(scheduler) as executor:
            for _ in range(repeat + 1):
                t0 = time.perf_counter()
                summary = run_batch(spec, book, out, executor=executor)
                times.append(time.perf_counter() - t0)
        return {"times": times, "peak_mb": peak_mb(), "lines": summary.lines}
    if name == "kernel":
        return kernel_case(book, repeat)
    if name == "io":
        return io_case(book, work / "run.parquet", repeat)
    raise SystemExit(f"unknown case {name}")


def kernel_case(book: Path, repeat: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow.parquet as pq

    from pricing.fx.book import value_fx_options
    from pricing.mixture.measure import Measure
    from pricing.positions import fx_positions
    from scenarios.fx.valuation import book_tables
    from service.batch import fx_lines
    from service.batch.spec import RunSpec, resolve_run
    from service.settings import get_settings

    context = resolve_run(RunSpec(sources={"scenario_set_id": BUILTIN}), get_settings())
    table = pq.read_table(book)
    batch = table.combine_chunks().to_batches()[0]
    cols = {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
    fx = fx_lines.read_fx_columns(cols, batch.num_rows)
    dates = fx_lines.fx_dates(fx, context.market.valuation_date)
    today = (context.market.valuation_date - fx_lines._EPOCH).days
    packed = np.ascontiguousarray(
        np.stack([(dates.expiry - today) / 365.0, (dates.delivery - today) / 365.0, fx.strike])
    )
    payoffs = np.ascontiguousarray(fx.payoff)
    signed = np.where(fx.sell, -1.0, 1.0) * fx.notional
    usd = np.where(fx.jpy_paid, fx.notional / context.market.spot, fx.notional)
    times = []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        tables = book_tables(context.market, context.scenario_set, Measure.TILT)
        r = value_fx_options(tables, payoffs=payoffs, options=packed)
        c = r.columns
        fx_positions(
            price=c[0], delta=c[1], delta_premium_adjusted=c[2], gamma=c[3], vega=c[4],
            theta=c[5], rho_jpy=c[6], rho_usd=c[7], scenario_values=r.scenario_values,
            d_levels=r.d_levels, signed_notionals=signed, usd_notionals=usd,
            spot=context.market.spot,
        )  # fmt: skip
        times.append(time.perf_counter() - t0)
    return {"times": times, "peak_mb": peak_mb(), "lines": batch.num_rows}


def io_case(book: Path, results: Path, repeat: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(results)
    text = [f.name for f in table.schema if pa.types.is_string(f.type)]
    times = []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        for _batch in pq.ParquetFile(book).iter_batches(batch_size=100_000):
            pass
        with pq.ParquetWriter(
            results.with_suffix(".copy.parquet"), table.schema, use_dictionary=text,
            write_statistics=False,
        ) as w:  # fmt: skip
            for piece in table.to_batches(max_chunksize=100_000):
                w.write_batch(piece)
        times.append(time.perf_counter() - t0)
    return {"times": times, "peak_mb": peak_mb(), "lines": table.num_rows}


def in_child(
    name: str, book: Path, work: Path, repeat: int, scheduler: str | None = None
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--case", name, "--book", str(book), "--work", str(work),
           "--repeat", str(repeat)]  # fmt: skip
    if scheduler:
        cmd += ["--scheduler", scheduler]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"case {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_cluster(work: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """``dask scheduler`` and two ``dask worker`` processes on loopback, as the README says."""
    dask = Path(sys.executable).with_name("dask")
    scheduler_file = work / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen(
        [str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(scheduler_file)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )]  # fmt: skip
    deadline = time.monotonic() + 60
    while not scheduler_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    address = json.loads(scheduler_file.read_text())["address"]
    for _ in range(2):
        procs.append(subprocess.Popen(
            [str(dask), "worker", address, "--nthreads", "1", "--nworkers", "1",
             "--no-dashboard", "--host", "127.0.0.1", "--memory-limit", "4GiB"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=120)
    return address, procs


def summary(name: str, r: dict[str, Any]) -> str:
    cold, warm = r["times"][0], min(r["times"][1:] or r["times"])
    return f"{name:<8} lines {r['lines']:>10,}  cold {cold:6.2f} s  warm {warm:6.2f} s  peak {r['peak_mb']:7.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--case")
    parser.add_argument("--book", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--scheduler")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(case(args.case, args.book, args.work, args.repeat, args.scheduler)))
        return
    with tempfile.TemporaryDirectory(prefix="fxscen-bench-batch-") as tmp:
        work = Path(tmp)
        book = work / "book.parquet"
        make_book(book, args.lines)
        results: dict[str, dict[str, Any]] = {}
        for name in ("run", "kernel", "io", "ladder"):
            results[name] = in_child(name, book, work, args.repeat)
            print(summary(name, results[name]), flush=True)
        run_warm = min(results["run"]["times"][1:])
        print(
            f"run / (kernel + io), warm: {run_warm / (min(results['kernel']['times'][1:]) + min(results['io']['times'][1:])):.2f}×;"
            f" ladder / run: {min(results['ladder']['times'][1:]) / run_warm:.2f}× (target ≤ 1.5×)"
        )
        if not args.skip_big:
            big = work / "big.csv"
            make_big_csv(book, big, 10)
            results["big"] = in_child("big", big, work, 0)
            print(summary("big", results["big"]), flush=True)
            print(
                f"peak memory 10× the lines: {results['big']['peak_mb']:.0f} MB vs {results['run']['peak_mb']:.0f} MB"
            )
        if not args.skip_dask:
            address, procs = start_cluster(work)
            try:
                results["dask"] = in_child("dask", book, work, args.repeat, address)
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(timeout=30)
            print(summary("dask", results["dask"]), flush=True)
            import pyarrow.parquet as pq

            same = pq.read_table(work / "dask.parquet").equals(pq.read_table(work / "run.parquet"))
            print(
                f"dask / local, warm: {min(results['dask']['times'][1:]) / run_warm:.2f}×; results identical: {same}"
            )


def make_big_csv(book: Path, path: Path, times: int) -> None:
    """The book ``times`` over as one CSV (a CSV streams: its size does not bound the run)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pq.read_table(book)
    with pacsv.CSVWriter(path, table.schema) as w:
        for _ in range(times):
            w.write_table(table)


if __name__ == "__main__":
    main()
