"""The web app under load, small: benchmarks/ui_load.py against the real app.py on a tiny pipeline.

One generation at a time and room for two waiting (`--queue-size 2`), so eight users at once must be
turned away some of the time: each of their requests completes with its images or is told, in words,
that the server is busy; none hangs; the server still serves afterwards; and a client that goes away in
the middle of a long run frees its place at once, for the next visitor.
"""

from __future__ import annotations

import random

import httpx
import pytest

from tests.load_harness import app_server, disconnect_check, folder_usage, generate_request, run_level

from .ui_server import tiny_pipeline

gradio_client = pytest.importorskip("gradio_client")
pytestmark = pytest.mark.slow

BUSY = "Queue is full! Please try again."  # gradio_client's QueueError for Gradio's HTTP 503 "Queue is full"
TIMEOUT_S = 180  # a request with no answer by then counts as hung (a loaded 2-core machine is slow)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """app.py on the tiny pipeline: 1 run at a time, 2 waiting; long runs allowed for the disconnect test."""
    root = tmp_path_factory.mktemp("ui-load-server")
    flags = ("--queue-size", "2", "--concurrency", "1", "--max-steps", "1000")
    with app_server(tiny_pipeline(), root, *flags) as (process, url):
        yield process, url, root


def test_eight_users_complete_or_are_told_busy_and_none_hangs(server):
    process, url, root = server
    level = run_level(url, users=8, requests=24, steps=20, max_images=4, timeout=TIMEOUT_S, pause=0.2)
    assert len(level.outcomes) == 24
    assert [o.message for o in level.of("error")] == [] and [o.message for o in level.of("hung")] == []
    assert len(level.of("completed")) >= 3  # every user got through at least sometimes
    assert level.of("busy"), "8 users at once and room for 3: some requests must have been refused"
    assert {o.message for o in level.of("busy")} == {BUSY}

    client = gradio_client.Client(url, verbose=False, download_files=False)
    after = generate_request(client, random.Random(1), steps=4, max_images=2, timeout=TIMEOUT_S)
    assert after.kind == "completed", after.message  # the server still serves, with nobody else waiting
    gallery = client.predict("a bag", "", 4, 3.0, 1, 5, "dpm++", api_name="/generate")[3]
    client.close()
    picture = httpx.get(gallery[0]["image"]["url"], timeout=60)  # the page can fetch what it is shown
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")

    usage = folder_usage(root)
    cache, runs = usage["gradio cache"], usage["app runs"]
    assert runs[1] > 0 and cache[1] > 0  # the counted folders are the ones the server writes to


@pytest.mark.parametrize("how", ["cancelled", "stream closed"])
def test_a_client_that_leaves_mid_run_frees_its_slot(server, how):
    """1000 steps of 16 images take the tiny model far longer than the 10 s allowed for the next request's
    wait; if the abandoned run kept its slot, the next request would wait for all of it."""
    process, url, _ = server
    check = disconnect_check(url, process.pid, how, steps=1000, images=16, timeout=TIMEOUT_S)
    assert check.next_request.kind == "completed", check.next_request.message
    assert check.next_request.wait is not None and check.next_request.wait < 10
    # The abandoned run stopped sampling instead of running on unseen: the server is quiet afterwards.
    assert check.quiet_cpu < max(0.3, check.busy_cpu / 3), (check.busy_cpu, check.quiet_cpu)
