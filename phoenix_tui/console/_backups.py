"""The console's backups: the timeline's listing, a backup's diff, and the rollback key.

Each reads or writes files, so each runs in a thread (``asyncio.to_thread`` inside a Textual
worker on the app's loop) and the frames and keys go on meanwhile; what a thread found is
shown back on the loop. These are short, one-shot jobs, never loops. The newest listing and
the newest diff win (their workers are exclusive); a rollback is never cancelled for another,
and one that the closing console leaves running is still journaled when its thread ends.
A rollback cannot interleave with an apply of the engine: :mod:`phoenix_engine.io.backups`
lets one writer at a time change the project's files.
"""

from __future__ import annotations

__all__ = ["BackupActions"]

import asyncio
from collections.abc import Callable, Mapping

from textual.worker import Worker

from phoenix_engine import events as ev
from phoenix_engine.io.backups import (
    BackupError,
    BackupRecord,
    BackupState,
    RollbackResult,
    list_backups,
    rollback,
)
from phoenix_tui.console._diff import backup_diff
from phoenix_tui.console._logkeys import LogActions
from phoenix_tui.console.panes.patches import BackupList, backup_detail, backup_prompt
from phoenix_tui.console.screens import ConfirmScreen


class BackupActions(LogActions):
    """The Backups pane's work; the attributes below are set up by the app."""

    _backup_list: BackupList
    _backups: dict[str, BackupRecord]
    _stamp: Callable[[float], str]
    _rolling_back: str  # the backup being restored, "" when none

    def flush(self) -> None:
        raise NotImplementedError

    def _show_status(self) -> None:
        raise NotImplementedError

    def _show_detail(self) -> None:
        raise NotImplementedError

    def _emit(self, event: ev.Event) -> None:
        raise NotImplementedError

    @property
    def _tearing_down(self) -> bool:
        """The app is exiting: its widgets may already be gone."""
        return self._exit or not self.is_running or self._closing

    def _can_roll_back(self) -> bool:
        return any(
            b.state is BackupState.APPLIED and b.kind == "patch" for b in self._backups.values()
        )

    # --- the timeline and the diff -----------------------------------------------------------

    def _reload_backups(self) -> Worker[None]:
        """List the backups again (after an apply or a rollback, and at the start)."""
        return self.run_worker(self._list_backups, group="backups", exclusive=True)

    async def _list_backups(self) -> None:
        try:
            records = await asyncio.to_thread(list_backups, self.settings.state_dir)
        except OSError as exc:
            self.notify(f"cannot list backups: {exc}", severity="error")
            return
        if self._tearing_down:
            return
        self._backups = {r.id: r for r in records}
        items = [(r.id, backup_prompt(r, self._stamp)) for r in records]
        self._backup_list.set_items(items)
        self._show_status()  # R applies now, or no longer
        if self._detail_from == "backups":
            self._show_detail()

    def _show_backup(self, record: BackupRecord, known: Mapping[str, str]) -> Worker[None]:
        """Show a backup's diff in the detail pane once a thread has read the files."""
        # The coroutine is made when the worker starts: one replaced before it started (an
        # exclusive group) is then never a coroutine left unawaited.
        shown = dict(known)

        async def work() -> None:
            await self._diff_backup(record, shown)

        return self.run_worker(work, group="diff", exclusive=True)

    async def _diff_backup(self, record: BackupRecord, known: dict[str, str]) -> None:
        project = self.settings.project_dir
        note, diff = await asyncio.to_thread(backup_diff, record, project, known)
        if self._tearing_down or self._detail_from != "backups":
            return  # the operator went back to the patches meanwhile
        if self._backup_list.selected_id != record.id:
            return  # and chose another backup, whose own diff is on its way
        self._detail.show(f"backup:{record.id}", backup_detail(record, note, diff, self._stamp))

    # --- rollback ----------------------------------------------------------------------------

    def action_rollback(self) -> None:
        key = self._backup_list.selected_id
        record = self._backups.get(key or "")
        if record is None:
            self.notify("no backup selected (tab to the Backups pane)", severity="warning")
            return
        if self._rolling_back:
            self.notify(f"backup {self._rolling_back} is being restored", severity="warning")
            return
        if record.state is not BackupState.APPLIED or record.kind != "patch":
            self.notify(
                f"backup {record.id} is {record.state.replace('_', ' ')} ({record.kind}): "
                "nothing to roll back",
                severity="warning",
            )
            return
        files = ", ".join(record.paths)
        detail = (
            f"Restores {files} as they were before patch {record.proposal_id[:8]} "
            f"({record.provider}); the current files are backed up first. A training that is "
            "running keeps the code it loaded; its next start uses the restored files."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.roll_back(record.id)

        self.push_screen(
            ConfirmScreen(f"Roll back backup {record.id}?", detail, yes="Roll back"), answered
        )

    def roll_back(self, backup_id: str) -> Worker[None]:
        """Restore a backup in a thread and journal it; the worker ends when it is shown."""
        self._rolling_back = backup_id
        return self.run_worker(self._roll_back(backup_id), group="rollback")

    async def _roll_back(self, backup_id: str) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        # A future, not a task: nothing cancels the thread's outcome on the way out.
        job = loop.run_in_executor(None, rollback, s.state_dir, s.project_dir, backup_id)
        try:
            result = await asyncio.shield(job)
        except asyncio.CancelledError:  # the console closes: the files change all the same
            job.add_done_callback(self._journal_late)
            raise
        except (BackupError, OSError) as exc:
            self.notify(f"rollback failed: {exc}", severity="error", timeout=15)
            return
        finally:
            self._rolling_back = ""
        self._emit(result.event())
        self.notify(f"rolled back {result.backup_id}: restored {', '.join(result.paths)}")
        self.flush()

    def _journal_late(self, job: asyncio.Future[RollbackResult]) -> None:
        if not job.cancelled() and job.exception() is None:
            self._emit(job.result().event())
