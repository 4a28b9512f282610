"""``compose.yaml``: valid Compose, secrets only from the env file, and an environment Firstline accepts.

Validation is Docker Compose's own: ``docker-compose config`` (Debian's ``docker-compose`` package, the
Python implementation, which checks a file against its copy of the Compose specification's JSON schema
and interpolates ``${...}`` from ``--env-file``). It needs no Docker daemon. The compose plugin
(``docker compose``) is not packaged for Debian; the two accept the same file here.

On top of the schema, the tests check what the schema cannot: every ``FIRSTLINE_*`` name is a real
setting, the interpolated environment loads through :func:`firstline.settings.load_settings` with
several workers (so the scale checks pass: PostgreSQL, a vector-store server, Redis), and the addresses
in it point at the services and ports the file defines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from firstline.settings import load_settings
from firstline.testing.live import cannot_start

SECRETS = {
    "SECRET_KEY": "test-secret-key-4a1f0c9e7b",
    "POSTGRES_PASSWORD": "pg-password-5d2e8b",
    "REDIS_PASSWORD": "redis-password-9c3a71",
}
SECRET_WORDS = ("KEY", "PASSWORD", "TOKEN", "SECRET", "AUTH")


def _compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        cannot_start("docker-compose is not installed (Debian: apt-get install docker-compose)")
    return found


def run_config(repo: Path, folder: Path, env: dict[str, str], *options: str, file: Path | None = None) -> Any:
    """``docker-compose config`` on compose.yaml with ``env`` as its .env; the completed process."""
    env_file = folder / "test.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    command = [_compose(), "--env-file", str(env_file), "--project-directory", str(repo)]
    command += ["-f", str(file or repo / "compose.yaml"), *options, "config"]
    # Only PATH and HOME: interpolation must come from the env file, not from whoever runs the tests.
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder)}
    return subprocess.run(command, capture_output=True, text=True, env=clean, timeout=60, check=False)


def rendered(repo: Path, folder: Path, env: dict[str, str], *options: str) -> dict[str, Any]:
    done = run_config(repo, folder, env, *options)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


@pytest.fixture(scope="module")
def config(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return rendered(repo, tmp_path_factory.mktemp("compose"), SECRETS)


@pytest.fixture(scope="module")
def llm_config(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return rendered(repo, tmp_path_factory.mktemp("compose-llm"), {**SECRETS, "LLM_ENGINE": "llm"}, "--profile", "llm")


@pytest.fixture(scope="module")
def raw(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((repo / "compose.yaml").read_text())
    return data


def test_compose_file_is_valid_and_has_the_stack(config: dict[str, Any]) -> None:
    """`docker compose up` starts the services without a profile; vLLM only with `--profile llm`."""
    started = {name for name, service in config["services"].items() if not service.get("profiles")}
    assert started == {"proxy", "firstline", "postgres", "chroma", "redis"}
    assert config["services"]["vllm"]["profiles"] == ["llm"]
    assert config["services"]["postgres"]["image"].startswith("postgres:")
    assert config["services"]["redis"]["image"].startswith("redis:")
    assert config["services"]["chroma"]["image"].startswith("chromadb/chroma:")
    assert config["services"]["proxy"]["image"].startswith("caddy:")
    assert config["services"]["firstline"]["build"]["context"].rstrip("/") == str(Path(__file__).parents[2])


def test_the_validator_refuses_a_broken_file(repo: Path, tmp_path: Path) -> None:
    """The check above means something: the same validator refuses an option Compose does not have."""
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        (repo / "compose.yaml").read_text().replace("    init: true\n", "    init: true\n    workers: 2\n")
    )
    done = run_config(repo, tmp_path, SECRETS, file=broken)
    assert done.returncode != 0
    assert "workers" in done.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_the_stack_refuses_to_start_without_each_secret(repo: Path, tmp_path: Path, missing: str) -> None:
    done = run_config(repo, tmp_path, {k: v for k, v in SECRETS.items() if k != missing})
    assert done.returncode != 0
    assert f"set {missing} in .env" in done.stderr


def test_no_secret_is_written_in_the_file(repo: Path, raw: dict[str, Any], config: dict[str, Any]) -> None:
    text = (repo / "compose.yaml").read_text()
    for secret in SECRETS.values():
        assert secret not in text
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if any(word in key for word in SECRET_WORDS):
                assert value.startswith("${") and value.endswith("}"), f"{name}: {key} must come from .env"
            password = urlsplit(value).password if "://" in value else None
            if password is not None:
                assert password.startswith("${"), f"{name}: {key} holds a password"
    # ... and each secret reaches the services that need it, from the env file.
    env = config["services"]["firstline"]["environment"]
    assert env["FIRSTLINE_SECURITY__SECRET_KEY"] == SECRETS["SECRET_KEY"]
    assert env["FIRSTLINE_SCALE__REDIS_PASSWORD"] == SECRETS["REDIS_PASSWORD"]
    assert config["services"]["redis"]["environment"]["REDIS_PASSWORD"] == SECRETS["REDIS_PASSWORD"]
    assert config["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    rules = [line for line in (repo / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*" and not any(".env" in rule for rule in rules), ".env must stay out of the image"


def test_every_firstline_name_is_a_setting(repo: Path, name_problem: Callable[[str], str | None]) -> None:
    """Every name in the file, the commented Qdrant alternative included."""
    names = set(re.findall(r"\bFIRSTLINE_[A-Z0-9_]+", (repo / "compose.yaml").read_text()))
    assert len(names) >= 15
    problems = [p for p in map(name_problem, sorted(names)) if p]
    assert problems == []


def test_name_checker_refuses_misspelt_names(name_problem: Callable[[str], str | None]) -> None:
    """pydantic-settings ignores an unknown top-level FIRSTLINE_ name; the checker the test above uses does not."""
    assert name_problem("FIRSTLINE_SCALE__WORKERS") is None
    assert name_problem("FIRSTLINE_LLM__ENDPOINTS__ANY_NAME__BASE_URL") is None
    assert "no field 'wokers'" in (name_problem("FIRSTLINE_SCALE__WOKERS") or "")
    assert "no field 'typo'" in (name_problem("FIRSTLINE_TYPO") or "")
    assert "whole section" in (name_problem("FIRSTLINE_SCALE") or "")
    assert "plain value" in (name_problem("FIRSTLINE_SCALE__WORKERS__X") or "")


def _load(monkeypatch: pytest.MonkeyPatch, environment: dict[str, Any]) -> Any:
    for key, value in environment.items():
        if key.startswith("FIRSTLINE_"):
            monkeypatch.setenv(key, str(value))
    return load_settings()


def test_firstline_loads_the_environment_with_several_workers(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = config["services"]
    settings = _load(monkeypatch, services["firstline"]["environment"])
    # Several workers pass the scale checks: PostgreSQL, a vector-store server and Redis.
    assert settings.scale.workers == 2
    assert settings.knowledge.store == "chroma-server"
    database = urlsplit(settings.ticket_database_url)
    assert database.scheme == "postgresql+psycopg" and database.hostname in services
    assert database.username == services["postgres"]["environment"]["POSTGRES_USER"]
    assert database.password == SECRETS["POSTGRES_PASSWORD"]
    assert database.path.lstrip("/") == services["postgres"]["environment"]["POSTGRES_DB"]
    assert settings.directory_database_url == settings.ticket_database_url
    chroma = urlsplit(settings.knowledge.chroma_url)
    assert chroma.hostname in services
    command = services["chroma"]["command"]
    assert str(chroma.port) == command[command.index("--port") + 1]
    assert urlsplit(settings.scale.redis_url).hostname in services
    assert settings.security.secret_key.get_secret_value() == SECRETS["SECRET_KEY"]
    assert settings.scale.redis_password.get_secret_value() == SECRETS["REDIS_PASSWORD"]
    # Firstline believes X-Forwarded-* from the proxy's fixed address and nothing else.
    proxy_address = services["proxy"]["networks"]["edge"]["ipv4_address"]
    assert settings.service.trusted_proxies == [f"{proxy_address}/32"]
    assert settings.service.public_url == "https://localhost"
    assert settings.service.secure_cookies is True
    assert settings.service.seed_demo_accounts is False
    assert settings.llm.engine == "offline"


def test_the_llm_profile_points_firstline_at_vllm(llm_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    services = llm_config["services"]
    settings = _load(monkeypatch, services["firstline"]["environment"])
    assert settings.llm.engine == "llm"
    assert settings.llm.triage == ["vllm"] and settings.llm.specialist == ["vllm"]
    endpoint = settings.llm.endpoints["vllm"]
    assert endpoint.preset == "vllm"
    base = urlsplit(endpoint.base_url or "")
    vllm = services["vllm"]
    assert base.hostname == "vllm" and base.path == "/v1"
    assert str(base.port) == vllm["command"][vllm["command"].index("--port") + 1]
    assert endpoint.model == vllm["command"][vllm["command"].index("--served-model-name") + 1]
    assert "--enable-auto-tool-choice" in vllm["command"]  # Firstline's agents call tools
    assert vllm["profiles"] == ["llm"]
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    # Firstline does not wait for the model: the offline engine answers until vLLM does.
    assert "vllm" not in services["firstline"]["depends_on"]


def test_services_start_in_order_of_health(config: dict[str, Any]) -> None:
    services = config["services"]
    waits = services["firstline"]["depends_on"]
    assert {name: d["condition"] for name, d in waits.items()} == dict.fromkeys(
        ("postgres", "redis", "chroma"), "service_healthy"
    )
    assert services["proxy"]["depends_on"] == {"firstline": {"condition": "service_healthy"}}
    for name in ("firstline", "postgres", "redis", "chroma"):
        assert services[name]["healthcheck"]["test"], name
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])
    assert "/ready" in " ".join(services["firstline"]["healthcheck"]["test"])


def test_only_the_proxy_is_reachable_from_outside(config: dict[str, Any]) -> None:
    services = config["services"]
    assert [name for name, service in services.items() if service.get("ports")] == ["proxy"]
    assert config["networks"]["backend"]["internal"] is True
    for name in ("postgres", "redis", "chroma"):
        assert set(services[name]["networks"]) == {"backend"}, name
    assert set(services["proxy"]["networks"]) == {"edge"}
    edge = config["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    assert services["proxy"]["networks"]["edge"]["ipv4_address"].rsplit(".", 1)[0] == edge.rsplit(".", 1)[0]
