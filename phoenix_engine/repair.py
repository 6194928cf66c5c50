"""The repair loop: ask for a fix, vet it, prove it in a shadow copy, get approval, apply it.

It only sequences pure decisions (prompt, patches, policy, proposal) and thin I/O (providers,
shadow, ``_patch_apply``); file reads, backups and fsyncs run in worker threads, off the loop.
Every outcome is an event with a reason; nothing here raises into the engine except broken
contracts. Providers are asked in order until one yields a patch that
passes the policy and the shadow run; a reply that is unusable, refused or failing moves on
to the next provider.
"""

from __future__ import annotations

__all__ = ["RepairLoop"]

import asyncio
import hashlib
from collections.abc import Callable, Mapping, Sequence

from phoenix_engine import events as ev
from phoenix_engine._patch_apply import apply_patch
from phoenix_engine.core.classify import Classified
from phoenix_engine.core.patches import ParseFailure, parse_reply
from phoenix_engine.core.policy import Limits
from phoenix_engine.core.prompt import build_prompt, select_files
from phoenix_engine.core.proposal import Proposal, Refusal, build_proposal
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.io import sandbox, shadow
from phoenix_engine.io.project_files import ProjectResolver
from phoenix_engine.io.state_store import Ledger
from phoenix_engine.llm import RepairRequest
from phoenix_engine.llm.chain import ProviderChain


class RepairLoop:
    """One repair attempt per call of :meth:`repair`."""

    def __init__(
        self,
        settings: Settings,
        *,
        chain: ProviderChain,
        approver: ev.Approver,
        emit: Callable[[ev.Event], None],
        redactor: Redactor,
        env: Mapping[str, str],
        sandbox_chooser: sandbox.Chooser | None = None,
    ) -> None:
        self.settings = settings
        self.chain = chain
        self.approver = approver
        self._emit = emit
        self._redactor = redactor
        self._env = env
        self._limits = Limits.from_settings(settings)
        # probes once per run (the engine's lazy repairer may have probed at the start)
        self._sandbox = sandbox_chooser or sandbox.Chooser(settings.sandbox, env, emit)

    async def prepare(self) -> None:
        """At the run's start: find out once whether the sandbox works, and say so if not."""
        s = self.settings
        if s.test_cmd.strip() and s.patch_mode == "auto":
            await self._sandbox.choose()

    async def repair(
        self, failure: Classified, tail: Sequence[str], ledger: Ledger, *, extra: str = ""
    ) -> str:
        """Try each provider until a patch is applied; return an account for ``restarting``."""
        s = self.settings
        attempt = ledger.attempts.get(failure.signature, 1)
        names = self.chain.names
        sig = failure.signature
        self._emit(ev.RepairRequested(signature=sig, attempt=attempt, providers=names))
        if not names:
            return "no provider configured (PHOENIX_PRIMARY=none): restart without changes"
        request = RepairRequest(
            prompt=await self._prompt(failure, tail, extra),
            failure=failure,
            project_dir=s.project_dir,
            reply_format=s.reply_format,
        )
        self.chain.fallback_used = ledger.fallback_uses
        tried: set[str] = set()
        while True:
            answer = await self.chain.ask(request, skip=tried)
            ledger.fallback_uses = self.chain.fallback_used
            if answer is None:
                return "no usable patch from any provider: restart without changes"
            provider, text = answer
            tried.add(provider)
            proposal = await self._vet(provider, text, failure, ledger)
            if proposal is None:
                continue
            if s.patch_mode == "analyze-only":
                return f"analyze-only: patch {proposal.id} journaled, nothing changed"
            if not await self._shadow(proposal):
                continue
            return await self._approve_and_apply(proposal, ledger)

    # --- steps --------------------------------------------------------------------------------

    async def _prompt(self, failure: Classified, tail: Sequence[str], extra: str = "") -> str:
        files = await asyncio.to_thread(self._read_files, failure)  # off the loop: disk reads
        return build_prompt(
            failure=failure,
            tail=tail,
            files=files,
            settings=self.settings,
            redactor=self._redactor,
            extra=extra,
        )

    def _read_files(self, failure: Classified) -> dict[str, str]:
        """The project files the prompt shows (in a worker thread)."""
        files: dict[str, str] = {}
        project = ProjectResolver(self.settings.project_dir)
        for rel in select_files(failure, project, self._limits):
            try:
                data = project.read_bytes(rel)
            except OSError:
                continue
            files[rel] = data.decode("utf-8", "replace")
        return files

    async def _vet(
        self, provider: str, text: str, failure: Classified, ledger: Ledger
    ) -> Proposal | None:
        """Parse and vet a reply into a proposal, or report why it cannot be used."""
        reply = parse_reply(text)
        if isinstance(reply, ParseFailure):
            self._emit(
                ev.ProviderFailed(provider=provider, reason=f"unusable reply: {reply.reason}")
            )
            return None
        if reply.diagnosis:
            self._emit(ev.Diagnosis(provider=provider, text=reply.diagnosis))
        built = await asyncio.to_thread(  # reads files, applies, counts lines: off the loop
            build_proposal,
            ProjectResolver(self.settings.project_dir),  # resolves the root: a disk read too
            reply,
            self._limits,
            provider=provider,
            signature=failure.signature,
        )
        if isinstance(built, Refusal):
            digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:12]
            self._emit(ev.PatchRejected(id=built.id or digest, reason=built.reason))
            return None
        tried = ledger.tried.setdefault(failure.signature, [])
        self._emit(_proposed(built))
        if built.id in tried:
            reason = "identical to a patch already tried for this failure"
            self._emit(ev.PatchRejected(id=built.id, reason=reason))
            return None
        tried.append(built.id)
        return built

    async def _shadow(self, proposal: Proposal) -> bool:
        s = self.settings
        box = await self._sandbox.choose()
        if box is None and s.sandbox == "require" and s.test_cmd.strip():
            reason = f"PHOENIX_SANDBOX=require and {self._sandbox.detail}: not tested"
            self._emit(ev.PatchRejected(id=proposal.id, reason=reason))
            return False
        result = await shadow.validate(
            s.project_dir,
            proposal.changes,
            test_cmd=s.test_cmd,
            timeout_s=s.test_timeout_sec,
            allowlist=s.allowlist,
            data_dir=s.data_dir,
            env=self._env,
            sandbox=box,
        )
        tail = self._redactor.redact(result.output_tail)
        if result.breach:
            self._emit(
                ev.ContainmentBreach(
                    id=proposal.id,
                    paths=result.breach[:50],
                    reason=result.reason,
                    sandboxed=result.sandboxed,
                )
            )
            self._emit(ev.PatchRejected(id=proposal.id, reason=result.reason))
            return False
        if result.ok:
            self._emit(ev.ShadowPassed(id=proposal.id, output_tail=tail, note=result.note))
        else:
            self._emit(
                ev.ShadowFailed(
                    id=proposal.id, reason=result.reason, output_tail=tail, note=result.note
                )
            )
        return result.ok

    async def _approve_and_apply(self, proposal: Proposal, ledger: Ledger) -> str:
        self._emit(ev.ApprovalRequested(id=proposal.id))
        decision = await self.approver.approve(_proposed(proposal))
        if not decision.approved:
            reason = f"not approved ({decision.by}): {decision.reason or 'no reason given'}"
            self._emit(ev.PatchRejected(id=proposal.id, reason=reason))
            return f"patch {proposal.id} not approved: restart without changes"
        return await apply_patch(
            self.settings, proposal, ledger, approved_by=decision.by, emit=self._emit
        )


def _proposed(proposal: Proposal) -> ev.PatchProposed:
    """The event that shows a proposal (to the journal, the operator, the approver)."""
    return ev.PatchProposed(
        id=proposal.id,
        provider=proposal.provider,
        signature=proposal.signature,
        paths=proposal.paths,
        diff=proposal.diff,
        diagnosis=proposal.diagnosis,
    )
