"""The log's keys: search it (and the whole ``train.log`` once the buffer has forgotten),
follow its end, wrap its lines, and close the palette's Keys panel with ``esc``.

A mixin of the console app, like :mod:`phoenix_tui.console.actions`; the panes are the app's.
"""

from __future__ import annotations

__all__ = ["LogActions"]

import asyncio
from pathlib import Path

from rich.text import Text
from textual.app import App
from textual.containers import Vertical
from textual.widgets import HelpPanel, Input
from textual.worker import Worker

from phoenix_engine.core.settings import Settings
from phoenix_tui.console._logsearch import search_file
from phoenix_tui.console.panes.log import LogView
from phoenix_tui.console.panes.patches import DetailPane


class LogActions(App[int]):
    """Search and follow; the attributes below are set up by the app."""

    settings: Settings
    _log_view: LogView
    _log_box: Vertical
    _search_input: Input
    _detail: DetailPane
    _detail_from: str
    _offer_file_search: str

    def _show_follow(self, follow: bool | None = None) -> None:
        raise NotImplementedError

    def action_search(self) -> None:
        box = self._log_box
        box.add_class("-searching")
        self._search_input.focus()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.input.id == "search":
            query = message.value
            if query and query == self._offer_file_search:
                self._offer_file_search = ""

                self._grep_train_log(query)
                return
            self._search(query, older=True)

    def action_search_next(self, older: bool) -> None:
        """n / N: the next older / newer match of the last search."""
        self._search(self._log_view.search_text, older=older)

    def _search(self, query: str, *, older: bool) -> None:
        log = self._log_view
        found = log.search(query, older=older)
        self._show_follow()
        if found or not query:
            return
        if older and log.dropped:
            self._offer_file_search = query
            self.notify(
                f"no older match in memory, but {log.dropped:,} older lines left it: the whole "
                f"log is in {self._train_log()}. Press enter again to search that file.",
                severity="warning",
                timeout=10,
            )
            return
        where = "older" if older else "newer"
        self.notify(f"no {where} match for {query!r}", severity="warning", timeout=3)

    def _train_log(self) -> Path:
        return self.settings.state_dir / "train.log"

    def _grep_train_log(self, query: str) -> Worker[None]:
        async def grep() -> None:  # made when it starts: never left unawaited if replaced
            await self._search_train_log(query)

        return self.run_worker(grep, exclusive=True, group="grep")

    async def _search_train_log(self, query: str) -> None:
        path = self._train_log()
        try:
            found = await asyncio.to_thread(search_file, path, query)
        except OSError as exc:
            self.notify(f"cannot read {path}: {exc.strerror or exc}", severity="error")
            return
        head = Text(f"{path.name}: {found.count:,} lines match {query!r}", style="bold")
        if found.count > len(found.lines):
            head.append(f" (the last {len(found.lines)} shown)", style="dim")
        body = Text("\n".join(f"{n:>8}  {line}" for n, line in found.lines), no_wrap=True)
        self._detail_from = "grep"  # kept until a patch or backup is chosen (or waits)
        self._detail.show(f"grep:{query}", (head, body, Text("")))
        self._detail.focus()

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        if key == "escape" and self.screen.query(HelpPanel):  # the palette's Keys panel
            self.action_hide_help_panel()
            return
        search = self._search_input
        if not search.has_focus:
            return
        if key == "escape":
            self._log_box.remove_class("-searching")
            self._log_view.clear_search()
            self._log_view.focus()
            self._show_follow()
        elif key in ("up", "down"):
            self._search(search.value, older=key == "up")

    def action_follow(self) -> None:
        log = self._log_view
        log.follow = not log.follow

    def action_wrap(self) -> None:
        log = self._log_view
        log.set_wrap(not log.wrap)
        self._show_follow()
