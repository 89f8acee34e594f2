"""Load test of the web UI: N users at once, each generating in a loop through the text tab's API.

    nice -n 19 python benchmarks/ui_load.py                      # 1, 8, 16 users; 300 requests in all
    python benchmarks/ui_load.py --levels 8 16 --queue-size 4    # a short queue: some users are told "busy"
    python benchmarks/ui_load.py --levels 2 --requests 10        # a quick check that it works

It starts the real app (app.py, through tests/ui_server.py) on the shipped checkpoint, with its own
temporary folder (TMPDIR and GRADIO_TEMP_DIR), so the files the server writes can be counted: Gradio's
cache (every picture the page is sent is copied there) and the app's run folders (diffusion/ui/files.py).

Each user is one gradio_client session that calls /generate in a loop with small requests (1 to
`--max-images` images, `--steps` steps). Every request ends in one of four ways:
- completed: the status says "Done" and the gallery holds as many images as asked for;
- busy: the queue was full (`--queue-size` requests already waiting). Gradio answers HTTP 503 and
  gradio_client raises QueueError, whose message is printed; a browser shows its own "busy" toast
  (Gradio's frontend: "This application is currently busy. Please try again."). The user waits
  `--pause` seconds and sends the next request;
- error: anything else (must be 0);
- hung: no answer within `--timeout` seconds; the request is cancelled (must be 0).

Per level it prints latency p50/p95 (submit to last update) and the queue wait (submit to the run's first
update), throughput, and the server's RSS and files; then the disconnect check: a long request is started,
and once it is sampling its client goes away (a gradio_client cancel, and a stream simply closed as a
closed browser tab does); a small request sent right after must start promptly, and the server's CPU must
go quiet once it is done (the abandoned run stopped instead of sampling on unseen).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import matmul_gflops  # noqa: E402
from tests import ui_server  # noqa: E402
from tests.load_harness import (  # noqa: E402
    LEVEL_HEADER,
    MemoryWatch,
    app_server,
    disconnect_check,
    folder_usage,
    level_row,
    rss_mib,
    run_level,
)

# ---------------------------------------------------------------- the run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 16], help="users at once, per level")
    parser.add_argument("--requests", type=int, default=300, help="requests in all, shared evenly by the levels")
    parser.add_argument("--queue-size", type=int, default=32, help="app.py --queue-size (its default: 32)")
    parser.add_argument("--concurrency", type=int, default=1, help="app.py --concurrency (its default: 1)")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps per request")
    parser.add_argument("--max-images", type=int, default=4, help="each request asks for 1 to this many images")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds after which a request counts as hung")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds a user told 'busy' waits (x0.5 to 1.5)")
    parser.add_argument("--checkpoint", type=Path, default=ui_server.SHIPPED, help="pipeline to serve")
    args = parser.parse_args()

    gflops = matmul_gflops()
    per_level = max(1, args.requests // len(args.levels))
    root = Path(tempfile.mkdtemp(prefix="ui-load-"))
    flags = ("--queue-size", str(args.queue_size), "--concurrency", str(args.concurrency))
    log: list[str] = []
    memory, files, levels, checks = [], [], [], []
    try:
        with app_server(args.checkpoint, root, *flags, log=log) as (process, url):
            watch = MemoryWatch(process.pid)
            memory.append(("start", rss_mib(process.pid)))
            files.append(("start", folder_usage(root)))
            for users in args.levels:
                level = run_level(url, users, per_level, args.steps, args.max_images, args.timeout, args.pause)
                levels.append(level)
                memory.append((f"after {users} users", rss_mib(process.pid)))
                files.append((f"after {users} users", folder_usage(root)))
                print(f"{users} users: {len(level.of('completed'))} of {len(level.outcomes)} completed", flush=True)
            for how in ("cancelled", "stream closed"):
                checks.append(disconnect_check(url, process.pid, how, timeout=args.timeout))
            memory.append(("end", rss_mib(process.pid)))
            files.append(("end", folder_usage(root)))
            watch.stop()
            memory.append(("max", watch.peak))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"\nMachine: fp32 matmul {gflops:.0f} GFLOP/s; {os.cpu_count()} CPUs. Checkpoint {args.checkpoint.name}; "
        f"app.py {' '.join(flags)}; requests of 1-{args.max_images} images, {args.steps} steps dpm++.\n"
    )
    print(LEVEL_HEADER)
    for level in levels:
        print(level_row(level))
    for kind in ("busy", "error", "hung"):
        messages = sorted({o.message for level in levels for o in level.of(kind)})
        for message in messages[:5]:
            print(f"\n{kind}: {message}")
    print("\n| server | RSS (MiB) |\n|---|---|")
    for moment, mib in memory:
        print(f"| {moment} | {mib:.0f} |")
    print("\n| server folders | Gradio cache (MiB / files) | app run folders (MiB / files) |\n|---|---|---|")
    for moment, usage in files:
        cache, runs = usage["gradio cache"], usage["app runs"]
        print(f"| {moment} | {cache[0]:.1f} / {cache[1]} | {runs[0]:.1f} / {runs[1]} |")
    print(
        "\n| client goes away mid-run | sampling after (s) | next request | its queue wait (s) | "
        "its latency (s) | server CPU while sampling / after (cores) |\n|---|---|---|---|---|---|"
    )
    for check in checks:
        nxt = check.next_request
        wait = f"{nxt.wait:.2f}" if nxt.wait is not None else "-"
        print(
            f"| {check.how} | {check.sampling_after:.1f} | {nxt.kind} {nxt.message} | {wait} | "
            f"{nxt.latency:.2f} | {check.busy_cpu:.2f} / {check.quiet_cpu:.2f} |"
        )
    errors = [line.rstrip() for line in log if "Traceback" in line or "Error" in line]
    print(f"\nserver log: {len(errors)} lines with 'Traceback' or 'Error'")
    for line in errors[:5]:
        print("  ", line)


if __name__ == "__main__":
    main()
