"""The ``Dockerfile``, read instruction by instruction (no image can be built here: no registry access).

What can be checked without building: the base image and torch pin agree with ``pyproject.toml``, the
package is installed from the source tree, the process runs as a non-root user with its data under
``/var/lib/firstline``, the entrypoint is ``firstline serve`` on every interface, every ``FIRSTLINE_*``
variable is a real setting, ``.dockerignore`` lets in exactly what the ``COPY`` lines need, and the
``HEALTHCHECK`` command (run here, against a small HTTP server) passes on ``/ready`` = 200 and fails
on 503. compose.yaml's health check for the same container is run the same way.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from typer.testing import CliRunner

from firstline.cli.main import app


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        joined.append(pending)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in joined]


@pytest.fixture(scope="module")
def dockerfile(repo: Path) -> list[tuple[str, str]]:
    return instructions(repo / "Dockerfile")


def _all(dockerfile: list[tuple[str, str]], kind: str) -> list[str]:
    return [args for instruction, args in dockerfile if instruction == kind]


def _env(dockerfile: list[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for args in _all(dockerfile, "ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            found[key] = value
    return found


def test_image_matches_the_project(dockerfile: list[tuple[str, str]], repo: Path) -> None:
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    args = dict(a.split("=", 1) for a in _all(dockerfile, "ARG") if "=" in a)
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    assert project["requires-python"] == ">=3.11"
    assert _all(dockerfile, "FROM") == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    # torch is pinned to a version pyproject allows, from the CPU-only index.
    torch = next(Requirement(r) for r in project["dependencies"] if r.startswith("torch"))
    assert args["TORCH_VERSION"] in torch.specifier
    runs = " ".join(_all(dockerfile, "RUN"))
    assert '--index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"' in runs
    assert args["TORCH_INDEX_URL"].endswith("/cpu")
    assert "pip install ." in runs
    # COPY brings what `pip install .` needs; .dockerignore lets exactly that in.
    copied = {Path(p).name for args in _all(dockerfile, "COPY") if "--from" not in args for p in args.split()[:-1]}
    assert copied == {"pyproject.toml", "README.md", "src"}
    assert project["readme"] == "README.md"
    rules = (repo / ".dockerignore").read_text().splitlines()
    assert {r.removeprefix("!").rstrip("/") for r in rules if r.startswith("!")} == copied
    assert "*" in rules


def test_runs_as_a_user_with_its_data_in_one_volume(
    dockerfile: list[tuple[str, str]], name_problem: Callable[[str], str | None]
) -> None:
    [user] = _all(dockerfile, "USER")
    assert user == "10001:10001"
    assert "--uid 10001" in " ".join(_all(dockerfile, "RUN"))
    env = _env(dockerfile)
    assert env["FIRSTLINE_DATA_DIR"] == "/var/lib/firstline"
    assert json.loads(_all(dockerfile, "VOLUME")[0]) == ["/var/lib/firstline"]
    assert env["HF_HUB_OFFLINE"] == "1"
    assert [name_problem(n) for n in env if n.startswith("FIRSTLINE_")] == [None] * 2


def test_entrypoint_serves_on_every_interface(dockerfile: list[tuple[str, str]], repo: Path) -> None:
    assert json.loads(_all(dockerfile, "ENTRYPOINT")[0]) == ["firstline", "serve"]
    assert json.loads(_all(dockerfile, "CMD")[0]) == ["--host", "0.0.0.0"]
    scripts = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["firstline"] == "firstline.cli.main:app"
    help_text = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    assert "--host" in help_text
    assert _all(dockerfile, "EXPOSE") == [_env(dockerfile)["FIRSTLINE_SERVICE__PORT"]]


class _Ready(BaseHTTPRequestHandler):
    status = 503
    paths: list[str] = []  # noqa: RUF012  (class-level on purpose: the tests read what was asked)

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        self.send_response(self.status if self.path == "/ready" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def ready_server() -> Iterator[tuple[int, type[_Ready]]]:
    handler = type("Ready", (_Ready,), {"paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _probe(argv: list[str], env: dict[str, str] | None = None) -> int:
    assert argv[0] in ("python", "python3")
    done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, env=env, timeout=30, check=False)
    return done.returncode


def test_the_image_health_check_follows_ready(
    dockerfile: list[tuple[str, str]], ready_server: tuple[int, type[_Ready]]
) -> None:
    port, handler = ready_server
    [health] = _all(dockerfile, "HEALTHCHECK")
    argv = json.loads(health.split("CMD", 1)[1])
    env = {"FIRSTLINE_SERVICE__PORT": str(port)}
    handler.status = 503
    assert _probe(argv, env) != 0
    handler.status = 200
    assert _probe(argv, env) == 0
    assert handler.paths == ["/ready", "/ready"]


def test_the_compose_health_check_follows_ready(repo: Path, ready_server: tuple[int, type[_Ready]]) -> None:
    port, handler = ready_server
    test = yaml.safe_load((repo / "compose.yaml").read_text())["services"]["firstline"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    argv = [part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in test[1:]]
    handler.status = 503
    assert _probe(argv) != 0
    handler.status = 200
    assert _probe(argv) == 0
    assert handler.paths == ["/ready", "/ready"]
