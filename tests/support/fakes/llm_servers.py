"""The LLM fakes: apps for the loopback server (``fakes.loopback``) that speak both wire formats.

A handler maps each request to an action: a reply, a connection dropped mid-body, a hang, or a
huge body streamed until the client gives up. ``OpenAIApp`` serves ``GET /v1/models`` and
``POST /v1/chat/completions`` (optionally refusing some ``response_format`` types the way
llama.cpp does); ``GeminiApp`` serves ``POST /v1beta/models/{model}:generateContent``.
The server and its actions are re-exported here, where the LLM tests have always found them.
"""

from __future__ import annotations

__all__ = [
    "Action",
    "Drop",
    "GeminiApp",
    "Handler",
    "Hang",
    "Huge",
    "LoopbackServer",
    "OpenAIApp",
    "Reply",
    "Seen",
    "json_reply",
]

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fakes.loopback import (
    Action,
    Drop,
    Handler,
    Hang,
    Huge,
    LoopbackServer,
    Reply,
    Seen,
    json_reply,
)


def _completion(text: str, finish: str = "stop") -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {"object": "chat.completion", "choices": [{"message": message, "finish_reason": finish}]}


@dataclass(slots=True, kw_only=True)
class OpenAIApp:
    """An OpenAI-compatible server; ``reject`` maps a response_format type to a refusal."""

    models: Sequence[str] = ("local-model",)
    reply: str = '{"patches": []}'
    reject: dict[str, Reply] = field(default_factory=dict)

    def __call__(self, seen: Seen) -> Action:
        if seen.method == "GET" and seen.path == "/v1/models":
            data = [{"id": name, "object": "model"} for name in self.models]
            return json_reply({"object": "list", "data": data})
        if seen.method == "POST" and seen.path == "/v1/chat/completions":
            kind = (seen.json.get("response_format") or {}).get("type", "none")
            return self.reject.get(kind) or json_reply(_completion(self.reply))
        return json_reply({"error": {"message": f"no route {seen.path}"}}, 404)


@dataclass(slots=True, kw_only=True)
class GeminiApp:
    """Gemini's generateContent, with a thought part before the answer."""

    model: str = "gemini-flash-latest"
    reply: str = '{"patches": []}'

    def __call__(self, seen: Seen) -> Action:
        if seen.method == "POST" and seen.path == f"/v1beta/models/{self.model}:generateContent":
            parts = [{"text": "thinking...", "thought": True}, {"text": self.reply}]
            candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}
            return json_reply({"candidates": [candidate]})
        return json_reply({"error": {"code": 404, "message": "not found"}}, 404)
