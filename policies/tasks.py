"""Celery tasks of policy administration: thin, they take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from policies import simulations


@shared_task
def simulate_chunk(simulation_id: int, index: int) -> bool:
    try:
        return simulations.simulation_compute_chunk(simulation_id=simulation_id, index=index)
    except Exception as error:
        # A failure shows on the simulation instead of leaving it running forever.
        simulations.simulation_fail(simulation_id=simulation_id, error=error, chunk=index)
        raise
