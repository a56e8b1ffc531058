"""A real OpenAI-compatible HTTP server on 127.0.0.1, scripted per test.

Each POST to ``/v1/chat/completions`` takes the next scripted reply:
``{"content": "..."}`` (200), ``{"status": 429}`` / ``{"status": 500}`` (an error),
optionally with ``"sleep": seconds`` first; ``{"raw": b"..."}`` answers 200 with that body
as is (garbage). Requests are recorded for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeLLM:
    def __init__(self) -> None:
        self.replies: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                owner.requests.append(body)
                reply = owner.replies.pop(0) if owner.replies else {"status": 500}
                if reply.get("sleep"):
                    time.sleep(reply["sleep"])
                status = reply.get("status", 200)
                if "raw" in reply:  # garbage: a 200 whose body is not a completion
                    try:
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(reply["raw"])))
                        self.end_headers()
                        self.wfile.write(reply["raw"])
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                if status == 200:
                    payload = {
                        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body.get("model"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply["content"]}}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
                    }
                else:
                    payload = {"error": {"message": f"scripted {status}", "type": "test", "code": status}}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def script(self, *replies: dict[str, Any] | str) -> None:
        self.replies = [{"content": r} if isinstance(r, str) else r for r in replies]

    def prompt(self, index: int = -1) -> str:
        return "\n".join(m["content"] for m in self.requests[index]["messages"])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sql_reply(sql: str, parameters: list[Any] | None = None) -> str:
    return json.dumps({"sql": sql, "parameters": parameters or [], "explanation": "test"})
