"""The model picker: parameter counts read from the names servers list, and the VRAM fit."""

from __future__ import annotations

import pytest

from phoenix_engine.llm._models import fits, parameter_count, pick_model

GB = 1_000_000_000


@pytest.mark.parametrize(
    ("name", "billions"),
    [
        ("qwen2.5-coder:7b", 7),
        ("llama-3.1-70b-instruct-q4", 70),
        ("Qwen2.5-Coder-32B-Instruct", 32),
        ("deepseek-r1:1.5b", 1.5),
        ("llama3:8b-instruct-q4_0", 8),
        ("/models/llama-2-13b.Q4_K_M.gguf", 13),
        ("mixtral-8x7b-instruct", 56),
        ("qwen3-30b-a3b", 30),  # a3b: active parameters, not the size
        ("smollm2-135m", 0.135),
        ("gpt-oss-20b", 20),
        ("phi3:3.8b", 3.8),
        ("gemma-3n-e4b", None),  # effective size only: unknown
        ("local-model", None),
        ("phi3", None),
    ],
)
def test_parameter_count(name: str, billions: float | None) -> None:
    count = parameter_count(name)
    assert count == (None if billions is None else pytest.approx(billions))


def test_four_bit_estimate() -> None:
    assert fits(7, 5 * GB) and not fits(7, 4 * GB)
    assert fits(70, 48 * GB) and not fits(70, 40 * GB)


@pytest.mark.parametrize(
    ("names", "free", "expected"),
    [
        (["a-7b", "b-13b", "c-70b"], 10 * GB, "b-13b"),
        (["c-70b", "a-7b"], None, "c-70b"),
        (["nomic-embed-text", "bge-reranker", "x"], None, "x"),
        (["nomic-embed-text"], 10 * GB, "nomic-embed-text"),
        (["mystery", "tiny-1b"], 100 * GB, "tiny-1b"),
        (["mystery", "c-70b"], 1 * GB, "mystery"),
        ([], 10 * GB, None),
    ],
)
def test_pick_model(names: list[str], free: int | None, expected: str | None) -> None:
    assert pick_model(names, free) == expected
