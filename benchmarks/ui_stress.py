"""Stress test of the web server's file responses: several clients run the same requests at once and
fetch every picture the page shows, as a browser does, while the server logs are searched for h11's
"Too much data for declared Content-Length" (LocalProtocolError).

    python benchmarks/ui_stress.py [--clients 4] [--runs 50] [--app app.py] [--checkpoint DIR]

The cause it reproduced: Gradio writes a picture handed to it as a PIL image into its cache under a
name made from the picture's content, rewriting that file each time the same picture is sent again
(the last step's preview sent once more with the results; the same seed in two sessions). A browser
reading the file meanwhile was promised the length of a half-written file. The page now hands Gradio
files it wrote once (diffusion/ui/files.py), which Gradio copies atomically; the run finds no errors.
`--app` runs another copy of app.py (e.g. from a checkout of an older commit) to compare.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from gradio_client import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import ui_server  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--runs", type=int, default=50, help="runs per client")
    parser.add_argument("--app", type=Path, default=ROOT / "app.py")
    parser.add_argument("--checkpoint", type=Path, help="pipeline to serve (default: a tiny random one)")
    args = parser.parse_args()

    ui_server.ROOT = args.app.resolve().parent  # start_app runs ROOT / "app.py"
    log: list[str] = []
    process, url = ui_server.start_app(args.checkpoint or ui_server.tiny_pipeline(), "--concurrency", "2", log=log)
    counts, lock = {"runs": 0, "fetched": 0, "failed": 0}, threading.Lock()
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(args.clients) as pool:
            for future in [pool.submit(one_client, url, args.runs, counts, lock) for _ in range(args.clients)]:
                future.result()
        time.sleep(2)  # the last log lines
    finally:
        process.terminate()
        process.wait(timeout=30)
    errors = [line.rstrip() for line in log if any(sign in line for sign in ERROR_SIGNS)]
    print("| app | clients | runs | files fetched | failed fetches | server errors | seconds |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.app} | {args.clients} | {counts['runs']} | {counts['fetched']} | {counts['failed']} | "
        f"{sum('LocalProtocolError' in line for line in errors)} | {time.perf_counter() - started:.0f} |"
    )
    for line in errors[:5]:
        print("  ", line)


if __name__ == "__main__":
    main()
