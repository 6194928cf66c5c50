"""The patch queue, the backup timeline (two lists) and the detail pane they share.

The queue lists every proposal with its state and what it does (the failure's kind, where the
fix changes the code and a one-line summary of the change); the timeline every
backup with its time, files and the patch and provider behind it. The detail pane shows the
selected one: the diagnosis and the pygments-highlighted diff of a patch (with what the
operator may do about it), or a backup's diff.
"""

from __future__ import annotations

__all__ = ["BackupList", "DetailPane", "PatchList", "backup_prompt", "patch_prompt"]

import time
from collections.abc import Callable, Sequence

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from phoenix_engine.io.backups import BackupRecord, BackupState
from phoenix_tui.console._diff import highlight_diff
from phoenix_tui.console.view_model import PatchEntry, PatchState

_SHORT = {
    PatchState.AWAITING: "awaiting",
    PatchState.SHADOW_PASSED: "shadow ok",
    PatchState.SHADOW_FAILED: "shadow bad",
}
_LOOK: dict[PatchState, tuple[str, str]] = {
    PatchState.PROPOSED: ("…", "cyan"),
    PatchState.REJECTED: ("✗", "red"),
    PatchState.SHADOW_FAILED: ("✗", "red"),
    PatchState.SHADOW_PASSED: ("✓", "cyan"),
    PatchState.AWAITING: ("◆", "bold magenta"),
    PatchState.APPLIED: ("✔", "green"),
    PatchState.DRY_RUN: ("○", "green"),
    PatchState.ROLLED_BACK: ("↺", "yellow"),
}


def patch_prompt(entry: PatchEntry) -> Text:
    icon, style = _LOOK[entry.state]
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{icon} {_SHORT.get(entry.state, entry.state):<11}", style=style)
    text.append(f" {entry.id[:8]}", style="dim")
    fix = entry.fix  # what it does first: a narrow list still shows that much
    if fix.text:
        text.append(f" {fix.text}", style="bold")
    if entry.kind or fix.where:
        text.append(" ·", style="dim")
    if entry.kind:
        text.append(f" {entry.kind}", style="dim")
    if fix.where:
        text.append(f" {fix.where}")
    if not (fix.where or fix.text):  # refused before it had a diff
        text.append(f" {entry.provider or '?'}")
        if entry.reason:
            text.append(f" {entry.reason}", style="dim")
    return text


def _words(state: BackupState) -> str:
    return str(state).replace("_", " ")  # "rolled back", "dry run"


def backup_prompt(record: BackupRecord, stamp: Callable[[float], str]) -> Text:
    style = {BackupState.APPLIED: "green", BackupState.ROLLED_BACK: "yellow"}.get(
        record.state, "dim" if record.state is not BackupState.UNREADABLE else "red"
    )
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{stamp(record.created)} ", style="bold")
    text.append(f"{_words(record.state):<11}", style=style)
    what = ", ".join(record.paths) or record.reason or "no files"
    text.append(f" {what}")
    if record.kind == "rollback":
        text.append(" (safety copy)", style="dim")
    elif record.proposal_id:
        text.append(f" {record.proposal_id[:8]} {record.provider}", style="dim")
    return text


class _KeyedList(OptionList):
    """An OptionList rebuilt from (id, prompt) pairs that keeps the highlighted id."""

    def set_items(self, items: Sequence[tuple[str, Text]], *, latest: int = 0) -> None:
        """Replace the options; the operator's choice is kept while the list has focus,
        otherwise the latest item (at index ``latest``) is highlighted."""
        keep = self.selected_id if self.has_focus else None
        self.clear_options()
        self.add_options([Option(prompt, id=key) for key, prompt in items])
        kept = keep is not None and self.select(keep)
        if items and not kept:
            self.highlighted = latest if latest >= 0 else len(items) + latest

    @property
    def selected_id(self) -> str | None:
        if self.highlighted is None or self.option_count == 0:
            return None
        return self.get_option_at_index(self.highlighted).id

    def select(self, key: str) -> bool:
        try:
            self.highlighted = self.get_option_index(key)
        except Exception:  # the option is gone (a pruned backup)
            return False
        return True


class PatchList(_KeyedList):
    pass


class BackupList(_KeyedList):
    pass


def patch_detail(entry: PatchEntry, action: str) -> tuple[Text, Text, Text]:
    """What the detail pane says about a patch: (what and its state, diff, diagnosis)."""
    icon, style = _LOOK[entry.state]
    head = Text()
    head.append(f"patch {entry.id}", style="bold")
    head.append(f" by {entry.provider or '?'}")
    if entry.paths:
        head.append(f" · {', '.join(entry.paths)}")
    if entry.fix.text:
        what = f"{entry.kind} fix" if entry.kind else "fix"
        head.append(f"\n{what}: ", style="dim").append(entry.fix.text, style="bold")
        if entry.fix.where:
            head.append(f" ({entry.fix.where})", style="dim")
    head.append("\n")
    head.append(f"{icon} {entry.state}", style=style)
    if entry.reason:
        head.append(f": {entry.reason}")
    if entry.backup_id:
        head.append(f" (backup {entry.backup_id})", style="dim")
    if entry.approved_by:
        head.append(f" approved by {entry.approved_by}", style="dim")
    if action:
        head.append(f": {action}", style="bold")
    foot = Text()
    if entry.diagnosis:
        foot.append("diagnosis: ", style="bold").append(entry.diagnosis).append("\n")
    if entry.signature:
        foot.append(f"failure signature {entry.signature}", style="dim")
    return head, highlight_diff(entry.diff), foot


def backup_detail(
    record: BackupRecord, note: str, diff: str, stamp: Callable[[float], str]
) -> tuple[Text, Text, Text]:
    created = time.strftime("%Y-%m-%d ", time.localtime(record.created)) + stamp(record.created)
    text = Text(f"backup {record.id}", style="bold")
    text.append(f" · {_words(record.state)} · {created}")
    if record.kind == "rollback":
        text.append(f"\nsafety copy made before a rollback: {record.diagnosis}")
    else:
        text.append(f"\npatch {record.proposal_id or '?'} by {record.provider or '?'}")
    text.append(f"\nfiles: {', '.join(record.paths) or record.reason or 'none'}")
    if record.state is BackupState.APPLIED and record.kind == "patch":
        text.append("\nR rolls it back (asks first)", style="bold")
    text.append(f"\n{note}", style="dim")
    foot = Text()
    if record.diagnosis and record.kind == "patch":
        foot.append("diagnosis: ", style="bold").append(record.diagnosis)
    return text, highlight_diff(diff), foot


class DetailPane(VerticalScroll, can_focus=True):
    """Scrollable text about the selected patch or backup."""

    DEFAULT_CSS = """
    DetailPane > #detail-diff { width: auto; min-width: 100%; margin: 1 0; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        head = Static(Text("no patch yet", style="dim"), id="detail-head")
        diff, foot = Static("", id="detail-diff"), Static("", id="detail-foot")
        # Kept, not queried: a frame drawn while the app tears down must find them.
        self._parts = (head, diff, foot)
        super().__init__(head, diff, foot, id=id)
        self.subject = ""  # "patch:<id>" or "backup:<id>": what is shown

    def show(self, subject: str, content: tuple[Text, Text, Text]) -> None:
        changed = subject != self.subject
        self.subject = subject
        for part, text in zip(self._parts, content, strict=True):
            part.update(text)
        if changed and self.is_attached:
            self.scroll_home(animate=False)
