"""A subscription's lane (connectors/outbound/lanes.py), without I/O: it keeps its window, sends
nothing once the leader's fence says no, stops at a 410, and asks the leader once however many
requests ask at the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from connectors.outbound.lanes import Fence, Lane
from hub.services.delivery_ports import Due, Outcome, Subscription

SUB = Subscription("s1", "hook", "webhook", "http://x/", ("client",), None, False, False, "k")


def _due(n: int) -> Due:
    return Due(n, n, f"e{n}", f"g{n}", 0, SUB, {})


class Recorder:
    def __init__(self, status: str = "delivered") -> None:
        self.status = status
        self.sent: list[int] = []
        self.open = 0
        self.most_open = 0
        self.answered: list[int] = []
        self.handed_back: list[int] = []
        self.release = asyncio.Event()

    async def send(self, items: Sequence[Due], slot: int) -> list[Outcome]:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        self.sent += [i.delivery_id for i in items]
        await self.release.wait()
        self.open -= 1
        at = datetime.now(UTC)
        return [Outcome(i.delivery_id, SUB.id, self.status, 200, "", at) for i in items]

    def done(self, items: Sequence[Due], outcomes: Sequence[Outcome]) -> None:
        answered = {o.delivery_id for o in outcomes}
        self.answered += sorted(answered)
        self.handed_back += [i.delivery_id for i in items if i.delivery_id not in answered]


def _fence(answer: bool) -> tuple[Fence, list[int]]:
    asked: list[int] = []

    async def ask() -> bool:
        asked.append(1)
        await asyncio.sleep(0)
        return answer

    return Fence(ask, max_age=60), asked


def test_a_lane_keeps_its_window_and_room() -> None:
    async def run() -> Recorder:
        rec = Recorder()
        fence, asked = _fence(True)
        lane = Lane(SUB, rec.send, fence, rec.done, parallel=3)
        assert lane.room() == 6
        lane.add([_due(n) for n in range(1, 6)])
        for _ in range(5):
            await asyncio.sleep(0)
        assert rec.open == 3 and lane.room() == 6 - 2 - 3
        rec.release.set()
        await lane.drain()
        assert len(asked) == 1  # one question to the leader for all five requests
        return rec

    rec = asyncio.run(run())
    assert sorted(rec.answered) == [1, 2, 3, 4, 5] and rec.most_open == 3


def test_a_deposed_leader_sends_nothing_and_hands_everything_back() -> None:
    async def run() -> Recorder:
        rec = Recorder()
        fence, _ = _fence(False)
        lane = Lane(SUB, rec.send, fence, rec.done, parallel=2)
        lane.add([_due(n) for n in range(1, 4)])
        await lane.drain()
        return rec

    rec = asyncio.run(run())
    assert rec.sent == [] and sorted(rec.handed_back) == [1, 2, 3]


def test_a_410_closes_the_lane_and_hands_back_what_waited() -> None:
    async def run() -> tuple[Recorder, Lane]:
        rec = Recorder(status="gone")
        rec.release.set()
        fence, _ = _fence(True)
        lane = Lane(SUB, rec.send, fence, rec.done, parallel=1)
        lane.add([_due(n) for n in range(1, 4)])
        await lane.drain()
        return rec, lane

    rec, lane = asyncio.run(run())
    assert rec.sent == [1] and rec.handed_back == [2, 3]
    assert lane.closed and lane.room() == 0
