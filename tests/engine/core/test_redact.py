"""Redaction: known values and token shapes never survive."""

from __future__ import annotations

import pytest

from phoenix_engine.core.redact import MASK, Redactor, mask_userinfo

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


WEBHOOK_TOKEN = "Xy7" + "aB3_-cD9eF" * 6 + "Zq1w2"  # 68 characters, as Discord issues them


@pytest.mark.parametrize(
    ("text", "secret", "shown"),
    [
        (f"token {WEBHOOK_TOKEN} end", WEBHOOK_TOKEN, f"token {MASK} end"),
        (f'"{WEBHOOK_TOKEN}"', WEBHOOK_TOKEN, f'"{MASK}"'),
        ("url=https://bob:hunter2pass@llm.example/v1", "hunter2pass", "url=https://[REDACTED]@"),
        ("git https://ghtoken1234567890abcdef@github.com/x", "ghtoken1234567890abcdef", MASK),
    ],
)
def test_bare_webhook_tokens_and_url_userinfo_are_masked_by_shape(
    text: str, secret: str, shown: str
) -> None:
    out = Redactor().redact(text)
    assert secret not in out and shown in out
    assert Redactor().redact_lines([text]) == [out]


def test_shapes_do_not_eat_ordinary_long_words() -> None:
    text = "sha256 " + "ab12" * 16 + " and " + "x" * 69 + " loss=0.5 https://example.com/a@b"
    assert Redactor().redact(text) == text


def test_mask_userinfo_for_settings_shown_to_a_person() -> None:
    assert mask_userinfo("https://u:p@h/v1") == f"https://{MASK}@h/v1"
    assert mask_userinfo("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"


@pytest.mark.parametrize(
    "line",
    [
        "key=gm-very-secret-123",
        "AIzaSyDUMMYdummyDUMMYdummyDUMMYdummy123",
        "sk-proj-ABCDEFGHIJKLMNOPQRSTUV123",
        "hf_ZYXWVUTSRQPONMLKJIHGFEDCBA98",
        "ghp_" + "a" * 36,
        "https://discord.com/api/webhooks/99/other-token",
        "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz12",
        "Authorization: Bearer abcdefghijklmnopqrstuvwxyz",
        "Authorization: Bot abcdefghijklmnopqrstuvwxyz",
        "x-goog-api-key: whatever-it-is",
        "GET /v1?key=AIzaXY&alt=sse",
        f"webhook {WEBHOOK_TOKEN}",
        "https://bob:pw123@host",
    ],
)
def test_the_cheap_pre_check_never_misses_what_the_full_scan_masks(line: str) -> None:
    redactor = Redactor.from_env(ENV)
    assert redactor.redact(line) != line  # the full scan masks something here...
    clean = ["step 10 loss 0.1 lr 3e-4"] * 50
    assert redactor.might_hold_secret(line.encode())  # ...so the pre-check must say yes
    out = redactor.redact_lines([*clean, line, *clean])
    assert out[50] == redactor.redact(line) and out[:50] == clean


def test_clean_output_skips_the_full_scan() -> None:
    lines = [
        f"step {i}/1000 | loss {1 / (1 + i):.5f} | tokens={i * 7} {'x' * 40}" for i in range(100)
    ]
    redactor = Redactor.from_env(ENV)
    assert not redactor.might_hold_secret("\n".join(lines).encode())
    assert redactor.redact_lines(lines) == lines


def test_a_run_longer_than_a_webhook_token_is_not_one() -> None:
    redactor = Redactor()
    assert not redactor.might_hold_secret(b"000000001 " + b"x" * 88 + b"\n")
    assert redactor.might_hold_secret(b"000000001 " + WEBHOOK_TOKEN.encode() + b"\n")


def test_text_fields_of_an_event_are_redacted_and_a_clean_one_is_kept() -> None:
    from phoenix_engine import events as ev
    from phoenix_engine.core.redact import redact_fields

    redactor = Redactor.from_env(ENV)
    proposed = ev.PatchProposed(
        id="p1",
        provider="builtin",
        signature="s",
        paths=("train.py",),
        diff="-k = 'hunter2hunter2'",
    )
    clean = redact_fields(proposed, redactor.redact)
    assert clean.diff == f"-k = '{MASK}'" and clean.id == "p1" and clean.paths == ("train.py",)
    assert redact_fields(clean, redactor.redact) is clean
