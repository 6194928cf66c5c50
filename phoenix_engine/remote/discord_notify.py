"""The Discord webhook notifier: an event sink whose ``emit`` only queues, and its sender task.

Discord being down, slow or rate-limiting must never delay or fail the run, so ``emit`` renders
the milestone (redacted, cut to Discord's limits) into a bounded queue (``_discord_outbox``) and
returns; a full queue drops the oldest progress message first. :meth:`DiscordNotifier.run` sends
the queue in order, up to 10 embeds per message: a 429 waits what Discord asks (``retry_after``,
global or not), a 5xx or a timeout backs off exponentially, and a message still unsent after
``max_attempts`` is dropped with a ``notify_failed`` event. A 401/403/404 means the webhook is
wrong or gone: it is disabled with one event rather than hammered (Discord bans IPs that send
many failing requests). The webhook URL is a secret: no reason ever contains it. The message
that says the run ended (completed, gave up, stopped) carries the picture of the night
(``picture``, drawn in a thread) as a multipart upload, and shows it in its embed.
"""

from __future__ import annotations

__all__ = ["DiscordNotifier"]

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from phoenix_engine import events as ev
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.run_state import RunView
from phoenix_engine.remote._discord_http import Answer, exchange, transport_reason
from phoenix_engine.remote._discord_outbox import Item, Outbox
from phoenix_engine.remote.embeds import embed_for, fit, size, take

_DISABLING = {
    401: "the webhook token is not valid",
    403: "Discord forbids this webhook",
    404: "the webhook does not exist (deleted, or a wrong URL)",
}


_PICTURE = "night.png"
_FINAL = (ev.RunCompleted, ev.GaveUp, ev.Stopped)


class DiscordNotifier:
    """Milestones to a Discord webhook; ``emit`` never blocks and never raises."""

    def __init__(
        self,
        webhook_url: str,
        *,
        redactor: Redactor,
        emit: Callable[[ev.Event], None],
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_queue: int = 200,
        max_attempts: int = 6,
        backoff_s: float = 2.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 15.0,
        username: str = "Phoenix",
        picture: Callable[[], bytes] | None = None,
        picture_timeout_s: float = 30.0,
    ) -> None:
        token = webhook_url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        self._redactor = Redactor([*redactor.values, webhook_url, token])
        self._url = webhook_url + ("&" if "?" in webhook_url else "?") + "wait=true"
        self._report_to = emit
        self._transport, self._clock, self._sleep = transport, clock, sleep
        self._queue, self._max_attempts = Outbox(max_queue), max(max_attempts, 1)
        self._backoff_s, self._max_backoff_s, self._timeout_s = backoff_s, max_backoff_s, timeout_s
        self._username = username
        self._picture, self._picture_timeout_s = picture, picture_timeout_s
        self._view = RunView()
        self._wake = asyncio.Event()
        self._finished = asyncio.Event()
        self._runner: asyncio.Task[Any] | None = None
        self._closing = False
        self._inflight = 0
        self._failures = 0  # consecutive failed requests: the backoff survives a dropped message
        self._not_before = 0.0  # clock() time before which the bucket asks us not to send
        self.disabled = False
        self.sent = 0  # messages Discord accepted

    # --- the sink ---------------------------------------------------------------------------

    def emit(self, event: ev.Event) -> None:
        try:
            self._view.apply(event)
            if self.disabled or self._closing:
                return
            embed = embed_for(event, self._view)
            if embed is None:
                return
            redacted = self._redactor.redact_obj(embed)
            assert isinstance(redacted, dict)
            item = Item(
                embed=fit(redacted),
                progress=isinstance(event, ev.Progress),
                final=isinstance(event, _FINAL),
            )
            self._queue.push(item)
            self._wake.set()
        except Exception:  # a sink must not raise; a message we cannot render is not sent
            return

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def dropped(self) -> int:
        """Messages dropped because the queue was full."""
        return self._queue.dropped

    # --- the sender -------------------------------------------------------------------------

    async def run(self) -> None:
        """Send the queue until :meth:`aclose` (or a disabling answer); start it as a task."""
        self._runner = asyncio.current_task()
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout_s) as c:
                while not self.disabled:
                    if not self._queue:
                        if self._closing:
                            break
                        self._wake.clear()
                        await self._wake.wait()
                        continue
                    self._report_drops()
                    await self._send_batch(c)
        finally:
            self._finished.set()

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Flush what is queued for at most ``timeout_s`` seconds, then stop the sender."""
        self._closing = True
        self._wake.set()
        runner = self._runner
        if runner is None or runner.done():
            return
        if self._picture is not None:  # the last message may still be drawing its picture
            timeout_s += self._picture_timeout_s
        try:
            await asyncio.wait_for(asyncio.shield(self._finished.wait()), timeout_s)
        except TimeoutError:
            left = len(self._queue) + self._inflight
            runner.cancel()
            await asyncio.wait({runner}, timeout=1.0)
            self._report_drops()
            if left:
                self._fail(
                    f"{left} notifications not sent: Discord did not take them within "
                    f"{timeout_s:g}s of shutdown"
                )

    async def _send_batch(self, client: httpx.AsyncClient) -> None:
        n = take([size(item.embed) for item in self._queue.head(10)])
        items = self._queue.take(n)  # in flight: a full queue must not drop them
        batch = [item.embed for item in items]
        body: dict[str, Any] = {"username": self._username, "embeds": batch}
        body["allowed_mentions"] = {"parse": []}
        self._inflight = n
        try:
            files = None
            if any(item.final for item in items) and self._picture is not None:
                png = await self._draw()
                if png is not None:
                    files = {"files[0]": (_PICTURE, png, "image/png")}
                    body["attachments"] = [{"id": 0, "filename": _PICTURE}]
                    last = max(i for i, item in enumerate(items) if item.final)
                    batch[last] = {**batch[last], "image": {"url": f"attachment://{_PICTURE}"}}
            await self._deliver(client, body, n, files)
        finally:
            self._inflight = 0

    async def _draw(self) -> bytes | None:
        """The picture of the night, drawn off the loop; None when it cannot be (no
        matplotlib, nothing recorded, too slow): the message then goes without it."""
        assert self._picture is not None
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._picture), self._picture_timeout_s)
        except Exception:
            return None

    async def _deliver(
        self,
        client: httpx.AsyncClient,
        body: dict[str, Any],
        n: int,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> None:
        """Send one message until it is accepted, refused for good, or out of attempts."""
        for attempt in range(1, self._max_attempts + 1):
            wait = self._not_before - self._clock()
            if wait > 0:
                await self._sleep(wait)
            try:
                async with asyncio.timeout(self._timeout_s):
                    answer = await exchange(client, "POST", self._url, body=body, files=files)
            except (httpx.HTTPError, TimeoutError) as exc:
                why = transport_reason(exc)
            else:
                if answer.ok:
                    self.sent, self._failures = self.sent + 1, 0
                    self._not_before = self._clock() + answer.bucket_wait
                    return
                if answer.status in _DISABLING:
                    self._disable(answer, n)
                    return
                if answer.status == 429:  # a limit, not a failure: wait what Discord asks
                    await self._sleep(answer.retry_after)
                    why = "rate limited" + (" (global limit)" if answer.global_limit else "")
                    continue
                why = f"HTTP {answer.status}" + (f": {answer.message}" if answer.message else "")
                if answer.status < 500:  # Discord will refuse this message again: drop it
                    self._fail(f"Discord refused a message ({why}); {n} dropped")
                    return
            if attempt < self._max_attempts:
                self._failures += 1
                await self._sleep(
                    min(self._backoff_s * 2 ** (self._failures - 1), self._max_backoff_s)
                )
        self._fail(f"{n} notifications dropped after {self._max_attempts} attempts: {why}")

    def _disable(self, answer: Answer, n: int) -> None:
        self.disabled = True
        lost = self._queue.clear() + n
        told = f" ({answer.message})" if answer.message else ""
        self._fail(
            f"Discord webhook answered HTTP {answer.status}{told}: {_DISABLING[answer.status]}. "
            f"Notifications are off for this run ({lost} dropped); "
            "check PHOENIX_DISCORD_WEBHOOK_URL (phoenix doctor)"
        )

    def _report_drops(self) -> None:
        new = self._queue.new_drops()
        if new > 0:
            self._fail(
                f"{new} notifications dropped: the queue of {self._queue.limit} was full "
                "(Discord slow or down); progress messages went first"
            )

    def _fail(self, reason: str) -> None:
        try:
            self._report_to(
                ev.NotifyFailed(channel="discord", reason=self._redactor.redact(reason))
            )
        except Exception:  # the journal's problem must not stop the notifier
            pass
