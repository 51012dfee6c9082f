"""Kernels forked from a process that has already imported the book's libraries (Linux only).

tools/execute_notebooks.py runs every notebook in a kernel of its own. A new kernel spends about
4 s importing ipykernel, TensorFlow/Keras, scikit-learn, pandas and matplotlib before the
notebook's own work begins: about a third of the time the book's notebooks take. So, on Linux,
each worker of execute_notebooks.py starts one *zygote*: this file run as a script, a process
that imports those modules once and then waits. For every notebook it forks a child, and the
child becomes the kernel: the same ipykernel, started with the same command-line arguments,
working folder and environment as `python -m ipykernel_launcher -f <connection file>` would
have. The child starts with everything already imported, in a session (process group) of its
own, so the executor kills it, and whatever it started, as it kills an ordinary kernel.

Why a forked kernel is an ordinary one:

- The zygote only imports. It runs no TensorFlow operation, starts no Python thread, and opens
  no file, socket or ZeroMQ context that a kernel uses. The native threads that the imports
  start (OpenBLAS' and jemalloc's) reset themselves in a forked child (pthread_atfork), as they
  do under multiprocessing's fork start method.
- What a new interpreter draws anew, the child draws anew: the seeds of `random` and of NumPy's
  global generator, and tempfile's folder (from the TMPDIR the executor sets per notebook).
- It gets the environment the kernel manager built for it, plus the variables that the
  imports set (aeutil sets TensorFlow's quiet-log variables only where they are unset: the
  same values a kernel that imports aeutil sets for itself).
- tests/test_forked_kernels.py runs one probe notebook in both kinds of kernel and compares
  what it sees (folder, sys.path, environment, library settings, trained weights, ...).

Elsewhere kernels start as usual: on macOS, forking a process that has loaded Apple's
frameworks is not safe; Windows has no fork. If the zygote cannot start or dies, the kernels
of that worker also start as usual (and a line on stderr says so).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

from jupyter_client.manager import KernelManager
from jupyter_client.provisioning import LocalProvisioner

#: What the zygote imports: what the chapters' first cells import, most of a kernel's start.
#: Not imported: japanize_matplotlib (its import changes matplotlib's settings) and
#: matplotlib_inline (its import looks for a running IPython).
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "numpy",
    "matplotlib.pyplot",
    "sklearn.metrics",
    "aeutil",
    "aeutil._keras",  # keras and tensorflow, quiet
)


def supported() -> bool:
    """Whether kernels are forked here: Linux, with os.fork."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


# --- In the executor's worker: start the zygote, ask it for kernels ------------------------------


class _ForkedProcess:
    """What jupyter_client's LocalProvisioner needs of a kernel process, for a forked one.

    The kernel is the zygote's child, not ours: it cannot be waited for, only signalled. The
    zygote ignores SIGCHLD, so an exited kernel leaves no zombie and `poll` sees it gone. Its
    exit status is not known here (0 is reported).
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class Zygote:
    """The zygote of this process: started by `start`, asked for kernels by `fork_kernel`."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.socket = ours
        self.replies = ours.makefile("rb")

    def fork_kernel(self, argv: list[str], cwd: str, env: dict[str, str]) -> int:
        """The pid of a new kernel started with `argv` (ipykernel's), in `cwd`, with `env`."""
        request = {"argv": argv, "cwd": cwd, "env": env}
        self.socket.sendall(json.dumps(request).encode() + b"\n")
        reply = self.replies.readline()
        if not reply:
            raise ChildProcessError(f"the zygote exited (status {self.process.wait()})")
        return json.loads(reply)["pid"]

    def close(self) -> None:
        """Stop the zygote: it exits when its socket closes."""
        self.replies.close()
        self.socket.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_zygote: Zygote | None = None


def start() -> None:
    """Start this process's zygote (a multiprocessing.Pool initializer); nothing if unsupported."""
    global _zygote
    if supported() and _zygote is None:
        _zygote = Zygote()


def stop() -> None:
    """Stop this process's zygote, if it has one (kernels already forked keep running)."""
    global _zygote
    if _zygote is not None:
        _zygote.close()
        _zygote = None


class ForkedProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, but the kernel process comes from the zygote."""

    async def launch_kernel(self, cmd: list[str], **kwargs):
        global _zygote
        if _zygote is None or cmd[0] != sys.executable or cmd[1:3] != ["-m", "ipykernel_launcher"]:
            return await super().launch_kernel(cmd, **kwargs)  # not a kernel the zygote can be
        cwd = str(kwargs.get("cwd") or os.getcwd())
        try:
            pid = _zygote.fork_kernel(cmd[3:], cwd, dict(kwargs.get("env") or os.environ))
        except (OSError, ValueError) as error:  # the zygote is gone: start kernels as usual
            print(f"execute_notebooks: no forked kernels ({error}); starting ordinary ones",
                  file=sys.stderr, flush=True)
            _zygote.close()
            _zygote = None
            return await super().launch_kernel(cmd, **kwargs)
        self.process = _ForkedProcess(pid)
        self.pid = self.pgid = pid  # the kernel leads its own process group
        self.cwd = cwd
        return self.connection_info


class ForkedKernelManager(KernelManager):
    """A KernelManager whose kernels come from this process's zygote (ForkedProvisioner)."""

    async def _async_pre_start_kernel(self, **kw):
        if self.provisioner is None:  # set here, or jupyter_client picks its local provisioner
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = ForkedProvisioner(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


def kernel_manager_class() -> type[KernelManager]:
    """The KernelManager class for nbclient: forked kernels if this process has a zygote."""
    return KernelManager if _zygote is None else ForkedKernelManager


# --- In the zygote ---------------------------------------------------------------------------


def serve(fd: int) -> None:
    """Import PRELOAD, then fork a kernel for each request read from the socket `fd`."""
    import importlib
    import warnings

    environ_before = dict(os.environ)
    _import_pandas_as_in_a_kernel()
    for name in PRELOAD:
        importlib.import_module(name)
    set_by_imports = {k: v for k, v in os.environ.items() if k not in environ_before}
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # exited kernels are reaped by the system
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the executor, which stops us
    filters = list(warnings.filters)

    connection = socket.socket(fileno=fd)
    requests, replies = connection.makefile("rb"), connection.makefile("wb")
    for line in requests:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a process with threads may deadlock; the only
            # threads here are OpenBLAS' and jemalloc's, which are fork-safe (module docstring).
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            connection.close()
            requests.close()
            replies.close()
            warnings.filters[:] = filters
            _become_kernel(request, set_by_imports)  # never returns
        replies.write(json.dumps({"pid": pid}).encode() + b"\n")
        replies.flush()


def _import_pandas_as_in_a_kernel() -> None:
    """Import pandas as a kernel would: it reads two things of its surroundings at import.

    - get_ipython(): in a Jupyter kernel pandas shows at most 20 columns of a DataFrame
      (display.max_columns); elsewhere it fits them to the terminal's width.
    - sys.stdout.encoding (display.encoding): ipykernel's streams say "UTF-8"; the zygote's
      stdout says what the locale says.

    The zygote has no IPython shell and the terminal's stdout, so, for this one import, pandas
    is shown what a kernel shows it. (The other modules of PRELOAD import pandas too, so it
    goes first.) tests/test_forked_kernels.py compares every pandas option with a kernel's.
    """
    import builtins

    class _Shell:
        kernel = None  # what pandas looks for

    class _Stream:
        encoding = "UTF-8"  # ipykernel.iostream.OutStream.encoding

    stdout = sys.stdout
    builtins.get_ipython = lambda: _Shell()
    sys.stdout = _Stream()
    try:
        import pandas  # noqa: F401
    finally:
        sys.stdout = stdout
        del builtins.get_ipython


def _become_kernel(request: dict, set_by_imports: dict[str, str]) -> None:
    """In the forked child: set up what `python -m ipykernel_launcher` would have, and run it."""
    status = 1
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for name, value in set_by_imports.items():
            os.environ.setdefault(name, value)

        import tempfile

        import numpy as np

        tempfile.tempdir = None  # from TMPDIR again
        np.random.seed()  # `random` reseeds itself in a forked child; NumPy's generator does not
        from importlib.util import find_spec

        from ipykernel import kernelapp

        # sys.path: ipykernel_launcher removes the working folder that `python -m` puts first,
        # and the kernel then puts '' there; the zygote removed its own first entry (this tools
        # folder) when it started.
        # The kernel's parent is this zygote: ipykernel exits if it goes away. (An ordinary
        # kernel learns its parent from JPY_PARENT_PID, which ipykernel read when the zygote
        # imported it, before there was any.)
        sys.argv = [find_spec("ipykernel_launcher").origin, *request["argv"],
                    f"--IPKernelApp.parent_handle={os.getppid()}"]
        kernelapp.launch_new_instance()
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


if __name__ == "__main__":
    del sys.path[0]  # this tools folder: a kernel does not see it
    serve(int(sys.argv[1]))
