"""Tools: typed functions a model may call. The JSON schema comes from the signature and docstring.

    @tool(risk="write")
    def unlock_account(ctx: RunContext, username: str) -> str:
        '''Unlock a directory account that is locked after failed sign-ins.

        Args:
            username: the account's username, e.g. "j.okafor".
        '''

The summary (the docstring's first paragraph, on one line) and the ``Args:`` descriptions are what
the model reads: write them for the model, briefly, since every call of the agent sends them. Later
paragraphs are notes for people and are not sent. A first parameter annotated ``RunContext``
receives the run's context and is not part of the schema. Arguments are validated with pydantic
before the function runs; a validation error goes back to the model as a message it can correct
(bounded by the runner).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints, overload

from pydantic import ConfigDict, ValidationError, create_model

from firstline.errors import ToolRetry
from firstline.llm.messages import ToolSpec

__all__ = ["Offered", "Risk", "Tool", "compact_schema", "tool"]

Risk = Literal["read", "write", "destructive"]
Offered = Literal["always", "unverified"]


@dataclass(frozen=True)
class Tool:
    """A callable the model may ask for, with its schema and its risk.

    * ``read`` — looks something up; runs freely.
    * ``write`` — changes state; runs only once the requester's identity is verified.
    * ``destructive`` — hard to undo (wipe, remote lock, MFA reset, access grant); runs only
      after a human approves it.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    risk: Risk = "read"
    takes_context: bool = False
    _model: Any = field(default=None, repr=False, compare=False)
    # When a model is offered the tool (see agents.prompting): always, or only while the requester's identity is
    # unverified (the identity check's own tools); and for which intents of the conversation's topic (None: all).
    offered: Offered = "always"
    intents: tuple[str, ...] | None = None

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Arguments checked and converted; raises ``ToolRetry`` explaining what to fix."""
        try:
            parsed = self._model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise ToolRetry(
                f"Invalid arguments for {self.name}: {problems}. Call it again with corrected arguments."
            ) from exc
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}

    async def invoke(self, context: Any, arguments: dict[str, Any]) -> Any:
        values = self.validate(arguments)
        result = self.function(context, **values) if self.takes_context else self.function(**values)
        if inspect.isawaitable(result):
            result = await result
        return result


_ARGS = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$", re.M)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    doc = inspect.cleandoc(doc or "")
    match = _ARGS.search(doc)
    summary = (doc[: match.start()] if match else doc).strip()
    descriptions: dict[str, str] = {}
    if match:
        current = None
        for line in doc[match.end() :].splitlines():
            if not line.strip():
                continue
            item = re.match(r"^\s{2,}(\w+)\s*(\([^)]*\))?:\s*(.*)$", line)
            if item and (current is None or len(line) - len(line.lstrip()) <= 8):
                current = item.group(1)
                descriptions[current] = item.group(3).strip()
            elif current and line.startswith(" "):
                descriptions[current] += " " + line.strip()
            else:
                break
    return summary, descriptions


def _build(function: Callable[..., Any], name: str | None, risk: Risk, offered: Offered = "always") -> Tool:
    from firstline.agents.context import RunContext

    signature = inspect.signature(function)
    hints = get_type_hints(function)
    summary, descriptions = _parse_docstring(function.__doc__ or "")
    if not summary:
        raise TypeError(f"tool {function.__name__} needs a docstring: its first lines are what the model reads")
    params = list(signature.parameters.values())
    takes_context = bool(params) and hints.get(params[0].name) is RunContext
    fields: dict[str, Any] = {}
    for param in params[1:] if takes_context else params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {function.__name__}: *args/**kwargs cannot be described to a model")
        annotation = hints.get(param.name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        from pydantic import Field

        fields[param.name] = (annotation, Field(default, description=descriptions.get(param.name)))
    model = create_model(f"{function.__name__}_args", __config__=ConfigDict(extra="forbid"), **fields)
    description = " ".join(summary.split("\n\n")[0].split())  # the first paragraph, on one line
    schema = compact_schema(model.model_json_schema())
    return Tool(name or function.__name__, description, schema, function, risk, takes_context, model, offered)


def _empty(value: Any) -> bool:
    """None, False, "", [] or {}: a default that says no more than leaving the argument out (0 says more)."""
    return value is None or value is False or (isinstance(value, (str, list, dict)) and not value)


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema without what a model does not need to read: titles, ``additionalProperties``
    (arguments are validated here, and an extra one comes back as a correction), ``anyOf [T, null]`` for an
    optional argument (left out means null), and empty defaults (an argument left out of ``required`` is
    optional). Meaningful defaults ("wipe", "black"), enums and descriptions stay."""
    schema = {k: v for k, v in schema.items() if k not in ("title", "additionalProperties")}
    required = set(schema.get("required", ()))
    properties = {}
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        if "default" in prop and _empty(prop["default"]):
            del prop["default"]
        options = prop.get("anyOf")
        if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
            (kept,) = [o for o in options if o != {"type": "null"}]
            if set(kept) == {"type"} and isinstance(kept["type"], str):
                del prop["anyOf"]
                prop = {"type": kept["type"] if name not in required else [kept["type"], "null"], **prop}
        properties[name] = prop
    if "properties" in schema:
        schema["properties"] = properties
    return schema


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, risk: Risk = "read", offered: Offered = "always"
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    risk: Risk = "read",
    offered: Offered = "always",
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a typed, documented function (sync or async) into a :class:`Tool`."""
    if function is not None:
        return _build(function, name, risk, offered)

    def decorate(fn: Callable[..., Any]) -> Tool:
        return _build(fn, name, risk, offered)

    return decorate
