"""The web server under load, shared by the load and stress tests and their benchmarks
(benchmarks/ui_load.py, benchmarks/ui_stress.py): the real app started with a folder of its own, users that
generate in a loop through its API, the server's memory, CPU and files, and what a client going away
mid-run leaves behind."""

from __future__ import annotations

import contextlib
import json
import os
import random
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from gradio_client import Client
from gradio_client.utils import QueueError

from tests import ui_server

PROMPTS = ["a sneaker", "an ankle boot", "a dark coat", "a bag", "a pair of trousers", "a dress", "a pullover"]
POLL_S = 0.05  # how often a user looks at its request's progress


# ---------------------------------------------------------------- the server and what it holds


@contextlib.contextmanager
def app_server(checkpoint: Path, root: Path, *flags: str, log: list | None = None):
    """app.py with `flags`, writing its temporary files under `root`; stopped on leaving."""
    saved = {name: os.environ.get(name) for name in ("TMPDIR", "GRADIO_TEMP_DIR")}
    os.environ.update(TMPDIR=str(root), GRADIO_TEMP_DIR=str(root / "gradio"))  # read by start_app's env
    try:
        process, url = ui_server.start_app(checkpoint, *flags, log=log)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        yield process, url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except Exception:
            process.kill()
            process.wait(timeout=30)


def rss_mib(pid: int) -> float:
    """Resident memory of a process (psutil where installed, else /proc)."""
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        import psutil

        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    except ImportError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemoryWatch:
    """Samples a process's RSS in the background; `peak` is the largest seen."""

    def __init__(self, pid: int, every_s: float = 0.25):
        self.pid, self.every_s, self.peak = pid, every_s, rss_mib(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        while not self._done.wait(self.every_s):
            with contextlib.suppress(Exception):
                self.peak = max(self.peak, rss_mib(self.pid))

    def stop(self):
        self._done.set()
        self._thread.join()


def folder_usage(root: Path) -> dict[str, tuple[float, int]]:
    """(MiB, files) of Gradio's cache and of the app's run folders under the server's temporary root."""
    parts = {"gradio cache": [root / "gradio"], "app runs": sorted(root.glob("tiny-diffusion-ui-*"))}
    usage = {}
    for name, folders in parts.items():
        size, count = 0, 0
        for folder in folders:
            for path in folder.rglob("*"):
                with contextlib.suppress(OSError):
                    if path.is_file():
                        size, count = size + path.stat().st_size, count + 1
        usage[name] = (size / 2**20, count)
    return usage


# ---------------------------------------------------------------- one request, one user, one level


@dataclass
class Outcome:
    kind: str  # completed | busy | error | hung
    latency: float  # seconds from submit to the answer (or to giving up)
    wait: float | None = None  # seconds from submit to the run's first update (its wait in the queue)
    message: str = ""


def generate_request(client: Client, rng: random.Random, steps: int, max_images: int, timeout: float) -> Outcome:
    """One /generate call, watched until it ends; never raises."""
    images = rng.randint(1, max_images)
    started = time.perf_counter()
    args = (rng.choice(PROMPTS), "", steps, 3.0, images, rng.randrange(2**31), "dpm++")
    try:
        job = client.submit(*args, api_name="/generate")
    except Exception as error:  # noqa: BLE001 (every failure is counted, none ends the user)
        return Outcome("error", time.perf_counter() - started, message=f"{type(error).__name__}: {error}")
    wait = None
    while not job.done():
        if wait is None and job.outputs():
            wait = time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            job.cancel()
            return Outcome("hung", timeout, wait, f"no answer in {timeout:.0f} s")
        time.sleep(POLL_S)
    latency = time.perf_counter() - started
    try:
        result = job.result(timeout=1)
    except QueueError as error:
        return Outcome("busy", latency, message=str(error))
    except Exception as error:  # noqa: BLE001
        return Outcome("error", latency, wait, f"{type(error).__name__}: {error}")
    status, gallery = result[1], result[3] or []
    if isinstance(status, str) and status.startswith("Done") and len(gallery) == images:
        return Outcome("completed", latency, wait if wait is not None else latency)
    return Outcome("error", latency, wait, f"status {str(status)[:120]!r}, {len(gallery)} of {images} images")


@dataclass
class Level:
    users: int
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def of(self, kind: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.kind == kind]


def run_level(
    url: str,
    users: int,
    requests: int,
    steps: int = 4,
    max_images: int = 4,
    timeout: float = 300.0,
    pause: float = 1.0,
    seed: int = 0,
) -> Level:
    """`users` sessions at once sharing `requests` requests; a user told "busy" waits `pause` s first."""
    level, lock = Level(users), threading.Lock()
    tickets = iter(range(requests))
    clients = [Client(url, verbose=False, download_files=False) for _ in range(users)]

    def user(index: int):
        rng = random.Random(seed * 1000 + index)
        while True:
            with lock:
                if next(tickets, None) is None:
                    return
            outcome = generate_request(clients[index], rng, steps, max_images, timeout)
            with lock:
                level.outcomes.append(outcome)
            if outcome.kind == "busy":
                time.sleep(pause * rng.uniform(0.5, 1.5))

    started = time.perf_counter()
    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    level.seconds = time.perf_counter() - started
    for client in clients:
        client.close()
    return level


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def level_row(level: Level) -> str:
    done = level.of("completed")
    latency = [o.latency for o in done]
    wait = [o.wait for o in done if o.wait is not None]
    return (
        f"| {level.users} | {len(level.outcomes)} | {len(done)} | {len(level.of('busy'))} | "
        f"{len(level.of('error'))} | {len(level.of('hung'))} | {percentile(latency, 50):.2f} | "
        f"{percentile(latency, 95):.2f} | {percentile(wait, 50):.2f} | {percentile(wait, 95):.2f} | "
        f"{len(done) / level.seconds:.2f} |"
    )


LEVEL_HEADER = (
    "| users | requests | completed | busy | errors | hung | latency p50 (s) | latency p95 (s) | "
    "queue wait p50 (s) | queue wait p95 (s) | completed/s |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


# ---------------------------------------------------------------- a client that goes away mid-run


def generate_event(url: str, *values) -> tuple[int, list]:
    """The queue's number for the text tab's /generate event and the data a browser sends to run it:
    `values` for its first inputs, every later input (a model choice, the session's history) as the page
    starts it."""
    config = httpx.get(url + "config", timeout=30).json()
    event = next(dep for dep in config["dependencies"] if dep.get("api_name") == "generate")
    defaults = {component["id"]: component.get("props", {}).get("value") for component in config["components"]}
    data = [defaults.get(component) for component in event["inputs"]]
    return event["id"], [*values, *data[len(values) :]]


def start_and_close_stream(url: str, steps: int, images: int, timeout: float, while_sampling) -> float:
    """What a closed browser tab does: join the queue, read the run's updates until it is sampling (its
    second update: the first clears the page, each later one is a step), call `while_sampling()`, then
    drop the connection. Returns the seconds until it was sampling."""
    session = uuid.uuid4().hex[:11]
    fn_index, data = generate_event(url, "a coat", "", steps, 3.0, images, 1, "dpm++")
    body = {"data": data, "event_data": None, "fn_index": fn_index, "trigger_id": None, "session_hash": session}
    started, updates = time.perf_counter(), 0
    with httpx.Client(timeout=timeout) as http:
        http.post(url + "gradio_api/queue/join", json=body).raise_for_status()
        with http.stream("GET", url + "gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:]).get("msg")
                    updates += message == "process_generating"
                    if message == "process_completed":
                        raise RuntimeError(f"the long request ended before its client could leave: {line[:300]}")
                if updates >= 2:
                    sampling = time.perf_counter() - started
                    while_sampling()
                    return sampling  # leaving the `with` blocks hangs up
                if time.perf_counter() - started > timeout:
                    break
    raise TimeoutError("the long request never started sampling")


def start_and_cancel(url: str, steps: int, images: int, timeout: float, while_sampling) -> float:
    """gradio_client's way of going away: submit, wait until it is sampling, `job.cancel()`."""
    client = Client(url, verbose=False, download_files=False)
    started = time.perf_counter()
    job = client.submit("a coat", "", steps, 3.0, images, 1, "dpm++", api_name="/generate")
    while len(job.outputs()) < 2:  # the first update clears the page, each later one is a step
        if job.done() or time.perf_counter() - started > timeout:
            raise TimeoutError(f"the long request never started sampling (done: {job.done()})")
        time.sleep(POLL_S)
    sampling = time.perf_counter() - started
    while_sampling()
    # gradio_client waits 5 s for /cancel's answer, which comes once the run has stopped (at its next step);
    # a loaded server can take longer. The cancel is made all the same; the next request shows its effect.
    with contextlib.suppress(httpx.TimeoutException):
        job.cancel()
    client.close()
    return sampling


@dataclass
class Disconnect:
    how: str
    sampling_after: float  # seconds until the long request was sampling (then its client left)
    next_request: Outcome  # a small request sent right after
    busy_cpu: float  # the server's CPU use (cores) while the long request was sampling
    quiet_cpu: float  # the same once the small request was done: near 0 if the abandoned run stopped


def cpu_rate(pid: int, seconds: float) -> float:
    """Cores the process used over the next `seconds`."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def disconnect_check(
    url: str, pid: int, how: str, steps: int = 100, images: int = 16, timeout: float = 300.0, settle: float = 2.0
) -> Disconnect:
    """A long request whose client leaves while it samples ("cancelled" or "stream closed"), then a small
    request from another session: its queue wait shows whether the slot was freed."""
    leave = start_and_close_stream if how == "stream closed" else start_and_cancel
    busy = []
    sampling = leave(url, steps, images, timeout, lambda: busy.append(cpu_rate(pid, settle)))
    client = Client(url, verbose=False, download_files=False)
    outcome = generate_request(client, random.Random(7), steps=4, max_images=1, timeout=timeout)
    client.close()
    return Disconnect(how, sampling, outcome, busy[0], cpu_rate(pid, settle))


# ---------------------------------------------------------------- many clients fetching every picture


ERROR_SIGNS = ("LocalProtocolError", "Too much data for declared Content-Length", "Traceback")


def urls_in(value) -> list[str]:
    """Every file URL inside one output of the API (a picture, a gallery, a list of downloads)."""
    if isinstance(value, dict):
        found = [value["url"]] if isinstance(value.get("url"), str) else []
        return found + [url for item in value.values() for url in urls_in(item)]
    if isinstance(value, (list, tuple)):
        return [url for item in value for url in urls_in(item)]
    return []


def one_client(url: str, runs: int, counts: dict, lock: threading.Lock) -> None:
    client = Client(url, verbose=False, download_files=False)
    with httpx.Client(timeout=60) as http:
        for run in range(runs):
            if run % 2:
                job = client.submit("a sneaker", "an ankle boot", 3, 4, 3.0, 7, "dpm++", api_name="/interpolate")
            else:
                job = client.submit("a sneaker", "", 4, 3.0, 2, 1234, "dpm++", api_name="/generate")
            fetched, failed = 0, 0
            for output in job:  # every streamed update, as the page gets them
                for file_url in urls_in(output):
                    try:
                        response = http.get(file_url)
                        response.raise_for_status()
                        fetched += 1
                    except httpx.HTTPError:
                        failed += 1
            job.result()
            with lock:
                counts["runs"] += 1
                counts["fetched"] += fetched
                counts["failed"] += failed
