"""The last step of a repair: back up the files an approved patch touches, then write it.

The backup, the writes (each file fsynced) and the pruning of old backups run in a worker
thread (``asyncio.to_thread``): a slow disk must not stall the event loop that reads the
training's output. Events are emitted on the loop, never from the thread. A patch that could
not be written was never applied, so it is not counted as tried: once the disk has room the
same fix may be.
"""

from __future__ import annotations

__all__ = ["apply_patch"]

import asyncio
from collections.abc import Callable

from phoenix_engine import events as ev
from phoenix_engine.core.proposal import Proposal
from phoenix_engine.core.settings import Settings
from phoenix_engine.io.backups import BackupError, BackupRecord, apply_changes, create_backup, prune
from phoenix_engine.io.state_store import Ledger


async def apply_patch(
    s: Settings,
    proposal: Proposal,
    ledger: Ledger,
    *,
    approved_by: str,
    emit: Callable[[ev.Event], None],
) -> str:
    """Back up and apply (or, with PHOENIX_DRY_RUN, only back up); an account for the
    ``restarting`` event."""
    try:
        record = await asyncio.to_thread(_write, s, proposal)
    except (BackupError, OSError) as exc:
        reason = f"could not back up or write the files, nothing was changed: {exc}"
        emit(ev.PatchRejected(id=proposal.id, reason=reason))
        tried = ledger.tried.get(proposal.signature, [])
        if proposal.id in tried:
            tried.remove(proposal.id)
        return f"patch {proposal.id} not applied: restart without changes"
    try:
        await asyncio.to_thread(prune, s.state_dir, s.max_backups)
    except OSError as exc:
        emit(ev.Notice(message=f"could not prune old backups: {exc}"))
    emit(
        ev.PatchApplied(
            id=proposal.id,
            backup_id=record.id,
            paths=proposal.paths,
            dry_run=s.dry_run,
            approved_by=approved_by,
        )
    )
    if s.dry_run:
        return f"dry run: patch {proposal.id} backed up as {record.id}, nothing written"
    return f"patch {proposal.id} applied (backup {record.id})"


def _write(s: Settings, proposal: Proposal) -> BackupRecord:
    """Back up, then write (in the worker thread)."""
    record = create_backup(
        s.state_dir,
        s.project_dir,
        proposal.changes,
        proposal_id=proposal.id,
        provider=proposal.provider,
        signature=proposal.signature,
        diagnosis=proposal.diagnosis,
    )
    apply_changes(s.project_dir, proposal.changes, record, dry_run=s.dry_run)
    return record
