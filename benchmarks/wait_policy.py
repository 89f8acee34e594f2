"""Training speed under OpenMP's three wait policies, on a quiet machine and with one core kept busy: the
measurement behind diffusion/common/openmp.py.

    python benchmarks/wait_policy.py --config configs/quick.yaml --steps 60

Each (policy, machine) pair trains the recipe for --steps steps in a fresh `python -m diffusion.train`
process whose environment sets the policy; "one core busy"
runs a pure-Python loop in another process meanwhile, as a second job or a visitor's drawing would. Images/s
come from loss.csv after the first log row (the caption bank and the first steps are not counted).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from machine import matmul_gflops  # benchmarks/machine.py, beside this script
from train_tab import logged_speed  # images/s from a run's loss.csv

# What each row adds to the environment. The training command would set ACTIVE where nothing is set, so
# GNU OpenMP's default (spin about 3 ms, then sleep) is named by its spin count, which overrides any policy.
POLICIES = {
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
    "OpenMP's default (GOMP_SPINCOUNT=300000)": {"GOMP_SPINCOUNT": "300000"},
}
BUSY_LOOP = "while True: pass"


def train(config: str, steps: int, policy: dict[str, str], folder: Path) -> None:
    unset = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    environment = {name: value for name, value in os.environ.items() if name not in unset} | policy
    command = [sys.executable, "-m", "diffusion.train", "--config", config, "--max-steps", str(steps)]
    command += ["--output-dir", str(folder), "--sample-every", "0", "--checkpoint-every", str(steps)]
    subprocess.run(command, env=environment, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/quick.yaml")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32, help="the recipe's batch size, for images/s")
    args = parser.parse_args()
    rate = matmul_gflops()
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, fp32 matmul {rate:.0f} GFLOP/s; {args.config}")
    print("| OMP_WAIT_POLICY | quiet machine, images/s | one core busy, images/s |\n|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="wait-policy-") as root:
        for name, policy in POLICIES.items():
            speeds = []
            for busy in (False, True):
                hog = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
                try:
                    folder = Path(root) / f"{name[:6]}-{busy}"
                    train(args.config, args.steps, policy, folder)
                    speeds.append(logged_speed(folder, args.batch_size)[0])
                finally:
                    if hog is not None:
                        hog.kill()
                        hog.wait()
            print(f"| {name} | {speeds[0]:.1f} | {speeds[1]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
