"""A local stand-in for the Hugging Face Hub's HTTP API, for tests (no network here).

It listens on 127.0.0.1, records every request (method, path, headers, body) and
answers the few routes huggingface_hub calls to download the files of the model and
data set repositories it is given (``models``, ``datasets``: the revision, the file
listing, each file), to create a repository, a branch and a commit
(``validate-yaml`` accepts the model card, ``preupload`` answers "regular" for every
file, so the commit carries the files inline), plus repositories made to fail: gated
(401 with ``X-Error-Code: GatedRepo``) and unknown (404 ``RepoNotFound``), as the Hub
answers them. Its request loop is bounded: it stops itself after ``max_requests``
requests or ``seconds``, whichever comes first.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

__all__ = ["HubStandIn", "Request"]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


@dataclass
class HubStandIn:
    gated: set[str] = field(default_factory=set)  # repo ids answered 401 GatedRepo
    #: Model repositories it serves for download: repo id -> {file name: content}.
    models: dict[str, dict[str, bytes]] = field(default_factory=dict)
    #: Data set repositories, the same way (file names may hold folders: data/x.parquet).
    datasets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    commit: str = "3" * 40
    max_requests: int = 50
    seconds: float = 120.0
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(self.command, self.path, headers, body)
                stand_in.requests.append(request)
                status, headers, payload = stand_in.route(request)
                raw = isinstance(payload, bytes)
                data = payload if raw else json.dumps(payload).encode()
                kind = "application/octet-stream" if raw else "application/json"
                self.send_response(status)
                for key, value in {**headers, "Content-Type": kind}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _answer

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = 0.2
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        deadline = time.monotonic() + self.seconds
        while (len(self.requests) < self.max_requests and time.monotonic() < deadline
               and not self._stop.is_set()):
            self.server.handle_request()
        self.server.server_close()

    def close(self) -> None:
        self._stop.set()  # the loop ends at its next timeout
        self._thread.join(timeout=5)

    def route(self, request: Request) -> tuple[int, dict[str, str], Any]:
        path = request.path.split("?")[0]
        for repo in self.gated:
            if f"/{repo}/" in path or path.endswith(f"/{repo}"):
                return 401, {"X-Error-Code": "GatedRepo",
                             "X-Error-Message": "Access to this repo is restricted."}, {}
        served = [("models", "", repo, files) for repo, files in self.models.items()]
        served += [("datasets", "/datasets", repo, files) for repo, files in self.datasets.items()]
        for kind, root, repo, files in served:
            if path.startswith(f"/api/{kind}/{repo}/revision/"):
                return 200, {}, {"id": repo, "sha": self.commit,
                                 "siblings": [{"rfilename": name} for name in files]}
            if path.startswith(f"/api/{kind}/{repo}/tree/"):  # the file listing
                return 200, {}, [{"type": "file", "path": name, "size": len(content),
                                  "oid": hashlib.sha1(content).hexdigest()}
                                 for name, content in files.items()]
            prefix = f"{root}/{repo}/resolve/"
            if path.startswith(prefix):
                name = path[len(prefix):].partition("/")[2]
                if name not in files:
                    return 404, {"X-Error-Code": "EntryNotFound"}, {}
                etag = hashlib.sha256(files[name]).hexdigest()
                return 200, {"X-Repo-Commit": self.commit, "ETag": f'"{etag}"'}, files[name]
        if path == "/api/repos/create":
            body = request.json()
            name = f"{body.get('organization') or 'user'}/{body['name']}"
            return 200, {}, {"url": f"{self.endpoint}/{name}", "name": name, "id": "1"}
        if path == "/api/validate-yaml":  # the Hub checks the model card's metadata block
            return 200, {}, {"errors": [], "warnings": []}
        if "/preupload/" in path:
            files = request.json()["files"]
            return 200, {}, {"files": [{"path": f["path"], "uploadMode": "regular",
                                        "shouldIgnore": False} for f in files]}
        if "/commit/" in path:
            repo = path.removeprefix("/api/models/").split("/commit/")[0]
            return 200, {}, {"commitUrl": f"{self.endpoint}/{repo}/commit/{'c' * 40}",
                             "commitOid": "c" * 40, "success": True}
        if "/branch/" in path:
            return 200, {}, {}
        return 404, {"X-Error-Code": "RepoNotFound",
                     "X-Error-Message": "Repository not found"}, {"error": "not found"}
