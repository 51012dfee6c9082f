"""Nothing is lost: saving a model and writing a scored CSV never damage the previous file.

``AutoEncoderUtil.save_model`` / ``AutoEncoderDetector.save`` (``aeutil.modelfile.save_network``)
and ``aeutil score --output``, both through ``aeutil.files.AtomicFile``, write to a temporary
file in the same folder, flush it to the disk and rename it into place. The tests break the write in the
middle, with an exception and with a real SIGKILL of a process that is writing, and run
processes side by side on the same model file. Issue 6.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import aeutil
from aeutil import AutoEncoderDetector, AutoEncoderUtil, ModelFileError
from aeutil.cli import main

import numpy as np
import pandas as pd
import pytest

# Slow (fuzzing, hypothesis, subprocesses): `make quick` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow

COLUMNS = ["feature1", "feature2"]
#: Generous hang guard for the subprocesses (each imports TensorFlow); not a timing assertion.
PROCESS_TIMEOUT_S = 300
ENV = {
    **os.environ,
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "MPLBACKEND": "Agg",
    "PYTHONHASHSEED": "0",
}


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".tmp" in p.name)


@pytest.fixture(scope="module")
def models(fitted, clusters, tmp_path_factory):
    """Two different trained models saved once: the "old" file and a "new" one to save over it."""
    folder = tmp_path_factory.mktemp("durability_models")
    other = AutoEncoderUtil(df=clusters, seed=3).fit(COLUMNS, epochs=3)
    assert other.threshold != fitted.threshold
    paths = {"old": folder / "old.keras", "new": folder / "new.keras"}
    fitted.save_model(paths["old"])
    other.save_model(paths["new"])
    data = clusters.iloc[:300]
    return {
        "paths": paths,
        "utils": {"old": fitted, "new": other},
        "data": data,
        "scores": {
            "old": fitted.predict(COLUMNS, df=data)[1],
            "new": other.predict(COLUMNS, df=data)[1],
        },
    }


def _assert_is_old_model(path: Path, models, old_bytes: bytes) -> None:
    assert path.read_bytes() == old_bytes
    util = AutoEncoderUtil(model_path=path)
    assert util.threshold == models["utils"]["old"].threshold
    _, loss, _ = util.predict(COLUMNS, df=models["data"])
    assert loss.tobytes() == models["scores"]["old"].tobytes()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=PROCESS_TIMEOUT_S)


# --- (a) an exception in the middle of the write ------------------------------------------


def _spawn(*args) -> subprocess.Popen:
    """``python *args`` in the test environment, its output captured as text."""
    return subprocess.Popen(
        [sys.executable, *map(str, args)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _score_argv(csv: Path, model: Path, out: Path, *extra: str) -> list[str]:
    """The arguments of ``aeutil score CSV --model MODEL --output OUT [extra]``."""
    return ["score", str(csv), "--model", str(model), "--output", str(out), *extra]


def _half_then_fail(exc: BaseException):
    """A zipfile writer that writes half of the weights into the archive, then fails."""
    original = zipfile.ZipFile.writestr

    def writestr(self, name, data, *args, **kwargs):
        if getattr(name, "filename", name) == "model.weights.h5":
            self.fp.write(data[: len(data) // 2])
            self.fp.flush()
            raise exc
        return original(self, name, data, *args, **kwargs)

    return writestr


@pytest.mark.parametrize(
    ("saver", "exc"),
    [
        ("AutoEncoderUtil.save_model", OSError(errno.ENOSPC, "No space left on device")),
        ("AutoEncoderDetector.save", OSError(errno.EIO, "Input/output error")),
        ("AutoEncoderDetector.save", KeyboardInterrupt()),
    ],
)
def test_failed_save_keeps_the_previous_model(models, tmp_path, monkeypatch, saver, exc):
    target = tmp_path / "model.keras"
    models["utils"]["old"].save_model(target)
    old_bytes = target.read_bytes()
    new = models["utils"]["new"]
    save = new.save_model if saver == "AutoEncoderUtil.save_model" else new.detector.save
    monkeypatch.setattr(zipfile.ZipFile, "writestr", _half_then_fail(exc))
    with pytest.raises(type(exc)):
        save(target)
    monkeypatch.undo()
    assert _files(tmp_path) == ["model.keras"]  # no temporary file left behind
    _assert_is_old_model(target, models, old_bytes)
    save(target)  # and the next save works
    assert AutoEncoderUtil(model_path=target).threshold == new.threshold


def test_save_flushes_to_disk_before_the_rename(models, tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(
            ("fsync", os.readlink(f"/proc/self/fd/{fd}") if sys.platform == "linux" else fd)
        )
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.fspath(src), os.fspath(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "model.keras"
    models["utils"]["new"].save_model(target)
    monkeypatch.undo()
    kinds = [event[0] for event in events]
    assert kinds == ["fsync", "replace", "fsync"], events  # file data, rename, folder entry
    temp = events[1][1]
    if sys.platform == "linux":
        assert events[0][1] == temp and events[2][1] == str(tmp_path)
    assert Path(temp).parent == tmp_path and Path(temp).name.startswith(".model.")


def test_saved_model_has_ordinary_permissions_and_keeps_the_old_ones(models, tmp_path):
    umask = os.umask(0o022)
    try:
        target = tmp_path / "model.keras"
        models["utils"]["old"].save_model(target)
        assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's 0o600
        os.chmod(target, 0o640)  # the owner's choice survives a re-save
        models["utils"]["new"].save_model(target)
        assert stat.S_IMODE(target.stat().st_mode) == 0o640
    finally:
        os.umask(umask)


@pytest.fixture
def scoring(models, tmp_path):
    """An input CSV, the model, and a previous output that a failed run must not touch."""
    csv = tmp_path / "new.csv"
    rows = pd.concat([models["data"]] * 4, ignore_index=True)  # 1,200 rows
    rows.to_csv(csv, index=False)
    out = tmp_path / "scored.csv"
    previous_input = tmp_path / "previous.csv"
    models["data"].iloc[:50].to_csv(previous_input, index=False)
    assert main(_score_argv(previous_input, models["paths"]["old"], out)) == 0
    return {"csv": csv, "out": out, "previous": out.read_bytes(), "model": models["paths"]["old"]}


class _DiskFullAfter:
    """A binary file whose writes fail with ENOSPC once ``limit`` bytes were written."""

    def __init__(self, handle, limit: int) -> None:
        self.handle, self.left = handle, limit

    def write(self, data: bytes) -> int:
        if len(data) > self.left:
            self.handle.write(data[: self.left])
            self.handle.flush()
            self.left = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.left -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)


@pytest.mark.parametrize("failure", ["disk full", "error in a later chunk", "Ctrl+C"])
def test_failed_scoring_keeps_the_previous_output(scoring, monkeypatch, capsys, failure):
    import aeutil.csvstream as csvstream

    if failure == "disk full":
        real_fdopen = os.fdopen
        monkeypatch.setattr(
            os, "fdopen", lambda fd, mode: _DiskFullAfter(real_fdopen(fd, mode), 5_000)
        )
    else:
        original, calls = csvstream.scored_lines, []

        def scored_lines(*args, **kwargs):
            calls.append(1)
            if len(calls) == 4:  # three chunks are already in the temporary file
                raise KeyboardInterrupt if failure == "Ctrl+C" else OSError(errno.EIO, "I/O error")
            return original(*args, **kwargs)

        monkeypatch.setattr(csvstream, "scored_lines", scored_lines)
    capsys.readouterr()
    code = main(_score_argv(scoring["csv"], scoring["model"], scoring["out"], "--chunksize", "100"))
    err = capsys.readouterr().err
    assert code == (130 if failure == "Ctrl+C" else 2), err
    assert "Traceback" not in err and (
        "中断しました" in err if failure == "Ctrl+C" else "エラー: " in err
    )
    assert scoring["out"].read_bytes() == scoring["previous"]
    assert _temps(scoring["out"].parent) == []


# --- (b) SIGKILL in the middle of the write -------------------------------------------------

_SAVE_AND_STALL = textwrap.dedent(
    """
    import sys, time, zipfile
    from pathlib import Path
    from aeutil import AutoEncoderUtil

    source, target, ready = sys.argv[1:4]
    util = AutoEncoderUtil(model_path=source)
    original = zipfile.ZipFile.writestr

    def stall(self, name, data, *args, **kwargs):
        if getattr(name, "filename", name) == "model.weights.h5":
            # half of the weights reach the temporary file; then wait to be killed
            self.fp.write(data[: len(data) // 2])
            self.fp.flush()
            Path(ready).write_text(self.fp.name, encoding="utf-8")
            time.sleep(600)
        return original(self, name, data, *args, **kwargs)

    zipfile.ZipFile.writestr = stall
    util.save_model(target)
    """
)

_SCORE_AND_STALL = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import aeutil.cli as cli
    import aeutil.csvstream as csvstream

    ready, argv = Path(sys.argv[1]), sys.argv[2:]
    original, calls = csvstream.scored_lines, []

    def stall(*args, **kwargs):
        calls.append(1)
        if len(calls) == 8:  # seven chunks were handed to the temporary file
            ready.write_text("writing", encoding="utf-8")
            time.sleep(600)
        return original(*args, **kwargs)

    csvstream.scored_lines = stall
    sys.exit(cli.main(argv))
    """
)


def _wait_for_temp(proc: subprocess.Popen, ready: Path, folder: Path, *, min_size: int) -> Path:
    """Poll until the process says it is writing and its temporary file is on disk."""
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the writer ended before it was killed ({proc.returncode}): {err[-2000:]}")
        temps = [p for p in _temps(folder) if p.stat().st_size >= min_size]
        if ready.exists() and temps:
            return temps[0]
        time.sleep(0.02)
    pytest.fail("the writer never started writing (hang guard)")


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=PROCESS_TIMEOUT_S)
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_while_saving_a_model_keeps_the_previous_file(models, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    target = folder / "model.keras"
    models["utils"]["old"].save_model(target)
    old_bytes = target.read_bytes()
    ready = tmp_path / "ready.txt"
    proc = _spawn("-c", _SAVE_AND_STALL, models["paths"]["new"], target, ready)
    try:
        temp = _wait_for_temp(proc, ready, folder, min_size=1)
        assert ready.read_text(encoding="utf-8") == str(temp)  # it writes the temporary file
        _kill(proc)
    finally:
        _stop(proc)
    _assert_is_old_model(target, models, old_bytes)
    # the killed process could not clean up: its partial file is hidden, and never loads
    assert _temps(folder) == [temp] and temp.name.startswith(".model.")
    with pytest.raises(ModelFileError, match=str(temp.name)):
        AutoEncoderUtil().load_model(temp)
    models["utils"]["new"].save_model(target)  # the next save is not disturbed by it
    assert AutoEncoderUtil(model_path=target).threshold == models["utils"]["new"].threshold


def test_sigkill_while_scoring_keeps_the_previous_output(scoring, tmp_path):
    ready = tmp_path / "ready.txt"
    out = scoring["out"]
    complete = tmp_path / "complete" / "scored.csv"
    complete.parent.mkdir()
    assert main(_score_argv(scoring["csv"], scoring["model"], complete)) == 0
    proc = _spawn(
        "-c", _SCORE_AND_STALL, ready,
        *_score_argv(scoring["csv"], scoring["model"], out, "--chunksize", "100"),
    )
    try:
        # seven chunks of 100 rows are past Python's 8 KiB buffer: part of them is on disk
        temp = _wait_for_temp(proc, ready, out.parent, min_size=8_192)
        _kill(proc)
    finally:
        _stop(proc)
    assert out.read_bytes() == scoring["previous"]
    assert _temps(out.parent) == [temp] and temp.name.startswith(".scored.csv.")
    assert 8_192 <= temp.stat().st_size < complete.stat().st_size  # a partial output


# --- (c) processes side by side -------------------------------------------------------------


def test_two_commands_score_with_the_same_model_at_once(models, scoring, tmp_path):
    outputs = [tmp_path / f"scored_{i}.csv" for i in range(2)]
    model_bytes = scoring["model"].read_bytes()
    procs = [
        _spawn("-m", "aeutil", *_score_argv(scoring["csv"], scoring["model"], out, "--chunksize", "500"))
        for out in outputs
    ]
    results = []
    try:
        for proc in procs:
            results.append(proc.communicate(timeout=PROCESS_TIMEOUT_S))
    finally:
        for proc in procs:
            _stop(proc)
    for proc, (stdout, stderr) in zip(procs, results, strict=True):
        assert proc.returncode == 0, stderr
        assert "判定しました" in stdout
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    reference = tmp_path / "scored_here.csv"
    assert main(_score_argv(scoring["csv"], scoring["model"], reference)) == 0
    assert outputs[0].read_bytes() == reference.read_bytes()
    assert scoring["model"].read_bytes() == model_bytes
    scored = aeutil.read_csv(outputs[0])
    assert len(scored) == 1_200


_SAVE_OVER_AND_OVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from aeutil import AutoEncoderUtil

    old, new, target, reader_ready, done = sys.argv[1:6]
    utils = [AutoEncoderUtil(model_path=old), AutoEncoderUtil(model_path=new)]
    deadline = time.monotonic() + 240
    while not Path(reader_ready).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(40):
        utils[i % 2].save_model(target)
    Path(done).write_text("done", encoding="utf-8")
    """
)

_LOAD_OVER_AND_OVER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import pandas as pd
    from aeutil import AutoEncoderUtil

    target, data, ready, done = sys.argv[1:5]
    frame = pd.read_csv(data)
    seen, errors = [], []
    Path(ready).write_text("ready", encoding="utf-8")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        finished = Path(done).exists()
        try:
            util = AutoEncoderUtil(model_path=target)
            _, loss, threshold = util.predict(["feature1", "feature2"], df=frame)
            seen.append([threshold, loss.tobytes().hex()])
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        if finished:
            break
    print(json.dumps({"seen": seen, "errors": errors}))
    """
)


def test_loading_while_another_process_saves_sees_only_whole_models(models, tmp_path):
    target = tmp_path / "model.keras"
    models["utils"]["old"].save_model(target)
    data = tmp_path / "data.csv"
    models["data"].to_csv(data, index=False)
    ready, done = tmp_path / "reader_ready", tmp_path / "writer_done"
    paths = models["paths"]
    writer = _spawn("-c", _SAVE_OVER_AND_OVER, paths["old"], paths["new"], target, ready, done)
    reader = _spawn("-c", _LOAD_OVER_AND_OVER, target, data, ready, done)
    try:
        w_out, w_err = writer.communicate(timeout=PROCESS_TIMEOUT_S)
        r_out, r_err = reader.communicate(timeout=PROCESS_TIMEOUT_S)
    finally:
        _stop(writer)
        _stop(reader)
    assert writer.returncode == 0, w_err
    assert reader.returncode == 0, r_err
    report = json.loads(r_out.strip().splitlines()[-1])
    assert report["errors"] == []
    assert report["seen"], "the reader never loaded the model"
    expected = {
        (models["utils"][name].threshold, models["scores"][name].tobytes().hex())
        for name in ("old", "new")
    }
    assert {tuple(item) for item in report["seen"]} <= expected
    assert _temps(tmp_path) == []
    last = AutoEncoderDetector.load(target)  # the 40th save wrote the "new" model
    np.testing.assert_array_equal(
        last.reconstruction_error(models["data"]), models["scores"]["new"]
    )
