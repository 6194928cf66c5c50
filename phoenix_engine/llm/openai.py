"""Any OpenAI-compatible server (llama.cpp, vLLM, LM Studio, Ollama) via /v1/chat/completions.

The model is ``PHOENIX_FALLBACK_LLM_MODEL``, or picked once from ``GET /v1/models``: the
largest that fits the free VRAM (see ``_models``). Servers disagree on ``response_format``, so
a JSON reply is asked for down a ladder (``json_schema``, ``json_object``, none) and the rung
that worked is remembered for later calls. A llama.cpp server rejects ``json_schema`` with a
500, so a 4xx/5xx that mentions the format, or any 400/422/500 to a ``json_schema`` request
not yet known to work, moves one rung down and asks again at once, inside the same deadline.
"""

from __future__ import annotations

__all__ = ["LADDER", "OpenAICompat", "models_url"]

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from phoenix_engine.errors import ProviderError
from phoenix_engine.llm._base import RepairRequest
from phoenix_engine.llm._http import (
    MAX_REPLY_BYTES,
    HttpReply,
    deadline,
    decode_json,
    error_reason,
    make_client,
    one_line,
    send,
    server_message,
)
from phoenix_engine.llm._models import pick_model

LADDER = ("json_schema", "json_object", "none")
_BLIND_STEP = frozenset({400, 422, 500})  # what llama.cpp, vLLM and FastAPI say to a bad format
_FORMAT_WORDS = ("response_format", "json_schema", "json_object")
_THINK = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)  # reasoning models inline it
_ANY_OBJECT: Mapping[str, Any] = {"type": "object"}


def models_url(chat_url: str) -> str:
    """``.../v1/chat/completions`` -> ``.../v1/models`` (``/v1/models`` for any other path)."""
    parts = urlsplit(chat_url)
    path = parts.path.rstrip("/")
    suffix = "/chat/completions"
    path = path[: -len(suffix)] + "/models" if path.endswith(suffix) else "/v1/models"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class OpenAICompat:
    """Chat completions against one server; remembers the model and the working format."""

    def __init__(
        self,
        *,
        url: str,
        model: str = "",
        timeout_s: float = 180.0,
        api_key: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
        free_vram_bytes: Callable[[], int | None] = lambda: None,
        json_schema: Mapping[str, Any] = _ANY_OBJECT,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self.name = "openai"
        self.url = url
        self.model = model.strip()  # empty until picked from /v1/models
        self._timeout_s = timeout_s
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._transport = transport
        self._free_vram = free_vram_bytes
        self._schema = dict(json_schema)
        self._cap = max_reply_bytes
        self._rung = 0
        self._confirmed = False  # the current rung has been answered with a 200

    def __repr__(self) -> str:
        return f"OpenAICompat(url={self.url!r}, model={self.model!r})"

    @property
    def response_format(self) -> str:
        """The rung of the ladder the next JSON request uses."""
        return LADDER[self._rung]

    async def complete(self, request: RepairRequest) -> str:
        async with (
            deadline(self.name, self._timeout_s),
            make_client(self._transport, self._timeout_s) as client,
        ):
            model = self.model or await self._pick(client)
            return await self._chat(client, model, request)

    async def _pick(self, client: httpx.AsyncClient) -> str:
        url = models_url(self.url)
        reply = await send(client, self.name, "GET", url, headers=self._headers)
        if not reply.ok:
            said = error_reason(reply)
            raise ProviderError(self.name, f"no model set and GET {url} failed ({said})")
        names = _model_names(decode_json(reply, self.name))
        chosen = pick_model(names, await asyncio.to_thread(self._free_vram))
        if chosen is None:
            raise ProviderError(self.name, f"no model set and {url} lists none")
        self.model = chosen
        return chosen

    async def _chat(self, client: httpx.AsyncClient, model: str, request: RepairRequest) -> str:
        while True:
            rung = LADDER[self._rung] if request.reply_format == "json" else "none"
            body = self._body(model, request.prompt, rung)
            reply = await send(
                client, self.name, "POST", self.url, body=body, headers=self._headers, cap=self._cap
            )
            if reply.ok:
                self._confirmed = True
                return _reply_text(decode_json(reply, self.name), self.name)
            if not self._step_down(rung, reply):
                raise ProviderError(self.name, error_reason(reply))

    def _step_down(self, rung: str, reply: HttpReply) -> bool:
        """Move one rung down when the server refused the format; say whether it did."""
        if rung == "none" or reply.status < 400:
            return False
        said = reply.body.decode("utf-8", "replace").lower()
        mentioned = any(word in said for word in _FORMAT_WORDS)
        blind = rung == "json_schema" and not self._confirmed and reply.status in _BLIND_STEP
        if not (mentioned or blind):
            return False
        self._rung += 1
        self._confirmed = False
        return True

    def _body(self, model: str, prompt: str, rung: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": False,
        }
        if rung == "json_schema":
            schema = {"name": "phoenix_repair", "schema": self._schema, "strict": False}
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif rung == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body


def _model_names(data: Any) -> list[str]:
    """Model ids from OpenAI's ``data`` list, or the ``models`` list of llama.cpp and Ollama."""
    if not isinstance(data, dict):
        return []
    listed = data.get("data") or data.get("models") or []
    names = [_entry_name(entry) for entry in listed] if isinstance(listed, list) else []
    return [name for name in names if name]


def _entry_name(entry: Any) -> str:
    if isinstance(entry, dict):
        entry = entry.get("id") or entry.get("model") or entry.get("name")
    return entry if isinstance(entry, str) else ""


def _reply_text(data: Any, name: str) -> str:
    """The first choice's content, reasoning removed; a cut or empty reply raises."""
    choices = data.get("choices") if isinstance(data, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(first, dict):
        said = one_line(server_message(data), 120)
        raise ProviderError(name, "reply has no choices" + (f" (error: {said})" if said else ""))
    if first.get("finish_reason") == "length":
        raise ProviderError(name, "reply truncated (finish_reason length)")
    message = first.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    text = _THINK.sub("", content) if isinstance(content, str) else ""
    if not text.strip():
        raise ProviderError(name, "empty reply")
    return text
