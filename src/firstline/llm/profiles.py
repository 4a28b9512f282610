"""What differs between OpenAI-compatible servers and hosts, as named presets (never guessed from model names).

A :class:`ModelProfile` says which request fields a server accepts and how it wants structured
output; :class:`~firstline.llm.openai_compat.OpenAICompatModel` builds every request through it.
Users pick a preset per endpoint in ``firstline.toml`` and override single fields.

Facts encoded here (from the servers' documentation and published API specs):

* TGI has no ``parallel_tool_calls`` field, and its structured output is
  ``response_format: {"type": "json", "value": <schema>}`` (``../shared/specs/tgi``).
* vLLM takes ``response_format: {"type": "json_schema", ...}`` (or ``structured_outputs`` in the
  body); the old ``guided_json`` / ``guided_*`` fields are silently ignored since v0.12, so they are
  never sent.
* Tool-call arguments arrive as a JSON string from most servers and as an object from some
  (Ollama); both are accepted everywhere.
* Some hosts reject ``logprobs``, ``logit_bias`` or ``n > 1`` (Groq, several Fireworks and
  OpenRouter routes): those fields are dropped for them.
* llama-cpp-python's server rejects ``content: null`` on an assistant message with tool calls (it
  gets an empty string), and cannot stream a reply when tools are offered with ``tool_choice:
  "auto"`` (such a call is made without streaming; its time to first token is the whole call).
* Reasoning text arrives as ``reasoning_content`` (vLLM, SGLang, DeepSeek) or ``reasoning``
  (OpenRouter, Ollama); it is kept apart from the reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from firstline.errors import ConfigError

__all__ = ["PRESETS", "ModelProfile", "profile"]

StructuredOutput = Literal["json_schema", "tgi_json", "json_object", "none"]


@dataclass(frozen=True)
class ModelProfile:
    """How to talk to one kind of server or host."""

    name: str
    base_url: str | None = None  # the host's public endpoint; self-hosted presets have none
    needs_api_key: bool = False
    parallel_tool_calls: bool = True  # send `parallel_tool_calls` with tools
    structured_output: StructuredOutput = "json_schema"
    stream_usage: bool = True  # accepts stream_options.include_usage
    accepts_logprobs: bool = True
    accepts_logit_bias: bool = True
    accepts_n: bool = True
    reasoning_fields: tuple[str, ...] = ("reasoning_content", "reasoning")
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    null_assistant_content: bool = True  # `content: null` beside tool calls; llama-cpp-python wants ""
    stream_with_tools: bool = True  # llama-cpp-python cannot stream when tool_choice is "auto"
    extra_body: dict[str, Any] = field(default_factory=dict)

    def with_overrides(self, **overrides: Any) -> ModelProfile:
        unknown = set(overrides) - set(self.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"Unknown model profile field(s) {sorted(unknown)}; known: {sorted(self.__dataclass_fields__)}"
            )
        if "reasoning_fields" in overrides:
            overrides["reasoning_fields"] = tuple(overrides["reasoning_fields"])
        return replace(self, **overrides)


PRESETS: dict[str, ModelProfile] = {
    "vllm": ModelProfile("vllm"),
    "sglang": ModelProfile("sglang"),
    "tgi": ModelProfile("tgi", parallel_tool_calls=False, structured_output="tgi_json"),
    "llamacpp": ModelProfile(
        "llamacpp",
        parallel_tool_calls=False,
        structured_output="json_object",
        null_assistant_content=False,
        stream_with_tools=False,
    ),
    "ollama": ModelProfile("ollama", parallel_tool_calls=False, structured_output="json_object", accepts_n=False),
    "openai": ModelProfile(
        "openai", "https://api.openai.com/v1", needs_api_key=True, max_tokens_field="max_completion_tokens"
    ),
    "together": ModelProfile("together", "https://api.together.xyz/v1", needs_api_key=True),
    "fireworks": ModelProfile(
        "fireworks", "https://api.fireworks.ai/inference/v1", needs_api_key=True, accepts_logit_bias=False
    ),
    "deepinfra": ModelProfile("deepinfra", "https://api.deepinfra.com/v1/openai", needs_api_key=True),
    "groq": ModelProfile(
        "groq",
        "https://api.groq.com/openai/v1",
        needs_api_key=True,
        accepts_logprobs=False,
        accepts_logit_bias=False,
        accepts_n=False,
    ),
    "openrouter": ModelProfile(
        "openrouter",
        "https://openrouter.ai/api/v1",
        needs_api_key=True,
        accepts_logit_bias=False,
        accepts_n=False,
        reasoning_fields=("reasoning", "reasoning_content"),
    ),
}


def profile(preset: str, **overrides: Any) -> ModelProfile:
    """The preset ``preset`` with ``overrides`` applied; a clear error for an unknown preset."""
    try:
        base = PRESETS[preset]
    except KeyError:
        raise ConfigError(f"Unknown model preset {preset!r}; choose one of: {', '.join(PRESETS)}") from None
    return base.with_overrides(**overrides) if overrides else base
