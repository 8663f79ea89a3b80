"""Running commands on a node: the ``Remote`` protocol and the control machine's own implementation.

A Remote is how everything in the tester touches a node: DBs install and start servers through it, nemeses
send signals and iptables commands through it, the runner downloads logs through it. Backends hand one out per
node (``Backend.remote(node)``); ``harness.backends.netns.NetnsRemote`` runs commands inside a node's network
namespace, later backends will run them over ssh or ``docker exec``.

Contract (what every implementation does):

``node``
    the node's name (``"n1"``).
``home``
    a directory on the node that belongs to this node and this run only: DBs keep their config, data and logs
    under it. On netns nodes all nodes share the control machine's filesystem, so each gets its own directory.
``shares_filesystem``
    True when the node sees the control machine's files at the same paths (netns, local); a DB may then run
    code straight from the checkout instead of uploading it.
``run(cmd, check=True, timeout=60, env=None, stdin=None) -> Result``
    runs ``cmd`` to completion. A list is an argv (no shell); a str goes to ``sh -c``. ``check`` raises
    RemoteError on a non-zero exit. A timeout always raises RemoteError.
``spawn(cmd, log_file=..., pid_file=..., env=None, cwd=None) -> int``
    starts a long-running daemon detached from the caller (own session, stdin from /dev/null, stdout+stderr
    appended to ``log_file``), writes the PID of the process that *is* ``cmd[0]`` (e.g. java itself, never a
    wrapping shell) to ``pid_file`` and returns it, so SIGKILL/SIGSTOP by that PID hit the real server.
``upload(local, remote)`` / ``download(remote, local)``
    copy a file or a directory tree (directories merge into an existing destination).
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class RemoteError(RuntimeError):
    """A command failed (with check=True), timed out, or the node could not be reached."""

    def __init__(self, message: str, result: Result | None = None) -> None:
        super().__init__(message)
        self.result = result


@runtime_checkable
class Remote(Protocol):
    node: str
    home: str
    shares_filesystem: bool

    def run(self, cmd: str | list[str], *, check: bool = True, timeout: float | None = 60,
            env: dict[str, str] | None = None, stdin: bytes | None = None) -> Result: ...

    def spawn(self, cmd: list[str], *, log_file: str, pid_file: str, env: dict[str, str] | None = None,
              cwd: str | None = None) -> int: ...

    def upload(self, local: str, remote: str) -> None: ...

    def download(self, remote: str, local: str) -> None: ...


def describe(cmd: str | list[str]) -> str:
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


def spawn_script(cmd: list[str], *, log_file: str, pid_file: str, env: dict[str, str] | None = None,
                 cwd: str | None = None) -> str:
    """A POSIX sh script that starts ``cmd`` in the background and records its PID.

    The background job is ``cmd`` itself (``env`` execs, it does not fork), so ``$!`` is the server's PID.
    Once the shell exits the daemon is re-parented to init, so it outlives the harness process. Shared by
    every Remote that can run a shell on the node (local, netns, ssh, docker exec).
    """
    if not cmd:
        raise ValueError("spawn needs a command")
    q = shlex.quote
    argv = shlex.join(cmd)
    if env:
        argv = "env " + " ".join(q(f"{k}={v}") for k, v in env.items()) + " " + argv
    lines = [
        "set -e",
        f"mkdir -p {q(os.path.dirname(log_file) or '.')} {q(os.path.dirname(pid_file) or '.')}",
    ]
    if cwd:
        lines.append(f"cd {q(cwd)}")
    lines.append(f"{argv} >> {q(log_file)} 2>&1 < /dev/null &")
    lines.append(f"echo $! > {q(pid_file)}.tmp && mv {q(pid_file)}.tmp {q(pid_file)}")
    lines.append("echo $!")
    return "\n".join(lines)


class LocalRemote:
    """The control machine itself (or anything reached by prefixing a local command, see ``prefix``)."""

    shares_filesystem = True

    def __init__(self, node: str = "control", home: str | None = None) -> None:
        self.node = node
        self.home = home or os.path.join(os.environ.get("TMPDIR", "/tmp"), f"zkjepsen-{node}")

    def prefix(self) -> list[str]:
        """argv put in front of every command; NetnsRemote uses it to enter the node's namespace."""
        return []

    def _argv(self, cmd: str | list[str]) -> list[str]:
        if isinstance(cmd, str):
            return [*self.prefix(), "sh", "-c", cmd]
        if not cmd:
            raise ValueError("empty command")
        return [*self.prefix(), *cmd]

    def run(self, cmd: str | list[str], *, check: bool = True, timeout: float | None = 60,
            env: dict[str, str] | None = None, stdin: bytes | None = None,
            _new_session: bool = False) -> Result:
        full_env = None
        if env:
            full_env = dict(os.environ)
            full_env.update(env)
        try:
            proc = subprocess.run(self._argv(cmd), input=stdin if stdin is not None else b"",
                                  capture_output=True, timeout=timeout, env=full_env,
                                  start_new_session=_new_session)
        except subprocess.TimeoutExpired as exc:
            raise RemoteError(f"{self.node}: command timed out after {timeout}s: {describe(cmd)}") from exc
        except FileNotFoundError as exc:
            raise RemoteError(f"{self.node}: cannot run {describe(cmd)}: {exc.strerror}: {exc.filename}") from exc
        result = Result(proc.returncode, proc.stdout.decode(errors="replace"),
                        proc.stderr.decode(errors="replace"))
        if check and result.exit_code != 0:
            tail = (result.stderr.strip() or result.stdout.strip())[-2000:]
            raise RemoteError(f"{self.node}: command failed with exit code {result.exit_code}: "
                              f"{describe(cmd)}" + (f"\n{tail}" if tail else ""), result)
        return result

    def spawn(self, cmd: list[str], *, log_file: str, pid_file: str, env: dict[str, str] | None = None,
              cwd: str | None = None) -> int:
        script = spawn_script(cmd, log_file=log_file, pid_file=pid_file, env=env, cwd=cwd)
        # A new session keeps the daemon out of our terminal's process group: Ctrl-C on the harness must not
        # kill the servers behind its back (teardown does that, by PID).
        result = self.run(script, timeout=30, _new_session=True)
        try:
            return int(result.stdout.split()[-1])
        except (IndexError, ValueError) as exc:
            raise RemoteError(f"{self.node}: could not start {describe(cmd)}: no PID reported", result) from exc

    def upload(self, local: str, remote: str) -> None:
        _copy(local, remote, self.node)

    def download(self, remote: str, local: str) -> None:
        _copy(remote, local, self.node)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node!r})"


def _copy(src: str, dst: str, node: str) -> None:
    try:
        if os.path.isdir(src):
            shutil.copytree(src, dst, dirs_exist_ok=True, symlinks=True)
        else:
            os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
            shutil.copy2(src, dst)
    except OSError as exc:
        raise RemoteError(f"{node}: copying {src} to {dst} failed: {exc}") from exc
