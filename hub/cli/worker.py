"""``concord worker``: its options and help, apart from the faust app that does the work.

``concord worker --help`` reads this module only; faust, Kafka and the store
(:mod:`hub.runtime.kafka_worker`) are imported when the worker starts.
"""

from __future__ import annotations

from typing import Annotated

import typer


def worker(
    relay: Annotated[
        bool, typer.Option(help="Publish golden changes to concord.golden.<domain>.")
    ] = True,
    deliver: Annotated[
        bool, typer.Option(help="Run the delivery worker (webhooks, kafka subscriptions).")
    ] = True,
    loglevel: Annotated[str, typer.Option(help="faust log level.")] = "warning",
) -> None:
    """Scale-out worker: apply changes from Kafka (needs CONCORD_KAFKA_BOOTSTRAP)."""
    from hub.runtime.kafka_worker import run_worker

    run_worker(relay=relay, deliver=deliver, loglevel=loglevel)
