"""Node images for the docker backend: ``harness image build``.

A node image is Debian bookworm with what the tester runs on a node: Python 3 (the reference server), iproute2,
iptables (partitions), procps, libfaketime + faketime (clock faults), openssh-server, sudo (as real hosts have
it: the ssh backend's non-root logins need it); with ``with_zookeeper`` also a headless JRE and Debian's
``zookeeper`` package (jars in /usr/share/java, as on the control machine).

Two ways to make it:

``dockerfile``
    ``docker build`` of ``harness/images/Dockerfile`` from ``debian:bookworm-slim``, which needs an image
    registry; or from ``base_image`` (``--base-image``), any local Debian bookworm image, e.g. one made by
    ``debootstrap``: then no registry is needed, and no package mirror either when the base already has every
    package (the Dockerfile skips apt-get then).
``debootstrap``
    ``debootstrap --variant=minbase bookworm`` into a scratch directory, the packages installed with apt-get in a
    chroot (``/usr/sbin/policy-rc.d`` forbids starting services there), the tree streamed as a tar into
    ``docker import``. Needs only a Debian package mirror (found in /etc/apt/sources.list*), so it works on a
    machine with no registry at all.

``auto`` uses the Dockerfile when the base image is present or can be pulled, debootstrap otherwise.

Images are tagged ``zkjepsen-node:bookworm`` and ``zkjepsen-node:bookworm-zk`` (or ``tag``) and labelled with a
hash of the recipe (``zkjepsen.recipe``): an existing image with the same recipe is reused, so a build happens
once per machine. Everything talks to Docker through the docker SDK, never the docker CLI.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from harness.backends.base import machine_lock

log = logging.getLogger("zkjepsen.image")

REPOSITORY = "zkjepsen-node"
SUITE = "bookworm"
BASE_IMAGE = "debian:bookworm-slim"
BASE_PACKAGES = ["python3", "iproute2", "iptables", "procps", "libfaketime", "faketime", "openssh-server", "sudo"]
ZOOKEEPER_PACKAGES = ["default-jre-headless", "zookeeper"]
RECIPE_LABEL = "zkjepsen.recipe"
DOCKERFILE_DIR = Path(__file__).resolve().parent
LOCK_FILE = "/run/lock/zkjepsen-image.lock"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
METHODS = ("auto", "dockerfile", "debootstrap")


class ImageBuildError(RuntimeError):
    """The image could not be built; the message says why and what to do."""


def image_tag(with_zookeeper: bool = False) -> str:
    return f"{REPOSITORY}:{SUITE}-zk" if with_zookeeper else f"{REPOSITORY}:{SUITE}"


def packages(with_zookeeper: bool = False) -> list[str]:
    return BASE_PACKAGES + (ZOOKEEPER_PACKAGES if with_zookeeper else [])


def recipe_hash(with_zookeeper: bool = False) -> str:
    """Changes whenever what goes into the image changes, so a stale cached image is rebuilt."""
    text = "\n".join([SUITE, *packages(with_zookeeper), (DOCKERFILE_DIR / "Dockerfile").read_text(), "v1"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_mirror(paths: list[str] | None = None) -> str:
    """The first Debian (not security/updates) mirror named in apt's sources; deb.debian.org if none."""
    if paths is None:
        paths = ["/etc/apt/sources.list"]
        with contextlib.suppress(OSError):
            paths += sorted(os.path.join("/etc/apt/sources.list.d", n) for n in os.listdir("/etc/apt/sources.list.d"))
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        for uri in _mirror_uris(text):
            if re.search(r"/debian/?$", uri):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def _mirror_uris(text: str) -> Iterator[str]:
    # One-line format: "deb [opts] URI suite comp..."; deb822 format: "URIs: URI ...".
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("deb "):
            words = re.sub(r"\[[^]]*\]", " ", line).split()
            if len(words) >= 2:
                yield words[1]
        elif line.lower().startswith("uris:"):
            yield from line.split(":", 1)[1].split()


def cached_image(client: Any, with_zookeeper: bool = False, tag: str | None = None) -> Any | None:
    """The node image (``tag``, by default the standard one) if it exists and was built from the current
    recipe."""
    import docker.errors

    try:
        image = client.images.get(tag or image_tag(with_zookeeper))
    except docker.errors.ImageNotFound:
        return None
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    return image if labels.get(RECIPE_LABEL) == recipe_hash(with_zookeeper) else None


def build_image(client: Any, *, with_zookeeper: bool = False, method: str = "auto", mirror: str | None = None,
                rebuild: bool = False, work_dir: str | None = None, base_image: str | None = None,
                tag: str | None = None, progress: Callable[[str], None] | None = None) -> str:
    """Make the node image (unless an up-to-date one exists) and return its tag.

    ``base_image``: the Dockerfile's FROM instead of ``debian:bookworm-slim`` (only with ``dockerfile``, which
    ``auto`` then means); it is pulled only when it is not present locally. ``tag``: instead of the standard
    tag (``image_tag``)."""
    if method not in METHODS:
        raise ValueError(f"unknown build method {method!r}; choose one of {', '.join(METHODS)}")
    if base_image is not None and method == "debootstrap":
        raise ValueError("a base image is for the dockerfile method; debootstrap makes its own root file system")
    say = progress or log.info
    tag = tag or image_tag(with_zookeeper)
    with machine_lock(LOCK_FILE):  # two tests (or a test and a user) building at once would both do the heavy work
        if not rebuild and cached_image(client, with_zookeeper, tag) is not None:
            say(f"{tag} is up to date")
            return tag
        if base_image is not None:
            if not _base_image_available(client, base_image, say):
                raise ImageBuildError(f"base image {base_image} is neither present nor pullable; build one (e.g. "
                                      "`harness image build --method debootstrap`) or name another")
            method = "dockerfile"
        elif method == "auto":
            method = "dockerfile" if _base_image_available(client, BASE_IMAGE, say) else "debootstrap"
        started = time.monotonic()
        if method == "dockerfile":
            _build_with_dockerfile(client, tag, with_zookeeper, base_image or BASE_IMAGE, say)
        else:
            _build_with_debootstrap(client, tag, with_zookeeper, mirror or find_mirror(), work_dir, say)
        say(f"built {tag} with {method} in {time.monotonic() - started:.0f} s")
        return tag


def _base_image_available(client: Any, base: str, say: Callable[[str], None]) -> bool:
    import docker.errors
    import requests.exceptions

    try:
        client.images.get(base)
        return True
    except docker.errors.ImageNotFound:
        pass
    if "@" in base:  # by digest
        repository, tag = base, None
    elif ":" in base.rsplit("/", 1)[-1]:
        repository, _, tag = base.rpartition(":")
    else:
        repository, tag = base, "latest"  # the SDK would pull every tag of the repository otherwise
    try:
        say(f"pulling {base}")
        client.images.pull(repository, tag=tag)
        return True
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        say(f"cannot pull {base} ({_one_line(exc)})" + ("; building with debootstrap instead"
                                                         if base == BASE_IMAGE else ""))
        return False


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1][:200] if text else type(exc).__name__


def _build_with_dockerfile(client: Any, tag: str, with_zookeeper: bool, base: str,
                           say: Callable[[str], None]) -> None:
    import docker.errors

    say(f"building {tag} from {DOCKERFILE_DIR / 'Dockerfile'} on {base}")
    try:
        # The host's network for the RUN step: a daemon started as the docs say (--bridge=none) has no default
        # bridge, and one with --iptables=false no NAT, so apt-get would reach no mirror from a build container.
        client.images.build(path=str(DOCKERFILE_DIR), dockerfile="Dockerfile", tag=tag, rm=True, forcerm=True,
                            network_mode="host",
                            buildargs={"BASE": base, "PACKAGES": " ".join(packages(with_zookeeper))},
                            labels={RECIPE_LABEL: recipe_hash(with_zookeeper)})
    except docker.errors.BuildError as exc:
        tail = "".join(str(chunk.get("stream") or chunk.get("error") or "") for chunk in exc.build_log)[-1500:]
        raise ImageBuildError(f"docker build of {tag} failed: {exc}\n{tail}") from exc
    except docker.errors.APIError as exc:
        raise ImageBuildError(f"docker build of {tag} failed: {_one_line(exc)}") from exc


def _run(argv: list[str], what: str, env: dict[str, str] | None = None, timeout: float = 1800) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    except FileNotFoundError as exc:
        raise ImageBuildError(f"{what}: {exc.filename} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise ImageBuildError(f"{what}: no result after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise ImageBuildError(f"{what} failed (exit code {proc.returncode}):\n{tail}")


def _build_with_debootstrap(client: Any, tag: str, with_zookeeper: bool, mirror: str, work_dir: str | None,
                            say: Callable[[str], None]) -> None:
    if os.geteuid() != 0:
        raise ImageBuildError("building the node image with debootstrap needs root (it makes a chroot); run as "
                              "root, or build from the Dockerfile where a registry is reachable")
    if not shutil.which("debootstrap"):
        raise ImageBuildError("debootstrap is not installed (apt-get install debootstrap)")
    scratch = tempfile.mkdtemp(prefix="zkjepsen-image-", dir=work_dir or "/var/tmp")
    root = os.path.join(scratch, "root")
    env = {"PATH": PATH_ENV.split("=", 1)[1], "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive",
           **{k: v for k, v in os.environ.items() if k.lower() in ("http_proxy", "https_proxy", "no_proxy")}}
    proc_mount = os.path.join(root, "proc")
    try:
        say(f"debootstrap --variant=minbase {SUITE} {root} {mirror}")
        _run(["debootstrap", "--variant=minbase", SUITE, root, mirror], "debootstrap", env)
        # Package scripts must not start services (sshd, zookeeper) in the chroot: they would run on the host.
        policy = os.path.join(root, "usr/sbin/policy-rc.d")
        Path(policy).write_text("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
        shutil.copyfile("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
        Path(root, "etc/apt/sources.list").write_text(f"deb {mirror} {SUITE} main\n")
        os.makedirs(proc_mount, exist_ok=True)
        _run(["mount", "-t", "proc", "proc", proc_mount], "mounting /proc in the chroot")  # java's postinst needs it
        try:
            say("apt-get update (in the chroot)")
            _run(["chroot", root, "apt-get", "update"], "apt-get update in the chroot", env)
            say(f"apt-get install {' '.join(packages(with_zookeeper))} (in the chroot)")
            _run(["chroot", root, "apt-get", "install", "-y", "--no-install-recommends", *packages(with_zookeeper)],
                 "apt-get install in the chroot", env)
            _run(["chroot", root, "apt-get", "clean"], "apt-get clean in the chroot", env)
        finally:
            _unmount(proc_mount)
        # No shared private host keys in an image; anyone running sshd in a node makes its own (ssh-keygen -A).
        for name in os.listdir(os.path.join(root, "etc/ssh")):
            if name.startswith("ssh_host_"):
                os.unlink(os.path.join(root, "etc/ssh", name))
        shutil.rmtree(os.path.join(root, "var/lib/apt/lists"), ignore_errors=True)
        os.unlink(policy)
        Path(root, "etc/resolv.conf").write_text("")  # docker mounts its own
        say(f"importing {root} as {tag}")
        _import_tree(client, root, tag, recipe_hash(with_zookeeper))
    finally:
        _remove_scratch(scratch, proc_mount)


def _unmount(path: str) -> None:
    if os.path.ismount(path):
        if subprocess.run(["umount", path], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", path], capture_output=True)


def _remove_scratch(scratch: str, proc_mount: str) -> None:
    _unmount(proc_mount)
    if os.path.ismount(proc_mount):
        log.warning("%s is still mounted; leaving %s in place (remove it by hand after umount)", proc_mount, scratch)
        return
    shutil.rmtree(scratch, ignore_errors=True)


def _import_tree(client: Any, root: str, tag: str, recipe: str) -> None:
    """Stream ``tar -C root .`` into the daemon's image import; numeric owners, so the chroot's users stay."""
    import docker.errors

    repository, _, version = tag.partition(":")
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", root, "-cf", "-", "."], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    assert tar.stdout is not None

    def chunks() -> Iterator[bytes]:
        while True:
            data = tar.stdout.read(1 << 20)
            if not data:
                return
            yield data

    try:
        answer = client.api.import_image(src=chunks(), repository=repository, tag=version, stream_src=True,
                                         changes=['CMD ["sleep", "infinity"]', f"ENV {PATH_ENV}",
                                                  f"LABEL {RECIPE_LABEL}={recipe}"])
    except docker.errors.APIError as exc:
        tar.kill()
        raise ImageBuildError(f"docker import of {tag} failed: {_one_line(exc)}") from exc
    finally:
        tar.stdout.close()
        stderr = tar.stderr.read().decode(errors="replace") if tar.stderr else ""
        code = tar.wait()
    if code != 0:
        raise ImageBuildError(f"tar of {root} failed (exit code {code}): {stderr.strip()[-500:]}")
    if "error" in str(answer).lower() and "errorDetail" in str(answer):
        raise ImageBuildError(f"docker import of {tag} failed: {str(answer)[-500:]}")
