"""Check requests and answers against a vendor's published OpenAPI description, with ``openapi-core``.

The loopback fakes of ServiceNow and Jira call :meth:`SpecCheck.request` on every request a
connector sends (a request the spec does not allow becomes a :class:`ShapeViolation`, which the
fake answers with 422 and records) and :meth:`SpecCheck.response` on every answer they give, so a
fake cannot drift from the vendor either. The specs live in ``../shared/specs`` (see its
README); they are read from there, never copied into the project.

The vendors' own files are used as published, so the spec-of-the-spec check is off: Atlassian's
JSM description repeats an operation id, which ``openapi-core`` would otherwise refuse.
"""

from __future__ import annotations

import json
import os
import warnings
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from firstline.testing.loopback import Request, ShapeViolation

__all__ = ["SPECS", "SpecCheck", "spec_path", "specs_available"]

# ../shared/specs beside the repository (src/firstline/testing/ -> repository root -> its parent).
SPECS = Path(os.environ.get("FIRSTLINE_SHARED_SPECS", Path(__file__).resolve().parents[3].parent / "shared" / "specs"))


def spec_path(*parts: str) -> Path:
    """A file under the shared specs folder (``FIRSTLINE_SHARED_SPECS`` moves it)."""
    return SPECS.joinpath(*parts)


def specs_available() -> bool:
    """Whether the vendor specs are there; tests that need them skip with this reason when not."""
    return SPECS.is_dir()


@cache
def _load(path: Path) -> OpenAPI:
    config = Config(spec_validator_cls=None)
    if path.suffix == ".json":  # from a dict: Jira's 2.3 MB file loads in 0.06 s instead of 3 s
        return OpenAPI.from_dict(json.loads(path.read_text(encoding="utf-8")), config=config)
    return OpenAPI.from_file_path(str(path), config=config)  # YAML: its own loader keeps status codes as text


class SpecCheck:
    """Validates loopback requests and answers against the OpenAPI file ``path``.

    ``host_url`` is the spec's server URL the fake stands for (``https://your-domain.atlassian.net``);
    ``strip`` is a path prefix the spec's paths leave out (``/api`` for ServiceNow's ``/now/table/...``).
    """

    def __init__(self, path: Path, host_url: str, *, strip: str = "") -> None:
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: the vendor specs live in ../shared/specs")
        self.api = _load(path)
        self.host_url = host_url
        self.strip = strip
        self.checked = 0

    def _mock(self, request: Request) -> MockRequest:
        parts = urlsplit(request.path)
        path = parts.path.removeprefix(self.strip) if self.strip else parts.path
        args = dict(parse_qsl(parts.query, keep_blank_values=True))
        content_type = request.headers.get("content-type", "application/json").split(";")[0]
        return MockRequest(
            self.host_url,
            request.method.lower(),
            path,
            args=args,
            headers=request.headers,
            data=request.raw or None,
            content_type=content_type,
        )

    def request(self, request: Request) -> None:
        """Raise :class:`ShapeViolation` when the spec does not allow ``request``."""
        with warnings.catch_warnings():  # "Unsupported scheme type": a security scheme openapi-core cannot check
            warnings.simplefilter("ignore", UserWarning)
            result = self.api.unmarshal_request(self._mock(request))
        self.checked += 1
        if result.errors:
            raise ShapeViolation(f"{request.method} {request.path}: " + "; ".join(map(_describe, result.errors)))

    def response(self, request: Request, status: int, body: object, content_type: str = "application/json") -> None:
        """Raise ``AssertionError`` when the fake's own answer breaks the spec (a bug in the fake)."""
        data = b"" if body is None else json.dumps(body).encode()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = self.api.unmarshal_response(
                self._mock(request), MockResponse(data, status, content_type=content_type)
            )
        if result.errors:
            raise AssertionError(
                f"fake answer to {request.method} {request.path} ({status}) breaks the spec: "
                + "; ".join(map(_describe, result.errors))
            )


def _describe(error: Exception) -> str:
    detail = getattr(error, "schema_errors", None)
    if detail:
        return f"{error}: " + "; ".join(str(getattr(e, "message", e)) for e in detail)
    cause = error.__cause__
    return f"{error}" + (f" ({cause})" if cause else "")
