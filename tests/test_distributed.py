"""Scoring on Dask (issue 15): the same scores as one process, retries after a killed worker,
bad files named and nothing half-written, output folders not overwritten by accident, and a
reproducible sample of normal rows to fit on.

The tests with a local cluster (processes, 1 thread each) are marked slow: starting the
cluster takes a few seconds on a 2-core machine. One cluster serves the module; the test that
kills a worker starts its own.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import aeutil
from aeutil import engine
from aeutil.cli import LABEL_COLUMN, SCORE_COLUMN, main
from aeutil.clierror import CommandError
from aeutil.modelfile import load_network

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from aeutil import distributed as ad  # noqa: E402
from aeutil import sampling  # noqa: E402
from aeutil.parquetfile import find_parquet_files, score_files_in_process  # noqa: E402

COLUMNS = ["温度", "振動", "電流"]
ROWS = 400


def _machine(i: int, n: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(100 + i)
    temperature = rng.normal(60.0 + i, 1.5, n)
    frame = pd.DataFrame({
        "行番号": np.arange(i * n, (i + 1) * n, dtype=np.int64),
        "設備": f"{i + 1:02d}号機",
        "温度": temperature,
        "振動": 0.5 + 0.02 * (temperature - 60.0) + rng.normal(0.0, 0.01, n),
        "電流": 10.0 + 0.1 * (temperature - 60.0) + rng.normal(0.0, 0.05, n),
        "保守中": rng.random(n) < 0.1,
    })
    frame.loc[[3, n // 2], "振動"] = [2.0, -1.0]  # two rows off the normal relation
    return frame


def _write_folder(folder: Path, n_files: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        _machine(i).to_parquet(folder / f"machine{i:02d}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Path:
    return _write_folder(tmp_path_factory.mktemp("plant") / "data", 6)


@pytest.fixture(scope="module")
def model(tmp_path_factory, plant) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.keras"
    train = pd.concat([_machine(i) for i in range(3)])[COLUMNS]
    aeutil.AutoEncoderDetector(epochs=5, seed=0, n_models=2).fit(train).save(path)
    return path


@pytest.fixture(scope="module")
def client():
    with ad.dask_client(workers=2) as c:
        yield c


def _read_output(folder: Path) -> pd.DataFrame:
    files = sorted(folder.rglob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def _no_temporaries(parent: Path) -> None:
    hidden = [p.name for p in parent.iterdir() if p.name.startswith(".")]
    assert hidden == [], f"a temporary folder or file was left: {hidden}"


# --- without a cluster ------------------------------------------------------------------


def test_read_parquet_files_gives_one_partition_per_file(plant):
    ddf = ad.read_parquet_files(plant)
    assert ddf.npartitions == 6
    whole = ddf.compute(scheduler="sync")
    assert whole["行番号"].tolist() == list(range(6 * ROWS))


def test_sample_is_exact_reproducible_and_normal_only(plant):
    ddf = ad.read_parquet_files(plant)
    kwargs = {"columns": ["行番号", *COLUMNS], "normal": lambda df: ~df["保守中"]}
    a = sampling.sample_normal_rows(ddf, 500, seed=1, **kwargs)
    b = sampling.sample_normal_rows(ddf, 500, seed=1, **kwargs)
    c = sampling.sample_normal_rows(ddf, 500, seed=2, **kwargs)
    assert len(a) == 500 and a["行番号"].is_unique
    pd.testing.assert_frame_equal(a, b)
    assert set(a["行番号"]) != set(c["行番号"])
    whole = pd.concat([_machine(i) for i in range(6)])
    in_maintenance = set(whole.loc[whole["保守中"], "行番号"])
    assert not set(a["行番号"]) & in_maintenance
    # every normal row can be drawn: the sample covers every file about evenly
    per_file = np.bincount(a["行番号"].to_numpy() // ROWS, minlength=6)
    assert per_file.min() > 50, per_file
    # the same rows, whatever runs the tasks
    synchronous = sampling.sample_normal_rows(ddf, 500, seed=1, **kwargs)
    pd.testing.assert_frame_equal(a, synchronous)
    # a column name works as the mark too
    with_column = sampling.sample_normal_rows(ddf.assign(ok=~ddf["保守中"]), 500, seed=1,
                                        columns=kwargs["columns"], normal="ok")
    pd.testing.assert_frame_equal(a, with_column)


def test_sample_refuses_more_rows_than_there_are(plant):
    ddf = ad.read_parquet_files(plant)
    with pytest.raises(CommandError, match="2,400 行しかない"):
        sampling.sample_normal_rows(ddf, 2401)
    with pytest.raises(CommandError, match="1 以上"):
        sampling.sample_normal_rows(ddf, 0)


def test_fit_on_sample_saves_a_model_the_command_can_use(plant, tmp_path):
    ddf = ad.read_parquet_files(plant)
    path = tmp_path / "sampled.keras"
    detector = sampling.fit_on_sample(ddf, COLUMNS, path, n=600, seed=3, epochs=3, n_models=1,
                                normal=lambda df: ~df["保守中"])
    network, columns, threshold, _ = load_network(path)
    assert columns == COLUMNS and threshold == pytest.approx(detector.threshold_)
    assert main(["score", str(plant), "--model", str(path), "--output",
                 str(tmp_path / "out")]) == 0


def test_cached_network_loads_once_and_notices_a_changed_file(model, tmp_path):
    copy = tmp_path / "m.keras"
    copy.write_bytes(model.read_bytes())
    stamp = ad.model_stamp(copy)
    before = ad.model_loads()
    first = ad.cached_network(str(copy), stamp)
    assert ad.cached_network(str(copy), stamp) is first
    assert ad.model_loads() == before + 1
    os.utime(copy, ns=(stamp[0] + 10**9, stamp[0] + 10**9))
    with pytest.raises(CommandError, match="判定の途中で変わりました"):
        ad.cached_network(str(copy), (stamp[0] - 1, stamp[1]))


# --- on a local cluster -----------------------------------------------------------------


@pytest.mark.slow
def test_dask_scores_equal_single_process_scores(client, plant, model, tmp_path):
    summary = ad.score_parquet(plant, model, tmp_path / "dask", client=client)
    assert summary.workers == 2 and summary.rows == 6 * ROWS
    assert summary.files == [f"machine{i:02d}.parquet" for i in range(6)]
    single = score_files_in_process(find_parquet_files(str(plant)), model, tmp_path / "single")
    assert (summary.rows, summary.anomalies) == (single.rows, single.anomalies)
    dask_out, single_out = _read_output(tmp_path / "dask"), _read_output(tmp_path / "single")
    pd.testing.assert_frame_equal(dask_out, single_out, check_dtype=False)
    # bit for bit the NumPy scorer's float32 values on the same rows, and its labels
    network, columns, threshold, _ = load_network(model)
    whole = pd.concat([_machine(i) for i in range(6)], ignore_index=True)
    expected = engine.score(network, whole[columns].to_numpy(np.float32))
    assert dask_out["行番号"].tolist() == whole["行番号"].tolist()
    np.testing.assert_array_equal(dask_out[SCORE_COLUMN].to_numpy(), expected)
    labels = np.where(expected.astype(np.float64) > threshold, "異常", "正常")
    assert dask_out[LABEL_COLUMN].tolist() == labels.tolist()
    assert summary.anomalies >= 12  # the two broken rows of every machine at least
    _no_temporaries(tmp_path)


@pytest.mark.slow
def test_each_worker_loads_the_model_once_and_never_imports_keras(client, plant, model, tmp_path):
    for k in range(2):
        ad.score_parquet(plant, model, tmp_path / f"out{k}", client=client)
        # each run writes its own files (the tasks' keys are new for every run: the scheduler
        # cannot hand back an earlier run's results instead)
        assert len(list((tmp_path / f"out{k}").glob("*.parquet"))) == 6
    loads = client.run(ad.model_loads)
    assert set(loads.values()) <= {1}, loads  # once per worker, over both runs
    assert not any(client.run(lambda: "tensorflow" in sys.modules or "keras" in sys.modules)
                   .values())


@pytest.mark.slow
def test_score_dataframe_of_any_dask_frame(client, model, tmp_path):
    frame = pd.concat([_machine(i) for i in range(2)], ignore_index=True)
    ddf = dd.from_pandas(frame, npartitions=5)
    summary = ad.score_dataframe(ddf, model, tmp_path / "out", client=client)
    assert summary.files == [f"part.{i:05d}.parquet" for i in range(5)]
    out = _read_output(tmp_path / "out")
    assert out["行番号"].tolist() == frame["行番号"].tolist()
    with pytest.raises(CommandError, match="'電流' がありません"):
        ad.score_dataframe(ddf.drop(columns="電流"), model, tmp_path / "other", client=client)
    assert not (tmp_path / "other").exists()


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["wrong columns", "unreadable"])
def test_bad_file_in_the_glob_is_named_before_anything_is_written(client, model, tmp_path, bad):
    data = _write_folder(tmp_path / "data", 4)
    target = data / "machine02.parquet"
    if bad == "wrong columns":
        _machine(2).drop(columns="振動").to_parquet(target)
    else:
        target.write_bytes(target.read_bytes()[:100])  # cut short: no footer
    with pytest.raises(CommandError, match=str(target)):
        ad.score_parquet(str(data / "*.parquet"), model, tmp_path / "out", client=client)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.slow
def test_bad_value_found_on_a_worker_stops_the_run_and_leaves_nothing(client, model, tmp_path):
    data = _write_folder(tmp_path / "data", 6)
    target = data / "machine04.parquet"
    frame = _machine(4)
    frame.loc[11, "電流"] = np.nan  # the schema is fine: found while scoring, on a worker
    frame.to_parquet(target)
    with pytest.raises(CommandError) as caught:
        ad.score_parquet(data, model, tmp_path / "out", client=client, retries=1)
    assert str(target) in str(caught.value) and "12 行目" in str(caught.value)
    time.sleep(0.5)  # any task still running has finished its file by now
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.slow
def test_output_with_results_is_refused_unless_overwrite(client, plant, model, tmp_path):
    out = tmp_path / "out"
    ad.score_parquet(plant, model, out, client=client)
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(CommandError, match="--overwrite"):
        ad.score_parquet(plant, model, out, client=client)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    (out / "stale.parquet").write_bytes(b"from an older run")
    ad.score_parquet(plant, model, out, client=client, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(stamp)  # the stale file is gone
    _no_temporaries(tmp_path)


@pytest.mark.slow
def test_command_with_scheduler_address_and_with_workers(client, plant, model, tmp_path, capsys):
    address = client.scheduler.address
    assert main(["score", str(plant), "--model", str(model), "--output", str(tmp_path / "a"),
                 "--scheduler", address]) == 0
    assert "ワーカー 2 個" in capsys.readouterr().out
    assert main(["score", str(plant), "--model", str(model), "--output", str(tmp_path / "b"),
                 "--workers", "1"]) == 0
    assert "LocalCluster、ワーカー 1 個" in capsys.readouterr().out
    assert main(["score", str(plant), "--model", str(model), "--output", str(tmp_path / "c")]) == 0
    frames = [_read_output(tmp_path / k) for k in "abc"]
    pd.testing.assert_frame_equal(frames[0], frames[2], check_dtype=False)
    pd.testing.assert_frame_equal(frames[1], frames[2], check_dtype=False)
    # a scheduler that is not there: a Japanese error, nothing written
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        assert main(["score", str(plant), "--model", str(model), "--output",
                     str(tmp_path / "d"), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "スケジューラー tcp://127.0.0.1:9 につながりません" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]


def _slow_partition(i: int) -> pd.DataFrame:
    time.sleep(0.4)  # long enough to kill a worker while tasks are running
    return _machine(i, 200)


@pytest.mark.slow
def test_worker_killed_mid_run_output_complete_without_duplicates(model, tmp_path):
    n_parts = 16
    meta = _machine(0, 200).iloc[:0]
    ddf = dd.from_map(_slow_partition, list(range(n_parts)), meta=meta, enforce_metadata=False)
    out = tmp_path / "out"
    killed: dict[str, int] = {}
    with ad.dask_client(workers=2) as client:
        pids = client.run(os.getpid)

        def kill_one_worker_when_files_appear() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                written = list(tmp_path.glob(".out.*.tmp/.aeutil-part-*.parquet"))
                if len(written) >= 3:
                    address, pid = sorted(pids.items())[0]
                    os.kill(pid, signal.SIGKILL)
                    killed[address] = pid
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_one_worker_when_files_appear)
        killer.start()
        summary = ad.score_dataframe(ddf, model, out, client=client, retries=3)
        killer.join()
        after = client.run(os.getpid)
    assert killed, "no worker was killed: the run finished before 3 files were written"
    assert next(iter(killed.values())) not in after.values()  # the nanny started a new one
    result = _read_output(out)
    assert summary.rows == len(result) == n_parts * 200
    ids = result["行番号"].to_numpy()
    expected = np.concatenate([_machine(i, 200)["行番号"].to_numpy() for i in range(n_parts)])
    assert len(np.unique(ids)) == len(ids), "duplicated rows"
    assert sorted(ids.tolist()) == sorted(expected.tolist()), "missing rows"
    assert sorted(p.name for p in out.iterdir()) == [f"part.{i:05d}.parquet" for i in range(n_parts)]
    _no_temporaries(tmp_path)
