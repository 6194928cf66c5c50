"""Pick a model from a server's list by the parameter count in its name and the free VRAM.

Pure. Names are what servers list: ``qwen2.5-coder:7b`` (Ollama), ``llama-3.1-70b-instruct-q4``,
``Qwen2.5-Coder-32B-Instruct``, ``mixtral-8x7b``, ``/models/llama-2-13b.Q4_K_M.gguf`` (llama.cpp)
or ``smollm2-135m``. A size written right after a letter (``a3b``, ``e4b``: active or effective
parameters) is not the model's size. The memory estimate assumes 4-bit weights plus overhead.
"""

from __future__ import annotations

__all__ = ["fits", "parameter_count", "pick_model"]

import re
from collections.abc import Sequence

_SIZE = re.compile(r"(?<![a-z0-9.])(?:(\d+)x)?(\d+(?:\.\d+)?)([bm])(?![a-z0-9])")
_BYTES_PER_PARAM = 0.5  # 4-bit weights
_OVERHEAD = 1.2  # KV cache, activations, runtime
_NOT_CHAT = ("embed", "rerank", "whisper")


def parameter_count(name: str) -> float | None:
    """Billions of parameters named in ``name`` (the largest mention), or None."""
    found: list[float] = []
    for experts, size, unit in _SIZE.findall(name.lower()):
        value = float(size) * (int(experts) if experts else 1)
        found.append(value if unit == "b" else value / 1000)
    return max(found) if found else None


def fits(billions: float, free_bytes: int) -> bool:
    """Whether a model of ``billions`` parameters at 4 bits fits in ``free_bytes``."""
    return billions * 1e9 * _BYTES_PER_PARAM * _OVERHEAD <= free_bytes


def pick_model(names: Sequence[str], free_vram_bytes: int | None) -> str | None:
    """The largest chat model that fits the free VRAM; the first listed when none is known.

    Embedding and reranking models are passed over while there is anything else. When no GPU
    is known, or no named size fits, the server's first model is the answer: it is usually
    the one loaded, and the server may well run it on another machine or on the CPU.
    """
    chat = [n for n in names if not any(word in n.lower() for word in _NOT_CHAT)] or list(names)
    if not chat:
        return None
    if free_vram_bytes is None:
        return chat[0]
    best: tuple[float, str] | None = None
    for name in chat:
        size = parameter_count(name)
        if size is not None and fits(size, free_vram_bytes) and (best is None or size > best[0]):
            best = (size, name)
    return best[1] if best else chat[0]
