"""Codec throughput: encode/decode operations per second for the hot messages of a read/write workload.

Usage: python3 bench/codec_speed.py [cpu-seconds-per-case]   (one line per case; one core, pure codec, no I/O)
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reference.codec import messages as M  # noqa: E402
from reference.codec import records as R  # noqa: E402
from reference.codec.constants import OpCode  # noqa: E402
from reference.codec.framing import FrameReader  # noqa: E402


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Operations per CPU-second of this process: other load on a shared machine slows the wall clock, not this."""
    n, batch = 0, 1000
    start = time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        n += batch
        now = time.process_time()
        if now >= deadline:
            return n / (now - start)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    stat = R.Stat(0x100000005, 0x100000009, 1732450000000, 1732450001000, 3, 0, 0, 0, 100, 0, 0x100000005)
    get_req = R.GetDataRequest("/jepsen/register/17", False)
    set_req = R.SetDataRequest("/jepsen/register/17", b"x" * 100, 3)
    get_resp = R.GetDataResponse(b"x" * 100, stat)
    header = R.ReplyHeader(42, 0x100000009, 0)
    get_req_b = M.encode_request(42, OpCode.GET_DATA, get_req)[4:]
    set_req_b = M.encode_request(42, OpCode.SET_DATA, set_req)[4:]
    get_resp_b = M.encode_reply(header, get_resp)[4:]
    set_resp = R.SetDataResponse(stat)
    set_resp_b = M.encode_reply(header, set_resp)[4:]
    pipelined = b"".join(M.encode_request(i, OpCode.GET_DATA, get_req) for i in range(100))

    def frame_split() -> object:
        return FrameReader().feed(pipelined)

    cases = [
        ("decode getData request", lambda: M.decode_request(get_req_b), 1),
        ("encode getData request", lambda: M.encode_request(42, OpCode.GET_DATA, get_req), 1),
        ("decode setData request (100 B)", lambda: M.decode_request(set_req_b), 1),
        ("encode setData request (100 B)", lambda: M.encode_request(42, OpCode.SET_DATA, set_req), 1),
        ("encode GetDataResponse reply (100 B)", lambda: M.encode_reply(header, get_resp), 1),
        ("decode GetDataResponse reply (100 B)", lambda: M.decode_reply(get_resp_b, OpCode.GET_DATA), 1),
        ("encode SetDataResponse reply", lambda: M.encode_reply(header, set_resp), 1),
        ("decode SetDataResponse reply", lambda: M.decode_reply(set_resp_b, OpCode.SET_DATA), 1),
        ("FrameReader split, per frame (100 pipelined)", frame_split, 100),
    ]
    print(f"python {sys.version.split()[0]}, {seconds:g} CPU-s per case, ops per CPU-second")
    for name, fn, per_call in cases:
        print(f"{name:48s} {rate(fn, seconds) * per_call:>12,.0f} ops/s")


if __name__ == "__main__":
    main()
