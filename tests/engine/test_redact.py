"""Redaction: known values and token shapes never survive."""

from __future__ import annotations

import pytest

from phoenix_engine.redact import MASK, Redactor

ENV = {
    "GEMINI_API_KEY": "gm-very-secret-123",
    "HF_TOKEN": "hf_abcdefghijklmnopqrstuvwxyz012345",
    "DB_PASSWORD": "hunter2hunter2",
    "PHOENIX_DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/42/tok-en_value",
    "MY_CLIENT_SECRET": "s3cr3t-value",
    "PATH": "/usr/bin:/bin",
    "SHORT_TOKEN": "1",
}


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("key=gm-very-secret-123 done", "gm-very-secret-123"),
        ("login with hunter2hunter2", "hunter2hunter2"),
        ("posting to https://discord.com/api/webhooks/42/tok-en_value now", "tok-en_value"),
        ("cs=s3cr3t-value", "s3cr3t-value"),
        (
            "google AIzaSyDUMMYdummyDUMMYdummyDUMMYdummy123 x",
            "AIzaSyDUMMYdummyDUMMYdummyDUMMYdummy123",
        ),
        ("openai sk-proj-ABCDEFGHIJKLMNOPQRSTUV123", "sk-proj-ABCDEFGHIJKLMNOPQRSTUV123"),
        ("hub hf_ZYXWVUTSRQPONMLKJIHGFEDCBA98 y", "hf_ZYXWVUTSRQPONMLKJIHGFEDCBA98"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        (
            "Authorization: Bot MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz12",
            "GAbCdE",
        ),
        (
            "token MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz12 leaked",
            "abcdefghijklmnopqrstuvwxyz12",
        ),
        ("https://discord.com/api/webhooks/99/other-token", "other-token"),
        ("GET /v1?key=AIzaXY&alt=sse", "AIzaXY"),
        ("x-goog-api-key: whatever-it-is", "whatever-it-is"),
    ],
)
def test_secrets_are_masked(text: str, secret: str) -> None:
    redactor = Redactor.from_env(ENV)
    out = redactor.redact(text)
    assert secret not in out
    assert MASK in out


def test_harmless_text_and_short_values_are_left_alone() -> None:
    redactor = Redactor.from_env(ENV)
    text = "step 1 loss 0.5 /usr/bin:/bin skipping 1 batch"
    assert redactor.redact(text) == text


def test_labels_stay_readable() -> None:
    out = Redactor().redact("Authorization: Bearer abcdefghijklmnopqrstuvwxyz")
    assert out == f"Authorization: Bearer {MASK}"


def test_nested_objects_and_bytes() -> None:
    redactor = Redactor.from_env(ENV)
    data = {"a": ["hunter2hunter2", {"b": "x gm-very-secret-123"}], "n": 3}
    assert redactor.redact_obj(data) == {"a": [MASK, {"b": f"x {MASK}"}], "n": 3}
    assert redactor.redact_bytes(b"pw hunter2hunter2\n") == f"pw {MASK}\n".encode()


def test_known_bytes_fast_path_masks_values_and_leaves_clean_chunks_identical() -> None:
    redactor = Redactor.from_env(ENV, extra=["extra-secret-value"])
    clean = b"step 10 loss 0.1\n" * 100
    assert redactor.redact_known_bytes(clean) is clean
    dirty = b"env HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz012345 and extra-secret-value\n"
    out = redactor.redact_known_bytes(dirty)
    assert b"hf_abc" not in out and b"extra-secret-value" not in out
    assert Redactor().redact_known_bytes(dirty) == dirty  # no known values: untouched
