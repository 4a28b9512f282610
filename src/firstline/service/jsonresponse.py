"""``FastJSONResponse``: Starlette's ``JSONResponse`` written by :mod:`firstline.jsoncodec` (the same compact
UTF-8 document, a few times faster for the replies, conversations and lists every client reads)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from firstline import jsoncodec

__all__ = ["FastJSONResponse"]


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return jsoncodec.dumps_bytes(content)
