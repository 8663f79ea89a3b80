"""Apache ZooKeeper as the DB under test.

By default it runs the Debian ``zookeeper`` package's jars from /usr/share/java (which must be installed on every
node); with ``tarball=PATH`` (``--zookeeper-tarball``) it unpacks an Apache release
(``apache-zookeeper-X.Y.Z-bin.tar.gz``, or an already unpacked directory) into each node's directory instead.

Per node, under ``<remote.home>/zookeeper/``: ``zoo.cfg``, ``data/myid`` (the node's 1-based position in
``test.nodes``), ``server.log`` (the JVM's console, where the log4j/logback console appender writes) and
``server.pid``. Java is started directly by ``Remote.spawn``, so kill/pause hit the JVM's own PID.

A node without the Debian jars (a plain host reached over ssh, say) gets them from the control machine: the
server's jars and everything their manifests' Class-Path names (~10 MB) are uploaded to ``<dir>/lib`` and put on
the class path explicitly. The node still needs a JRE (``java``).
"""
from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import tempfile
import zipfile
from typing import Any

from harness.dbs.base import DaemonDB, four_letter_word, srvr_mode
from harness.remote import RemoteError

DEBIAN_JARS = "/usr/share/java"
# zookeeper.jar's manifest Class-Path brings jute, netty transport/handler, jetty, jackson, slf4j-api, ...; the
# server also needs netty-codec and a logging binding, which Debian's manifest does not name.
DEBIAN_CLASSPATH = [f"{DEBIAN_JARS}/{jar}" for jar in
                    ("zookeeper.jar", "netty-codec.jar", "slf4j-log4j12.jar", "log4j-1.2.jar")]
MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
LOG4J = """\
log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n
"""


class ZooKeeperDB(DaemonDB):
    name = "zookeeper"

    def __init__(self, tarball: str | None = None, zookeeper_tarball: str | None = None, heap_mb: int = 256,
                 tick_time_ms: int = 2000, init_limit: int = 10, sync_limit: int = 5, client_port: int = 2181,
                 peer_port: int = 2888, election_port: int = 3888, java: str = "java",
                 jvm_opts: list[str] | None = None, node_jar_dir: str = DEBIAN_JARS) -> None:
        self.tarball = tarball or zookeeper_tarball
        if self.tarball and not os.path.exists(self.tarball):
            raise FileNotFoundError(f"ZooKeeper tarball {self.tarball} does not exist")
        self.heap_mb = heap_mb
        self.tick_time_ms = tick_time_ms
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.client_port = client_port
        self.peer_port = peer_port
        self.election_port = election_port
        self.java = java
        self.jvm_opts = list(jvm_opts or [])
        self.node_jar_dir = node_jar_dir  # where nodes keep Debian's jars, if they have them

    # -- files -------------------------------------------------------------------------------
    def config_file(self, test: Any, node: str) -> str:
        return f"{self.directory(test, node)}/zoo.cfg"

    def data_dir(self, test: Any, node: str) -> str:
        return f"{self.directory(test, node)}/data"

    def dist_dir(self, test: Any, node: str) -> str:
        return f"{self.directory(test, node)}/dist"

    def log_files(self, test: Any, node: str) -> list[str]:
        return [self.log_file(test, node), self.config_file(test, node)]

    def myid(self, test: Any, node: str) -> int:
        return list(test.nodes).index(node) + 1

    def zoo_cfg(self, test: Any, node: str) -> str:
        lines = [
            f"tickTime={self.tick_time_ms}",
            f"initLimit={self.init_limit}",
            f"syncLimit={self.sync_limit}",
            f"dataDir={self.data_dir(test, node)}",
            f"clientPort={self.client_port}",
            "4lw.commands.whitelist=*",
            "admin.enableServer=false",
            # 64 MB per log file by default: five nodes on a small disk feel it, and tests never need it.
            "preAllocSize=4096",
            "autopurge.snapRetainCount=3",
            "autopurge.purgeInterval=1",
        ]
        if len(test.nodes) > 1:
            # An ensemble of one would still be "standalone" for ZooKeeper, which is what a 1-node test wants.
            for i, other in enumerate(test.nodes, start=1):
                lines.append(f"server.{i}={test.address(other)}:{self.peer_port}:{self.election_port}")
        return "\n".join(lines) + "\n"

    # -- install / configure / run -----------------------------------------------------------
    def install(self, test: Any, node: str) -> None:
        remote = test.remote(node)
        if not self.tarball:
            missing = remote.run(["sh", "-c", " ".join(f"test -f {shlex.quote(j)} || echo {shlex.quote(j)};"
                                                     for j in self._node_classpath())]).stdout.split()
            if missing:
                self._ship_jars(test, node, missing)
            return
        dist = self.dist_dir(test, node)
        if remote.run(["test", "-d", f"{dist}/lib"], check=False).ok:
            return
        remote.run(["mkdir", "-p", dist])
        if os.path.isdir(self.tarball):
            remote.upload(self.tarball, dist)
        else:
            staged = f"{self.directory(test, node)}/{os.path.basename(self.tarball)}"
            remote.upload(self.tarball, staged)
            remote.run(["tar", "-xzf", staged, "-C", dist, "--strip-components=1"], timeout=300)
            remote.run(["rm", "-f", staged])
        if not remote.run(["test", "-d", f"{dist}/lib"], check=False).ok:
            raise RemoteError(f"{node}: {self.tarball} has no lib/ directory; is it a ZooKeeper *-bin* release?")

    def configure(self, test: Any, node: str) -> None:
        remote = test.remote(node)
        remote.run(["mkdir", "-p", self.data_dir(test, node)])
        remote.run(["sh", "-c", f"cat > {shlex.quote(self.config_file(test, node))}"],
                   stdin=self.zoo_cfg(test, node).encode())
        remote.run(["sh", "-c", f"cat > {shlex.quote(self.data_dir(test, node) + '/myid')}"],
                   stdin=f"{self.myid(test, node)}\n".encode())
        if not self.tarball:
            remote.run(["sh", "-c", f"cat > {shlex.quote(self.directory(test, node) + '/log4j.properties')}"],
                       stdin=LOG4J.encode())

    def _node_classpath(self) -> list[str]:
        return [f"{self.node_jar_dir}/{os.path.basename(j)}" for j in DEBIAN_CLASSPATH]

    def shipped_dir(self, test: Any, node: str) -> str:
        return f"{self.directory(test, node)}/lib"

    def _ship_jars(self, test: Any, node: str, missing: list[str]) -> None:
        """Copy the control machine's Debian jars (with their Class-Path closure) to a node that lacks them."""
        remote = test.remote(node)
        jars = jar_closure(DEBIAN_CLASSPATH)
        if not jars:
            raise RemoteError(f"{node}: ZooKeeper jars missing: {', '.join(missing)}, and this machine has none "
                              "to copy; install the Debian package `zookeeper` (apt-get install zookeeper) on "
                              "the nodes or pass --zookeeper-tarball")
        if not remote.run(["sh", "-c", f"command -v {shlex.quote(self.java)}"], check=False).ok:
            raise RemoteError(f"{node}: no `{self.java}` on the node: install a JRE there (e.g. apt-get install "
                              "default-jre-headless), or the Debian package `zookeeper`")
        with tempfile.TemporaryDirectory(prefix="zkjepsen-jars-") as staging:
            for jar in jars:  # copies, not Debian's symlinks: the node gets the files themselves
                shutil.copyfile(jar, os.path.join(staging, os.path.basename(jar)))
            remote.upload(staging, self.shipped_dir(test, node))

    def classpath(self, test: Any, node: str) -> str:
        if not self.tarball:
            lib = self.shipped_dir(test, node)
            if test.remote(node).run(["test", "-f", f"{lib}/zookeeper.jar"], check=False).ok:
                return ":".join(f"{lib}/{os.path.basename(j)}" for j in jar_closure(DEBIAN_CLASSPATH))
            return ":".join(self._node_classpath())
        dist = self.dist_dir(test, node)
        jars = test.remote(node).run(["sh", "-c", f"ls {shlex.quote(dist)}/lib/*.jar"]).stdout.split()
        return ":".join([f"{dist}/conf", *jars])

    def command(self, test: Any, node: str) -> list[str]:
        # Small heap, serial GC and C1 only: several JVMs share two cores in tests, and start-up time matters
        # more than peak throughput there.
        argv = [self.java, f"-Xmx{self.heap_mb}m", "-Xms32m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-XX:-UsePerfData", "-Dfile.encoding=UTF-8", "-Dzookeeper.admin.enableServer=false",
                f"-Dzookeeper.log.dir={self.directory(test, node)}"]
        if not self.tarball:
            argv.append(f"-Dlog4j.configuration=file:{self.directory(test, node)}/log4j.properties")
        return [*argv, *self.jvm_opts, "-cp", self.classpath(test, node), MAIN, self.config_file(test, node)]

    # -- inspection --------------------------------------------------------------------------
    def is_ready(self, test: Any, node: str) -> bool:
        # A server outside a quorum answers srvr with "not currently serving requests" and no Mode line.
        return srvr_mode(test.address(node), self.client_port) is not None

    def version(self, test: Any) -> str:
        for node in test.nodes:
            try:
                first = four_letter_word(test.address(node), self.client_port, "srvr").splitlines()
            except OSError:
                continue
            if first and first[0].startswith("Zookeeper version:"):
                raw = first[0].split(":", 1)[1].split(",")[0].strip()
                match = re.match(r"\d+(\.\d+)+", raw)  # Debian's build says "3.8.0-${mvngit.commit.id}"
                return match.group(0) if match else raw
        if not self.tarball:
            jars = glob.glob(f"{DEBIAN_JARS}/zookeeper-[0-9]*.jar")
            versions = [m.group(1) for j in jars if (m := re.search(r"zookeeper-([\d.]+)\.jar$", j))]
            if versions:
                return versions[0]
        match = re.search(r"zookeeper-([\d.]+)", os.path.basename(self.tarball or ""))
        return match.group(1) if match else "unknown"


def jar_closure(jars: list[str]) -> list[str]:
    """``jars`` (those that exist) plus every existing jar their manifests' Class-Path names, transitively, in
    first-seen order. Debian's jars name their dependencies by absolute path in /usr/share/java."""
    seen: list[str] = []
    todo = [j for j in jars if os.path.exists(j)]
    while todo:
        jar = todo.pop(0)
        if jar in seen:
            continue
        seen.append(jar)
        try:
            with zipfile.ZipFile(jar) as archive:
                manifest = archive.read("META-INF/MANIFEST.MF").decode(errors="replace")
        except (OSError, KeyError, zipfile.BadZipFile):
            continue
        # Manifest lines are folded at 72 bytes: a continuation line starts with one space.
        for line in manifest.replace("\r\n", "\n").replace("\n ", "").splitlines():
            if line.startswith("Class-Path:"):
                for entry in line.split(":", 1)[1].split():
                    path = entry if entry.startswith("/") else os.path.join(os.path.dirname(jar), entry)
                    if os.path.exists(path) and path not in seen:
                        todo.append(path)
    return seen
