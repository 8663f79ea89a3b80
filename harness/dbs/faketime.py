"""Starting a server under libfaketime, so clock faults shift *its* clock and never the machine's.

A server started with ``faketime_env`` preloads ``libfaketimeMT.so.1`` (the thread-safe build: the JVM and the
reference server's executor are multithreaded) and reads its fake-time spec from a per-node control file
(``FAKETIME_TIMESTAMP_FILE``) on every wall-clock call (``FAKETIME_NO_CACHE=1``), so a write to that file takes
effect at once. That has a cost: 174 µs per ``System.currentTimeMillis()`` on this 2-core machine under load,
against 16 µs with ``FAKETIME_CACHE_DURATION=1`` and 0.2 µs without libfaketime (monotonic reads stay ~1 µs),
which is why servers run under libfaketime only when clock faults are enabled. (A 1 s cache would be cheaper,
but the reference server then saw a constant unexplained offset of ~27 s; not investigated yet.) The spec is libfaketime's: ``"<offset seconds> x<rate>"``, e.g. ``"+0 x1"`` (real time), ``"-90 x1"``,
``"+0 x1.5"``. The rate is always written explicitly: libfaketime keeps the previous rate when a spec omits it.

Monotonic time: by default only wall-clock time (``CLOCK_REALTIME``, ``time()``, ``gettimeofday``) is faked
(``FAKETIME_DONT_FAKE_MONOTONIC=1``), because a real kernel never moves ``CLOCK_MONOTONIC`` backwards and the JVM
hangs when it does. ``monotonic=True`` fakes it too (stress beyond what real machines do; see docs/nemeses.md).

libfaketime keeps a small shared-memory segment named after the first preloaded process's PID
(``/dev/shm/faketime_shm_<pid>`` and ``sem.faketime_sem_<pid>``); a process killed with SIGKILL cannot remove
it, so ``remove_shm`` does, by PID, after the process is gone.
"""
from __future__ import annotations

import shlex

from harness.remote import Remote, RemoteError

LIB_NAME = "libfaketimeMT.so.1"
LIB_DIRS = ("/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime", "/usr/lib/faketime",
            "/usr/lib64/faketime", "/usr/local/lib/faketime")
REAL_TIME = "+0 x1"
CACHE_SECONDS = 0  # FAKETIME_NO_CACHE


def find_library(remote: Remote) -> str:
    """The path of libfaketimeMT on the node; a clear error when libfaketime is not installed there."""
    script = " ".join(f"test -f {shlex.quote(d + '/' + LIB_NAME)} && echo {shlex.quote(d + '/' + LIB_NAME)} "
                      "&& exit 0;" for d in LIB_DIRS) + " exit 1"
    result = remote.run(["sh", "-c", script], check=False)
    if not result.ok or not result.stdout.strip():
        raise RemoteError(f"{remote.node}: clock faults need libfaketime ({LIB_NAME}) on the node; install the "
                          "Debian package `libfaketime` (apt-get install libfaketime)")
    return result.stdout.split()[0]


def spec(offset: float, rate: float = 1.0) -> str:
    """libfaketime's relative spec for an offset in seconds and a clock rate."""
    if rate <= 0:
        raise ValueError(f"clock rate must be positive, got {rate}")
    return f"{offset:+.6f} x{rate:.6f}"


def write_spec(remote: Remote, control_file: str, text: str) -> None:
    """Replace the control file atomically: the server re-reads it on every time call and must never see a
    half-written spec."""
    q = shlex.quote(control_file)
    remote.run(["sh", "-c", f"cat > {q}.tmp && mv -f {q}.tmp {q}"], stdin=(text + "\n").encode())


def read_spec(remote: Remote, control_file: str) -> str | None:
    result = remote.run(["cat", control_file], check=False)
    return result.stdout.strip() if result.ok else None


def faketime_env(remote: Remote, control_file: str, *, monotonic: bool = False) -> dict[str, str]:
    """The environment that starts a server under libfaketime reading ``control_file`` (created at real time
    if it does not exist; an existing one is kept, so a server restarted during a clock fault keeps it)."""
    library = find_library(remote)
    q = shlex.quote(control_file)
    remote.run(["sh", "-c", f"test -f {q} || {{ echo {shlex.quote(REAL_TIME)} > {q}.tmp && mv -f {q}.tmp {q}; }}"])
    env = {"LD_PRELOAD": library, "FAKETIME_TIMESTAMP_FILE": control_file, "FAKETIME_NO_CACHE": "1"}
    if not monotonic:
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        # libfaketime's "monotonic fix" wraps pthread_cond_timedwait; with monotonic time real it only costs:
        # a standalone ZooKeeper answered srvr after 5.6-7.8 s with it, 0.4-0.7 s without it.
        env["FAKETIME_FORCE_MONOTONIC_FIX"] = "0"
    return env


def remove_shm(remote: Remote, pid: int) -> None:
    """Remove libfaketime's shared memory of a dead process (a no-op when there is none)."""
    remote.run(["rm", "-f", f"/dev/shm/faketime_shm_{int(pid)}", f"/dev/shm/sem.faketime_sem_{int(pid)}"],
               check=False)
