"""Simulations: a draft scored on the whole book beside the active version, chunk by
chunk on the workers, before anyone may submit it (docs/architecture.md, "Policy
versions")."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

import scoring
from accounts import permissions as perms
from accounts.book import SEGMENTS, id_ranges, load_chunk
from accounts.models import Account
from config import failures, queue
from config.queue import QUEUE_ERRORS
from policies import impact
from policies.models import Simulation, SimulationChunk
from policies.services import PolicyAdminError, State, active_locked, locked, require


def simulation_start(*, version: int, actor: Any) -> Simulation:
    require(actor, perms.EDIT_POLICY, _("Your role cannot simulate policy versions."))
    with transaction.atomic(durable=True):
        target = locked(version)
        if target.state != State.DRAFT:
            raise PolicyAdminError(
                _("Only a draft is simulated; this version is %(state)s.")
                % {"state": target.get_state_display()}
            )
        try:
            scoring.parse_policy(target.rules)
        except scoring.PolicyError:
            raise PolicyAdminError(_("Fix the draft's thresholds before simulating it.")) from None
        if Simulation.objects.filter(policy=target, state__in=["queued", "running"]).exists():
            raise PolicyAdminError(_("A simulation of this draft is already running."))
        active = active_locked()
        simulation = Simulation.objects.create(
            policy=target,
            base=active,
            rules=target.rules,
            started_by=actor,
            accounts_total=Account.objects.count(),
        )
        chunks = [
            SimulationChunk(simulation=simulation, index=index, first_id=first, last_id=last)
            for index, (first, last) in enumerate(id_ranges(Account.objects.all()))
        ]
        SimulationChunk.objects.bulk_create(chunks)
        simulation.chunks_total = len(chunks)
        if not chunks:
            simulation.state, simulation.finished_at = Simulation.State.DONE, timezone.now()
        simulation.save()
    try:
        _send_chunks(simulation, [chunk.index for chunk in chunks])
    except QUEUE_ERRORS:
        # Nothing is left behind that would look started (docs/architecture.md,
        # "The task queue"): chunks already sent find no simulation and do nothing.
        Simulation.objects.filter(pk=simulation.pk).delete()
        raise PolicyAdminError(
            _("The task queue (Redis) is unavailable: nothing was started. Try again in a minute.")
        ) from None
    return simulation


def _send_chunks(simulation: Simulation, indexes: list[int]) -> None:
    for index in indexes:
        queue.send("policies.tasks.simulate_chunk", simulation.pk, index)


def simulation_compute_chunk(*, simulation_id: int, index: int) -> bool:
    """Score one chunk with the draft and the active version; sum both up."""
    with transaction.atomic(durable=True):
        chunk = (
            SimulationChunk.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(simulation_id=simulation_id, index=index, state=SimulationChunk.State.PENDING)
            .order_by()
            .first()
        )
        if chunk is None:
            return False
        simulation = Simulation.objects.select_related("base").get(pk=simulation_id)
        if simulation.state not in {Simulation.State.QUEUED, Simulation.State.RUNNING}:
            return False
        draft = scoring.compile_rules(scoring.parse_policy(simulation.rules))
        active = scoring.compile_rules(scoring.parse_policy(simulation.base.rules))
        bands = [band.name for band in active.rules.bands]
        data = load_chunk(chunk.first_id, chunk.last_id, bands)
        chunk.summary = {
            name: impact.chunk_summary(
                data.ids,
                data.limit,
                data.status,
                scoring.score_chunk(compiled, data),
                compiled.rules,
                # The fairness cohorts (docs/architecture.md, "Fairness in simulations
                # and back-tests").
                ages=data.signals[:, scoring.INPUT_SIGNALS.index("age")],
                segments=data.segment,
                segment_labels=SEGMENTS,
            )
            for name, compiled in (("draft", draft), ("active", active))
        }
        chunk.state = SimulationChunk.State.DONE
        chunk.save(update_fields=["summary", "state"])
        Simulation.objects.filter(pk=simulation_id).update(
            state=Simulation.State.RUNNING,
            chunks_done=F("chunks_done") + 1,
            accounts_done=F("accounts_done") + len(data.ids),
        )
    _finish_simulation_if_ready(simulation_id)
    return True


def _finish_simulation_if_ready(simulation_id: int) -> None:
    with transaction.atomic(durable=True):
        simulation = Simulation.objects.select_for_update().get(pk=simulation_id)
        if simulation.state != Simulation.State.RUNNING:
            return
        if simulation.chunks.exclude(state=SimulationChunk.State.DONE).exists():
            return
        summaries = list(simulation.chunks.values_list("summary", flat=True))
        simulation.results = {
            name: impact.merge_summaries(part[name] for part in summaries)
            for name in ("draft", "active")
        }
        simulation.state, simulation.finished_at = Simulation.State.DONE, timezone.now()
        simulation.save()
        simulation.chunks.update(summary={})


def simulation_fail(*, simulation_id: int, error: BaseException, chunk: int | None) -> None:
    """Mark a simulation failed with what went wrong; simulation_retry scores the rest."""
    record = failures.failure_record(error, phase="compute", chunk=chunk, at=timezone.now())
    with transaction.atomic(durable=True):
        simulation = (
            Simulation.objects.select_for_update()
            .filter(pk=simulation_id)
            .exclude(state=Simulation.State.DONE)
            .first()
        )
        if simulation is None:
            return
        simulation.failures = [*simulation.failures, record]
        if simulation.state != Simulation.State.FAILED:
            simulation.state, simulation.finished_at = Simulation.State.FAILED, timezone.now()
            where = f"chunk {chunk}: " if chunk is not None else ""
            simulation.error = f"{where}{record['error']}"
        simulation.save(update_fields=["failures", "state", "finished_at", "error"])


def simulation_retry(*, simulation_id: int, actor: Any) -> Simulation:
    """Score the chunks a failed simulation had not scored; the others are kept."""
    require(actor, perms.EDIT_POLICY, _("Your role cannot simulate policy versions."))
    with transaction.atomic(durable=True):
        simulation = Simulation.objects.select_for_update().filter(pk=simulation_id).first()
        if simulation is None or simulation.state != Simulation.State.FAILED:
            raise PolicyAdminError(_("Only a failed simulation can be retried."))
        pending = list(
            simulation.chunks.filter(state=SimulationChunk.State.PENDING).values_list(
                "index", flat=True
            )
        )
        simulation.failures = failures.mark_retried(
            simulation.failures, by=actor.username, at=timezone.now()
        )
        simulation.state = Simulation.State.RUNNING
        simulation.error, simulation.finished_at = "", None
        simulation.save(update_fields=["failures", "state", "error", "finished_at"])
    try:
        _send_chunks(simulation, pending)
    except QUEUE_ERRORS as error:
        # Not retried after all: failed again, with why, for a person to retry later.
        simulation_fail(simulation_id=simulation.pk, error=error, chunk=None)
        raise PolicyAdminError(
            _(
                "The task queue (Redis) is unavailable: the retry was "
                "not started. Try again in a minute."
            )
        ) from None
    _finish_simulation_if_ready(simulation_id)
    simulation.refresh_from_db()
    return simulation
