"""`harness image build`: make the node image the docker backend runs (see docs/docker.md).

    harness image build                      zkjepsen-node:bookworm     (Python 3, iproute2, iptables, procps,
                                                                         libfaketime, openssh-server, sudo)
    harness image build --with-zookeeper     zkjepsen-node:bookworm-zk  (the same + a JRE and ZooKeeper)

From harness/images/Dockerfile when an image registry is reachable; otherwise (or with --method debootstrap)
from a debootstrap'd Debian root file system imported as an image, which needs only a Debian package mirror.
--base-image IMAGE builds from the Dockerfile on a local (or pullable) Debian bookworm image instead of
debian:bookworm-slim, e.g. `--base-image zkjepsen-node:bookworm --with-zookeeper` adds ZooKeeper to the plain
image; no registry is involved. An image already built from the same recipe is reused unless --rebuild is given.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_BAD_ARGS = 0, 2, 254


def register(subparsers: Any) -> None:
    from harness.images import METHODS

    parser = subparsers.add_parser("image", help="build the node image for --backend docker",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    build = actions.add_parser("build", help="build (or reuse) the node image")
    build.add_argument("--with-zookeeper", action="store_true",
                       help="also install a JRE and Apache ZooKeeper (tag zkjepsen-node:bookworm-zk)")
    build.add_argument("--method", choices=METHODS, default="auto",
                       help="dockerfile (needs a registry), debootstrap (needs a Debian mirror), or auto "
                            "(dockerfile when the base image can be had, else debootstrap; default)")
    build.add_argument("--mirror", default=None,
                       help="Debian mirror for debootstrap (default: the one in /etc/apt/sources.list*)")
    build.add_argument("--base-image", default=None, metavar="IMAGE",
                       help="build from the Dockerfile FROM this image (local, else pulled) instead of "
                            "debian:bookworm-slim; implies --method dockerfile")
    build.add_argument("--tag", default=None,
                       help="tag for the result instead of zkjepsen-node:bookworm[-zk] (run it with --docker-image)")
    build.add_argument("--rebuild", action="store_true", help="build even if an up-to-date image exists")
    build.add_argument("--work-dir", default=None,
                       help="where debootstrap makes its scratch root file system (default /var/tmp)")
    build.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    from harness.backends.docker import DockerUnavailable, connect
    from harness.images import ImageBuildError, build_image

    if args.base_image is not None and args.method == "debootstrap":
        print("harness image: --base-image is for --method dockerfile (debootstrap makes its own root file "
              "system)", file=sys.stderr)
        return EXIT_BAD_ARGS
    try:
        client = connect()
    except DockerUnavailable as exc:
        print(f"harness image: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGS
    try:
        tag = build_image(client, with_zookeeper=args.with_zookeeper, method=args.method, mirror=args.mirror,
                          rebuild=args.rebuild, work_dir=args.work_dir, base_image=args.base_image, tag=args.tag,
                          progress=lambda line: print(line, flush=True))
    except ImageBuildError as exc:
        print(f"harness image: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("harness image: interrupted (scratch files removed)", file=sys.stderr)
        return EXIT_FAILED
    print(tag)
    return EXIT_OK
