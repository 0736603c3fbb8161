"""A stand-in for the messaging service that sends customer notices: a small threaded
HTTP/1.1 server, standard library only (docs/architecture.md, "Notices: the outbox and
the receiver").

    python config/receiver.py --port 8025 --state-dir .local/dev/receiver

The secret comes from the environment (NOTICE_WEBHOOK_SECRET), never the command line.

- POST /notices: the body must carry `X-Signature: sha256=<hex HMAC-SHA256 of the body>`
  (401 otherwise) and an `Idempotency-Key` (400 without). A key already accepted gets
  200 again and is not recorded twice. The account `LD-UNREACHABLE` has no deliverable
  contact: 422. Accepted notices are appended as JSON lines to `notices.jsonl` in the
  state directory: the key, the SHA-256 of the body, the body as received.
- GET /stats: what it has seen (accepted, duplicates, refused, failed on purpose).
- POST /control/fail?status=503&count=2: answer the next `count` notices with
  `status` (a test's outage); POST /control/reset ends it. The server listens on the
  loopback interface only.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

UNREACHABLE_ACCOUNT = "LD-UNREACHABLE"
RECORD_FILE = "notices.jsonl"


def signature(body: bytes, secret: str) -> str:
    """The X-Signature header's value for `body` (the outbox computes the same)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Receiver:
    """The receiver's state: accepted keys, the record file, the failures asked for."""

    def __init__(self, state_dir: Path, secret: str) -> None:
        self.secret = secret
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / RECORD_FILE
        self.lock = threading.Lock()
        self.keys: set[str] = set()
        if self.path.exists():  # a restart keeps de-duplicating
            with self.path.open(encoding="utf-8") as file:
                for line in file:
                    if line.strip():
                        self.keys.add(json.loads(line)["idempotency_key"])
        self.file = self.path.open("a", encoding="utf-8")
        self.stats = {"accepted": 0, "duplicates": 0, "refused": 0, "failed": 0}
        self.fail_status = 0
        self.fail_count = 0

    def receive(self, body: bytes, key: str, signed: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.fail_count > 0:
                self.fail_count -= 1
                self.stats["failed"] += 1
                return self.fail_status, {"error": "unavailable (asked to fail)"}
        if not hmac.compare_digest(signed, signature(body, self.secret)):
            with self.lock:
                self.stats["refused"] += 1
            return 401, {"error": "bad signature"}
        if not key:
            with self.lock:
                self.stats["refused"] += 1
            return 400, {"error": "no Idempotency-Key"}
        try:
            notice = json.loads(body)
        except ValueError:
            with self.lock:
                self.stats["refused"] += 1
            return 400, {"error": "the body is not JSON"}
        with self.lock:
            if key in self.keys:
                self.stats["duplicates"] += 1
                return 200, {"status": "duplicate"}
            if isinstance(notice, dict) and notice.get("account") == UNREACHABLE_ACCOUNT:
                self.stats["refused"] += 1
                return 422, {"error": "no deliverable contact"}
            record = {
                "received_at": datetime.now(UTC).isoformat(),
                "idempotency_key": key,
                "sha256": hashlib.sha256(body).hexdigest(),
                "body": body.decode("utf-8"),
            }
            self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.file.flush()
            self.keys.add(key)
            self.stats["accepted"] += 1
        return 200, {"status": "accepted"}

    def control(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if path == "/control/fail":
                try:
                    self.fail_status = int(query.get("status", ["503"])[0])
                    self.fail_count = int(query.get("count", ["1"])[0])
                except ValueError:
                    return 400, {"error": "status and count are integers"}
            elif path == "/control/reset":
                self.fail_status = self.fail_count = 0
            else:
                return 404, {"error": "not found"}
            return 200, {"fail_status": self.fail_status, "fail_count": self.fail_count}


def handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the outbox reuses its connections
        # The answer goes out in two writes (head, body): with Nagle's algorithm the
        # second waits for the client's delayed ACK, 40 ms a request.
        disable_nagle_algorithm = True

        def answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            if parts.path == "/notices":
                self.answer(
                    *receiver.receive(
                        body,
                        self.headers.get("Idempotency-Key", ""),
                        self.headers.get("X-Signature", ""),
                    )
                )
            elif parts.path.startswith("/control/"):
                self.answer(*receiver.control(parts.path, parse_qs(parts.query)))
            else:
                self.answer(404, {"error": "not found"})

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/stats":
                with receiver.lock:
                    self.answer(200, dict(receiver.stats))
            else:
                self.answer(404, {"error": "not found"})

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per notice would drown the logs

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The local stand-in for the messaging service.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    secret = os.environ.get("NOTICE_WEBHOOK_SECRET", "")
    if not secret:
        parser.error("NOTICE_WEBHOOK_SECRET must be set in the environment")
    receiver = Receiver(args.state_dir, secret)
    server = Server(("127.0.0.1", args.port), handler_for(receiver))
    print(f"notice receiver on http://127.0.0.1:{server.server_port}/notices", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        receiver.file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
