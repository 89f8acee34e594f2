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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import ui_server  # noqa: E402
from tests.load_harness import ERROR_SIGNS, one_client  # noqa: E402


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
