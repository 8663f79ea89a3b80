"""`harness serve`: browse a store over HTTP. The index is built on every request; files are served from
inside the store only; a run without report.html gets its report rendered on demand (not written)."""
from __future__ import annotations

import mimetypes
import signal
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from reports.run_data import HISTORY, REPORT, RESULTS, NotARun
from reports.store_index import index_html, listing_html, scan_store

TEXT_TYPES = {".jsonl": "application/x-ndjson; charset=utf-8", ".json": "application/json; charset=utf-8",
              ".log": "text/plain; charset=utf-8", ".cfg": "text/plain; charset=utf-8",
              ".txt": "text/plain; charset=utf-8", ".out": "text/plain; charset=utf-8",
              ".edn": "text/plain; charset=utf-8"}
# Files from the nodes are whatever the servers wrote: only our own pages are served as HTML; anything the
# browser could run (html, svg, xml, js) goes out as plain text, under a CSP that allows nothing.
ACTIVE_TYPES = ("text/html", "image/svg", "application/xhtml", "text/xml", "application/xml", "text/javascript",
                "application/javascript")


def make_handler(store: Path) -> type[BaseHTTPRequestHandler]:
    root = store.resolve()

    class Handler(BaseHTTPRequestHandler):
        server_version = "harness-serve"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per request is noise
            pass

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            if not ctype.startswith("text/html"):
                self.send_header("Content-Security-Policy", "default-src 'none'; sandbox")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _not_found(self, what: str = "not found") -> None:
            self._send(HTTPStatus.NOT_FOUND, (what + "\n").encode(), "text/plain; charset=utf-8")

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            if path in ("", "/"):
                self._send(HTTPStatus.OK, index_html(root, scan_store(root)).encode(), "text/html; charset=utf-8")
                return
            if path == "/favicon.ico":  # browsers ask for it on plain-text pages (node logs): none, quietly
                self.send_response(HTTPStatus.NO_CONTENT)
                self.end_headers()
                return
            rel = path.lstrip("/")
            if any(part in ("..", "") for part in rel.rstrip("/").split("/")) or "\x00" in rel:
                self._not_found()
                return
            target = root / rel
            try:
                real = target.resolve()
            except (OSError, RuntimeError):
                self._not_found()
                return
            if real != root and root not in real.parents:  # a symlink pointing out of the store
                self._not_found()
                return
            if real.is_dir():
                if not path.endswith("/"):
                    self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                    self.send_header("Location", path + "/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if (real / HISTORY).is_file() or (real / RESULTS).is_file():
                    self._report(real)
                    return
                self._send(HTTPStatus.OK, listing_html(root, rel, real).encode(), "text/html; charset=utf-8")
                return
            if not real.is_file():
                if real.name == REPORT and real.parent.is_dir():
                    self._report(real.parent)
                    return
                self._not_found()
                return
            ctype = TEXT_TYPES.get(real.suffix) or mimetypes.guess_type(real.name)[0] or "text/plain; charset=utf-8"
            ours = real.name == REPORT and ((real.parent / HISTORY).is_file() or (real.parent / RESULTS).is_file())
            if not ours and ctype.startswith(ACTIVE_TYPES):
                ctype = "text/plain; charset=utf-8"
            try:
                body = real.read_bytes()
            except OSError as exc:
                self._send(HTTPStatus.FORBIDDEN, f"cannot read: {exc}\n".encode(), "text/plain; charset=utf-8")
                return
            self._send(HTTPStatus.OK, body, ctype)

        def _report(self, run_dir: Path) -> None:
            from reports import render_report
            try:
                page = render_report(run_dir)
            except NotARun as exc:
                self._not_found(str(exc))
                return
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")

    return Handler


def serve(store: Path, host: str = "127.0.0.1", port: int = 8080) -> int:
    """Serve until SIGTERM or Ctrl-C. Prints the URL (with the real port, when 0 was asked for) first."""
    server = ThreadingHTTPServer((host, port), make_handler(store))
    server.daemon_threads = True
    url_host = f"[{host}]" if ":" in host else host
    print(f"serving {store} at http://{url_host}:{server.server_address[1]}/", flush=True)

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    print("stopped", file=sys.stderr)
    return 0
