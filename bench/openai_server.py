"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol, with scripted replies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple  # ("ok", content) | ("status", code) | ("sleep", seconds, content) | ("raw", body) | ("image", b64)
#               | ("error", code, message): an error status whose JSON body carries `message` (a server that echoes)


@dataclass
class ScriptedServer:
    script: Callable[[dict[str, Any], int], Reply]
    latency: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> ScriptedServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if "multipart" in self.headers.get("Content-Type", ""):
                    body = {"multipart": raw, "path": self.path}  # images.edit uploads files
                else:
                    body = {**json.loads(raw), "path": self.path}
                with server._lock:
                    server.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                    count = len(server.requests)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.latency)
                    self._reply(server.script(body, count))
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _reply(self, reply: Reply) -> None:
                kind = reply[0]
                if kind == "sleep":
                    time.sleep(reply[1])
                    reply = ("ok", reply[2])
                    kind = "ok"
                if kind in ("status", "error"):
                    message = reply[2] if kind == "error" else f"scripted {reply[1]}"
                    payload = json.dumps({"error": {"message": message, "type": "test"}}).encode()
                    self.send_response(reply[1])
                elif kind == "raw":
                    payload = reply[1].encode()
                    self.send_response(200)
                elif kind == "image":  # images API answer with one base64 PNG
                    payload = json.dumps({"created": 0, "data": [{"b64_json": reply[1]}]}).encode()
                    self.send_response(200)
                else:
                    payload = json.dumps({
                        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "test-judge",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply[1]}}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
                    }).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
