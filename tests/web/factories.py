"""Small builders for web tests: scenarios, runs and documents."""

from __future__ import annotations

import asyncio
import time

from channels.testing import WebsocketCommunicator

from dashboard.runs.models import Run
from dashboard.runs.services import run_create, run_document_parse
from dashboard.scenarios.services import scenario_create

SMALL_DOC = """\
scaleboard: 1
name: Small web tier
simulation: {duration_s: 20, warmup_s: 2, seed: 7, snapshot_s: 1}
workload: {target: lb, rps: 100}
components:
  lb: {type: load_balancer, algorithm: round_robin, targets: [web]}
  web: {type: service, instances: 2, cores: 2, work_ms: {dist: exponential, mean: 10}}
"""


def long_doc(duration_s: int = 4000, rps: int = 1500) -> str:
    """A document that takes several seconds of wall time to simulate."""
    return SMALL_DOC.replace("duration_s: 20", f"duration_s: {duration_s}").replace(
        "rps: 100", f"rps: {rps}"
    )


def make_scenario(owner, text: str = SMALL_DOC):
    return scenario_create(owner=owner, text=text)


def make_run(owner, scenario=None, *, status=Run.Status.QUEUED, text: str = SMALL_DOC):
    return Run.objects.create(
        owner=owner,
        scenario=scenario,
        version=scenario.latest_version if scenario else None,
        name="run",
        document_text=text,
        seed=1,
        status=status,
    )


def queue_run(owner, text: str = SMALL_DOC) -> Run:
    """A run queued as the Run button queues one (parsed with the web's limits)."""
    return run_create(
        owner=owner, document=run_document_parse(text=text), document_text=text
    )


class StreamCommunicator(WebsocketCommunicator):
    """A run socket for tests of the stream itself (snapshots, statuses, closes):
    presence messages, which come whenever anyone joins or leaves the run
    (dashboard/runs/presence.py, tested in test_run_live.py), are left out."""

    @staticmethod
    def _presence(message: dict) -> bool:
        text = message.get("text") if message.get("type") == "websocket.send" else None
        return bool(text) and text.startswith('{"type": "presence"')

    def _drop_presence(self) -> None:
        queue = self.output_queue._queue  # asyncio.Queue's deque: drop in place
        for message in [m for m in queue if self._presence(m)]:
            queue.remove(message)

    async def receive_output(self, timeout=1):
        while True:
            message = await super().receive_output(timeout)
            if not self._presence(message):
                return message

    async def receive_nothing(self, timeout=0.1, interval=0.01):
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            self._drop_presence()
            if not self.output_queue.empty():
                return False
            await asyncio.sleep(interval)
        self._drop_presence()
        return self.output_queue.empty()
