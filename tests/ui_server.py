"""The real web app in a subprocess, shared by tests/test_app.py and tests/test_browser.py.

One tiny random pipeline, its few-step student (the "Fast" model) and one server per pytest process:
started on first use, stopped at exit. UI_CHECKPOINT=DIR serves another pipeline instead (e.g. the shipped
one, for the README screenshot), with the shipped fast model beside it where app.py finds one.
"""

from __future__ import annotations

import atexit
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import cache
from pathlib import Path

from diffusion.common.folders import SHIPPED_PIPELINE

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = SHIPPED_PIPELINE
SERVER_LOG: list[str] = []  # everything the shared test server printed, for tests that look for errors
START_TIMEOUT_S = 600  # a loaded 2-core machine can take minutes to import torch and gradio


@cache
def tiny_pipeline() -> Path:
    """A randomly initialised pipeline small enough to sample 20 steps in well under a second."""
    from diffusers import DDPMScheduler

    from diffusion.common.config import ModelConfig
    from diffusion.model.unet import build_unet
    from diffusion.sampling.pipeline import TextToImagePipeline

    folder = Path(tempfile.mkdtemp(prefix="ui-test-pipeline-"))
    atexit.register(shutil.rmtree, folder, True)
    import torch

    torch.manual_seed(0)
    unet = build_unet(ModelConfig(block_out_channels=[16, 32], cross_attention_levels=[False, True]), (1, 28, 28))
    scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    pipe = TextToImagePipeline(unet=unet, scheduler=scheduler)
    pipe.training_record = {"data": {"dataset": "fashion_mnist"}}  # whose captions the UI compares prompts with
    pipe.save_pretrained(folder / "pipeline")
    return folder / "pipeline"


@cache
def tiny_fast_pipeline() -> Path:
    """tiny_pipeline()'s UNet as a few-step student (the guidance input added, untrained: make_student's
    starting point) that stores 4 DDIM steps as its defaults, as a distilled student does."""
    from diffusion.model.student import make_student
    from diffusion.sampling.pipeline import TextToImagePipeline

    teacher = TextToImagePipeline.from_pretrained(tiny_pipeline(), device="cpu")
    student = TextToImagePipeline(unet=make_student(teacher.unet), scheduler=teacher.scheduler)
    student.generation_defaults = {"num_inference_steps": 4, "guidance_scale": 3.0, "scheduler": "ddim"}
    folder = Path(tempfile.mkdtemp(prefix="ui-test-fast-pipeline-"))
    atexit.register(shutil.rmtree, folder, True)
    student.save_pretrained(folder / "pipeline")  # no dataset in its record: no caption index to build
    return folder / "pipeline"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_app(checkpoint: Path, *extra: str, log: list | None = None) -> tuple[subprocess.Popen, str]:
    """Run `python app.py --checkpoint ... --port FREE`; return the process and the address it printed.
    Every line the server prints is appended to `log`, when given, for as long as it runs."""
    command = [sys.executable, str(ROOT / "app.py"), "--checkpoint", str(checkpoint), "--port", str(free_port())]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*command, *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue = queue.Queue()
    log = log if log is not None else []

    def read():
        for line in process.stdout:
            lines.put(line)
            log.append(line)

    threading.Thread(target=read, daemon=True).start()
    seen, deadline = [], time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith("Running on "):
            return process, line.split()[2].rstrip("/") + "/"
    process.kill()
    raise RuntimeError("app.py did not start:\n" + "".join(seen))


@cache
def app_url() -> str:
    """The address of the shared test server (started on first call)."""
    if os.environ.get("UI_CHECKPOINT"):
        process, url = start_app(Path(os.environ["UI_CHECKPOINT"]), log=SERVER_LOG)
    else:
        process, url = start_app(tiny_pipeline(), "--fast-checkpoint", str(tiny_fast_pipeline()), log=SERVER_LOG)

    def stop():
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()

    atexit.register(stop)
    return url
