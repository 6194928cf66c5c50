"""LLM providers: one thin module per transport, plus the failover chain.

Every provider turns a :class:`RepairRequest` into the model's raw reply text, or raises
:class:`~phoenix_engine.errors.ProviderError` with a reason a person understands.
"""

from __future__ import annotations

from phoenix_engine.llm._base import Provider, RepairRequest

__all__ = ["Provider", "RepairRequest"]
