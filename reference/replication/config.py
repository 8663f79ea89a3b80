"""The ensemble config file: one `server.N=host:peer_port:client_port` line per server, plus key=value settings
(tickTime, snapCount, ...). Blank lines and `#` comments are ignored."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    """The config file is malformed; the message says where."""


@dataclass(frozen=True)
class Member:
    id: int
    host: str
    peer_port: int
    client_port: int


@dataclass
class EnsembleConfig:
    members: dict[int, Member]
    settings: dict[str, str] = field(default_factory=dict)
    text: str = ""

    def int_setting(self, key: str, default: int) -> int:
        raw = self.settings.get(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{key}={raw!r} is not an integer") from None
        if value <= 0:
            raise ConfigError(f"{key} must be positive (got {value})")
        return value

    def secret(self) -> bytes:
        """Session passwords must verify on every server, so the secret derives from what they share: the
        `secret=` setting if given, else the server lines (anyone who can read the config can forge them, as
        anyone who can read a ZooKeeper snapshot can)."""
        base = self.settings.get("secret") or "\n".join(
            f"{m.id}={m.host}:{m.peer_port}:{m.client_port}" for m in sorted(self.members.values(), key=lambda m: m.id))
        return hashlib.sha256(b"zkjepsen-session-secret\0" + base.encode()).digest()


def _port(value: str, what: str, lineno: int) -> int:
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(f"line {lineno}: {what} {value!r} is not a number") from None
    if not 0 < port < 65536:
        raise ConfigError(f"line {lineno}: {what} {port} is not a TCP port")
    return port


def parse(text: str) -> EnsembleConfig:
    members: dict[int, Member] = {}
    settings: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ConfigError(f"line {lineno}: expected key=value, got {raw.strip()!r}")
        if key.startswith("server."):
            try:
                sid = int(key[len("server."):])
            except ValueError:
                raise ConfigError(f"line {lineno}: server id in {key!r} is not a number") from None
            if not 0 < sid < 256:
                raise ConfigError(f"line {lineno}: server id {sid} must be in 1..255")
            if sid in members:
                raise ConfigError(f"line {lineno}: server.{sid} is defined twice")
            # host:peer_port:client_port; a ZooKeeper-style ";client_port" or trailing role is tolerated.
            parts = value.replace(";", ":").split(":")
            if len(parts) < 3:
                raise ConfigError(f"line {lineno}: expected server.N=host:peer_port:client_port, got {value!r}")
            host = parts[0]
            if not host:
                raise ConfigError(f"line {lineno}: empty host")
            members[sid] = Member(sid, host, _port(parts[1], "peer port", lineno),
                                  _port(parts[-1] if not parts[-1].isalpha() else parts[-2], "client port", lineno))
        else:
            settings[key] = value
    if not members:
        raise ConfigError("no server.N=host:peer_port:client_port lines")
    return EnsembleConfig(members, settings, text)


def load(path: str | Path) -> EnsembleConfig:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {path} is not text") from None
    return parse(text)
