"""A Redis outage while people use the site (a Redis of the test's own, stopped and
started again): no page answers 500, a Run pressed during the outage is queued and
says so, and once Redis is back every run ends with its results.

Redis is both the Celery broker and the channel layer here, as in scale-out mode;
the web side (this process, Django's test client) and a real worker process both
point at the private Redis.
"""

from __future__ import annotations

import pytest
from channels.layers import channel_layers
from django.urls import reverse

from dashboard.celery import app as celery_app
from dashboard.runs import services
from dashboard.runs.models import Run, RunSnapshot
from tests.web.factories import SMALL_DOC, long_doc, make_scenario
from tests.web.processes import (
    PrivateRedis,
    Worker,
    drop_broker_connections,
    wait_for,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def private_redis(settings, tmp_path, redis_server_binary, redis_url):
    """Web side and a worker on a Redis of the test's own (`redis_url`: the tests
    need a Redis at all; this one is private so it can be stopped)."""
    redis = PrivateRedis(tmp_path, redis_server_binary)
    conf = celery_app.conf
    saved = (conf.broker_url, conf.task_always_eager)
    conf.broker_url, conf.task_always_eager = redis.url, False
    drop_broker_connections()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis.url], "capacity": 500, "expiry": 30},
        }
    }
    channel_layers.backends.clear()
    yield redis
    conf.broker_url, conf.task_always_eager = saved
    drop_broker_connections()
    channel_layers.backends.clear()
    redis.stop()


def test_a_redis_outage_during_runs_answers_no_500_and_loses_no_run(
    private_redis, postgres, alice, alice_client, tmp_path
):
    log = tmp_path / "worker.log"
    worker = Worker(private_redis.url, log, RUN_REQUEUE_AFTER_S="5")
    statuses: list[tuple[str, int]] = []

    def visit(method: str, url: str, data=None):
        response = getattr(alice_client, method)(url, data or {})
        statuses.append((url, response.status_code))
        return response

    try:
        long_scenario = make_scenario(alice, long_doc(duration_s=600, rps=800))
        short_scenario = make_scenario(alice)
        visit("post", reverse("scenario_run", args=[long_scenario.pk]), {"version": 1})
        first = Run.objects.get(scenario=long_scenario)
        wait_for(
            lambda: Run.objects.get(pk=first.pk).last_seq >= 2, 60, "streaming", log
        )

        private_redis.stop()  # the broker and the channel layer are gone

        response = visit(
            "post",
            reverse("scenario_run", args=[short_scenario.pk]),
            {"document": SMALL_DOC.replace("rps: 100", "rps: 110")},
        )
        second = Run.objects.get(scenario=short_scenario)
        assert response.status_code == 302
        assert response.url == reverse("run_detail", kwargs={"run_id": second.pk})
        assert second.status == Run.Status.QUEUED
        assert second.error == services.BROKER_DOWN_NOTE
        page = visit("get", response.url)
        assert "the worker queue is unreachable" in page.content.decode()
        for url in (
            reverse("scenario_list"),
            reverse("run_list"),
            reverse("run_detail", kwargs={"run_id": first.pk}),
            reverse("scenario_detail", args=[long_scenario.pk]),
        ):
            visit("get", url)
        # Cancelling publishes a status on the channel layer, which is down.
        visit("post", reverse("run_cancel", kwargs={"run_id": first.pk}))

        private_redis.start()

        wait_for(
            lambda: Run.objects.get(pk=second.pk).status in Run.FINAL,
            120,
            "the run pressed during the outage to be sent and finish",
            log,
        )
        done = Run.objects.get(pk=second.pk)
        assert done.status == Run.Status.SUCCEEDED, done.error
        assert done.error == ""
        assert RunSnapshot.objects.filter(run=done).count() == done.last_seq + 1
        wait_for(
            lambda: Run.objects.get(pk=first.pk).status in Run.FINAL,
            60,
            "the cancelled run to stop",
            log,
        )
        assert Run.objects.get(pk=first.pk).status == Run.Status.CANCELLED
    finally:
        worker.stop()

    assert [s for s in statuses if s[1] >= 500] == []
    assert {code for _url, code in statuses} <= {200, 302}
