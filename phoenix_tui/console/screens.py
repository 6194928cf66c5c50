"""Modal screens: a yes/no confirmation and the key help."""

from __future__ import annotations

__all__ = ["KEYS", "PALETTE", "ConfirmScreen", "HelpScreen"]

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

KEYS: tuple[tuple[str, str], ...] = (
    ("a", "accept the selected patch (it is applied, then the training restarts)"),
    ("r", "reject the selected patch (the training restarts without it)"),
    ("tab / shift+tab", "move between the panes"),
    ("↑ ↓ pgup pgdn", "move in the focused pane (log, patches, detail, backups)"),
    ("s", "stop the training gracefully (asks first); q while it stops kills it"),
    ("u", "resume a stopped training (or one that gave up), budgets cleared"),
    ("R", "roll back the selected backup (asks first)"),
    ("/", "search the log (enter: older match, ↑/↓: older/newer, esc: close)"),
    ("n / N", "the next older / newer match of the last search"),
    ("f", "follow the end of the log (scrolling up pauses it)"),
    ("w", "wrap long log lines, or cut them at the edge"),
    ("z", "zoom: the focused pane takes the whole screen (z or esc again: back)"),
    ("?", "this help"),
    ("ctrl+p", "command palette: every action, the theme"),
    ("q", "quit (asks while the training runs; quitting stops it gracefully)"),
)
# The command palette's entries: (title, what it does, the app's action); Quit comes last.
PALETTE: tuple[tuple[str, str, str], ...] = (
    ("Accept patch", "Accept the selected patch (a)", "accept"),
    ("Reject patch", "Reject the selected patch (r)", "reject"),
    ("Stop training", "Stop the training gracefully (s)", "stop"),
    ("Resume training", "Resume a stopped training (u)", "resume"),
    ("Roll back", "Roll back the selected backup (R)", "rollback"),
    ("Search log", "Search the training log (/)", "search"),
    ("Follow log", "Follow the end of the log (f)", "follow"),
    ("Wrap log lines", "Wrap long lines, or cut them (w)", "wrap"),
    ("Zoom pane", "Maximise the focused pane (z)", "zoom"),
    ("Next pane", "Focus the next pane (tab)", "focus_next"),
    ("Previous pane", "Focus the previous pane (shift+tab)", "focus_previous"),
    ("Help", "The keys (?)", "help"),
)


class ConfirmScreen(ModalScreen[bool]):
    """Asks one question; y/enter answers yes, n/escape no."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 70; max-width: 95%; height: auto; border: thick $warning;
        background: $surface; padding: 1 2;
    }
    ConfirmScreen #question { text-style: bold; width: 1fr; }
    ConfirmScreen #explain { width: 1fr; height: auto; margin-top: 1; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "", *, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="question")
            if self.detail:
                # Not id="detail": the app's `#detail { width: 3fr }` would squeeze it to a line.
                yield Static(Text(self.detail), id="explain")
            with Horizontal():
                # Text, not a str: "[y]" in a str label is markup and would vanish.
                yield Button(Text(f"{self.yes} [y]"), variant="warning", id="yes")
                yield Button(Text("Cancel [n]"), id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 84; max-width: 98%; height: auto; max-height: 95%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss_help", "Close")
    ]

    def __init__(self, approval: str, keys: Sequence[tuple[str, str]] = KEYS) -> None:
        super().__init__()
        self.approval = approval
        self.keys = tuple(keys)

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, what in self.keys:
            table.add_row(key, what)
        with Vertical():
            yield Static(Text("Phoenix keys", style="bold"))
            yield Static(table)
            yield Static(
                Text(
                    f"Approval: {self.approval}. A vetted patch waits for a or r and is "
                    "selected with its diff shown as soon as it waits. Press esc to close.",
                    style="dim",
                )
            )

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
