"""The training log widget: batches, bound, colours, control codes, follow, search, progress."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult

from phoenix_tui.console._sink import Milestone
from phoenix_tui.console.panes._logtext import line_text
from phoenix_tui.console.panes.log import LogView


class LogApp(App[None]):
    def __init__(self, max_lines: int = 1000) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield LogView(self.max_lines, id="log")


def row(log: LogView, y: int) -> str:
    return "".join(segment.text for segment in log.render_line(y)).rstrip()


def test_ansi_colours_are_kept_and_other_control_codes_dropped() -> None:
    base = Style(color="white", bgcolor="black")
    text = line_text("\x1b[31mred\x1b[0m ok\x07\x08 \x1b[2Kdone\tx", base)
    assert text.plain == "red ok done     x"  # the tab stops at column 16
    red = [span for span in text.spans if span.start == 0 and span.end == 3]
    colour = red[-1].style.color if red and isinstance(red[-1].style, Style) else None
    assert colour is not None and colour.number == 1  # ANSI red, mapped to the theme later
    assert text.spans[0].style == base  # the pane's own colours lie under the line's


def test_a_lone_escape_is_dropped_and_milestones_keep_their_style() -> None:
    assert line_text("a\x1bb", Style()).plain == "ab"
    mark = line_text(Milestone("phoenix: failed", "bold red"), Style())
    assert any(str(span.style) == "bold red" for span in mark.spans)
    assert isinstance(mark, Text)


async def test_batches_are_bounded_and_follow_keeps_the_end_in_view() -> None:
    app = LogApp(max_lines=100)
    async with app.run_test(size=(60, 12)) as pilot:
        log = app.query_one(LogView)
        log.write_lines([f"line {i}" for i in range(250)])
        await pilot.pause()
        assert len(log.lines) == 100 and log.lines[0] == "line 150"
        assert log.follow and log.scroll_y == log.max_scroll_y
        assert row(log, log.size.height - 1) == "line 249"


async def test_scrolling_up_pauses_follow_and_the_end_or_f_resumes_it() -> None:
    app = LogApp()
    async with app.run_test(size=(60, 12)) as pilot:
        log = app.query_one(LogView)
        log.focus()
        log.write_lines([f"line {i}" for i in range(200)])
        await pilot.pause()
        await pilot.press("pageup")
        await pilot.pause()
        assert not log.follow
        top = log.scroll_y
        log.write_lines([f"more {i}" for i in range(50)])
        await pilot.pause()
        assert log.scroll_y == top  # new lines do not move what the operator reads
        await pilot.press("end")
        await pilot.pause()
        assert log.follow
        log.follow = False
        log.follow = True  # what `f` does
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y


async def test_pruning_keeps_a_paused_view_on_the_same_lines() -> None:
    app = LogApp(max_lines=100)
    async with app.run_test(size=(60, 12)) as pilot:
        log = app.query_one(LogView)
        log.write_lines([f"line {i}" for i in range(100)])
        await pilot.pause()
        log.follow = False
        log.scroll_to(y=50, animate=False, immediate=True)
        await pilot.pause()
        first = row(log, 0)
        log.write_lines([f"new {i}" for i in range(20)])
        await pilot.pause()
        assert row(log, 0) == first


async def test_search_scrolls_to_the_newest_match_then_older_ones() -> None:
    app = LogApp()
    async with app.run_test(size=(60, 12)) as pilot:
        log = app.query_one(LogView)
        lines = [f"step {i}" for i in range(300)]
        lines[40] = "NaN detected at step 40"
        lines[250] = "nan again at step 250"
        log.write_lines(lines)
        await pilot.pause()
        assert log.search("NAN")
        assert log.match == 250 and not log.follow
        await pilot.pause()
        visible = [row(log, y) for y in range(log.size.height)]
        assert "nan again at step 250" in visible
        assert log.search("NAN") and log.match == 40
        assert not log.search("NAN")  # no older one
        assert log.search("NAN", older=False) and log.match == 250
        assert not log.search("no such text")
        log.clear_search()
        assert log.match is None


async def test_the_unfinished_line_is_drawn_live_and_replaced() -> None:
    app = LogApp()
    async with app.run_test(size=(60, 6)) as pilot:
        log = app.query_one(LogView)
        log.write_lines(["epoch 1"])
        log.set_partial(" 40%|####      |")
        await pilot.pause()
        assert [row(log, 0), row(log, 1)] == ["epoch 1", " 40%|####      |"]
        log.set_partial(" 80%|########  |")
        await pilot.pause()
        assert row(log, 1) == " 80%|########  |"
        log.set_partial("")
        log.write_lines(["100%|##########|"])
        await pilot.pause()
        assert [row(log, 0), row(log, 1), row(log, 2)] == ["epoch 1", "100%|##########|", ""]


async def test_wrapped_rows_add_up_batch_after_batch() -> None:
    app = LogApp(max_lines=50)
    async with app.run_test(size=(30, 12)) as pilot:
        log = app.query_one(LogView)
        log.set_wrap(True)
        for n in range(12):  # short, long, coloured and wide lines, past the bound
            log.write_lines(["x" * (n * 7), f"\x1b[31m{'y' * 40}\x1b[0m", "界" * 20, "\tz"])
            await pilot.pause()
        width = log.scrollable_content_region.width
        rows = [max(1, -(-line_text(s, Style()).cell_len // width)) for s in log.lines]
        assert log.virtual_size.height == sum(rows)
        assert log._ends[-1] == sum(rows) and len(log._ends) == len(log.lines) == 48
