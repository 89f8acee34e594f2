"""The web UI: type a prompt, watch the noise turn into a picture step by step, see where each word looked.

    python app.py                                   # the shipped model on http://127.0.0.1:7860
    python app.py --checkpoint runs/fashion-mnist   # a pipeline folder or a training run folder
    python app.py --host 0.0.0.0 --port 8000        # reachable from other machines
    python app.py --fast-checkpoint runs/fast       # another few-step model for the "Fast" choice and Live
    python app.py --train-config tiny=configs/tiny.yaml   # the Train tab offers this recipe (default: quick, full)
    python app.py --also digits=runs/mnist/pipeline       # another model offered beside --checkpoint

This file only parses the flags, loads the pipelines and launches the page; the page is diffusion/ui/.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from diffusion.common.folders import CHECKPOINTS, SHIPPED_PIPELINE, SHIPPED_STUDENT

ROOT = Path(__file__).resolve().parent
DEFAULT_CHECKPOINT = SHIPPED_PIPELINE
DEFAULT_FAST = SHIPPED_STUDENT  # the shipped model's distilled student
# Other shipped models, offered beside the shipped one where their folders exist (another dataset's).
DEFAULT_OTHERS = {"digits": CHECKPOINTS / "mnist"}
# The Train tab's recipes: minutes to recognisable garments on 2 cores, and the shipped model's hour.
DEFAULT_RECIPES = {"quick": ROOT / "configs" / "quick.yaml", "full": ROOT / "configs" / "fashion_mnist.yaml"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Web UI: text to image with a live view of every denoising step.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python app.py\n  python app.py --checkpoint runs/fashion-mnist --port 8000\n"
        "  python app.py --host 0.0.0.0 --concurrency 2",
    )
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="pipeline folder or training run folder")
    parser.add_argument(
        "--fast-checkpoint",
        default=None,
        help="a few-step pipeline (python -m diffusion.distill) offered beside --checkpoint, with Live drawing; "
        f"default: {DEFAULT_FAST.relative_to(ROOT)} when serving the shipped model; 'none': no fast model",
    )
    parser.add_argument(
        "--also",
        action="append",
        metavar="NAME=DIR",
        help="another model the page offers beside --checkpoint (repeat for more); default: "
        + ", ".join(f"{name}={path.relative_to(ROOT)}" for name, path in DEFAULT_OTHERS.items())
        + " when serving the shipped model and the folder exists; 'none': no other",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all interfaces)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--share", action="store_true", help="also open a public Gradio share link (needs internet)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--concurrency", type=int, default=1, help="how many generations run at once")
    parser.add_argument("--queue-size", type=int, default=32, help="how many requests may wait in the queue")
    parser.add_argument("--max-steps", type=int, default=100, help="most denoising steps one request may ask for")
    parser.add_argument("--max-images", type=int, default=16, help="most images one request may ask for")
    parser.add_argument(
        "--train-config",
        action="append",
        metavar="NAME=CONFIG",
        help="a recipe the Train tab offers (repeat for more); default: "
        + ", ".join(f"{name}={path.relative_to(ROOT)}" for name, path in DEFAULT_RECIPES.items())
        + "; 'none': no Train tab",
    )
    parser.add_argument("--train-dir", default=str(ROOT / "runs" / "web"), help="where the Train tab's runs go")
    return parser.parse_args(argv)


def training_recipes(args) -> dict[str, Path]:
    """The Train tab's recipes by name ({} for none); a malformed or missing one is an error."""
    given = args.train_config or []
    if any(item.strip().lower() == "none" for item in given):
        return {}
    if not given:
        return dict(DEFAULT_RECIPES)
    return named_paths(given, "--train-config", "NAME=CONFIG, e.g. quick=configs/quick.yaml", Path.is_file)


def other_checkpoints(args) -> dict[str, Path]:
    """The other models by the name the page shows; by default the shipped ones that exist, beside the
    shipped model only. A malformed or missing one named on the command line is an error."""
    given = args.also or []
    if any(item.strip().lower() == "none" for item in given):
        return {}
    if not given:
        shipped = Path(args.checkpoint).resolve() == DEFAULT_CHECKPOINT
        return {name: path for name, path in DEFAULT_OTHERS.items() if shipped and path.is_dir()}
    return named_paths(given, "--also", "NAME=DIR, e.g. digits=checkpoints/mnist", Path.exists)


def named_paths(given: list[str], flag: str, form: str, present) -> dict[str, Path]:
    """NAME=PATH items of a repeatable flag by name; a malformed item or a missing path is an error."""
    named = {}
    for item in given:
        name, _, path = item.partition("=")
        if not name.strip() or not path.strip():
            raise ValueError(f"{flag} {item}: give {form}")
        if not present(Path(path)):
            raise ValueError(f"{flag} {item}: {path} does not exist")
        named[name.strip()] = Path(path)
    return named


def fast_checkpoint(args) -> tuple[Path | None, bool]:
    """The fast model's folder (None: none) and whether it was named: by default the shipped student,
    and only beside the shipped model, whose student it is."""
    if args.fast_checkpoint is not None:
        given = args.fast_checkpoint.strip().lower() not in ("", "none")
        return (Path(args.fast_checkpoint) if given else None), given
    shipped = Path(args.checkpoint).resolve() == DEFAULT_CHECKPOINT and DEFAULT_FAST.is_dir()
    return (DEFAULT_FAST if shipped else None), False


def main(argv=None) -> int:
    args = parse_args(argv)
    if not Path(args.checkpoint).exists():  # answered before the slow imports
        print(f"error: checkpoint {args.checkpoint} does not exist; train one with `python -m diffusion.train` "
              "or pass --checkpoint with a pipeline or run folder", file=sys.stderr)  # fmt: skip
        return 2
    fast_path, fast_given = fast_checkpoint(args)
    if fast_given and not fast_path.exists():
        print(f"error: fast checkpoint {fast_path} does not exist; make one with `python -m diffusion.distill` "
              "or leave --fast-checkpoint out", file=sys.stderr)  # fmt: skip
        return 2
    try:
        recipes = training_recipes(args)
        other_paths = other_checkpoints(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from diffusion.common.errors import UserError

    try:
        if args.concurrency < 1 or args.queue_size < 1:
            raise UserError("--concurrency and --queue-size must be at least 1")
        from diffusion.sampling.pipeline import TextToImagePipeline
        from diffusion.sampling.settings import Limits

        limits = Limits(max_steps=args.max_steps, max_images=args.max_images)
        pipe = TextToImagePipeline.from_pretrained(args.checkpoint, device=args.device)
        pipe("warm up", num_inference_steps=1)  # loads the text encoder now, not on the first visitor's click
        others = {
            name: (TextToImagePipeline.from_pretrained(path, device=args.device), str(path))
            for name, path in other_paths.items()
        }
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        fast = TextToImagePipeline.from_pretrained(fast_path, device=args.device) if fast_path else None
        if fast is not None:
            fast("warm up")
    except UserError as error:
        print(f"{'error' if fast_given else 'warning'}: fast checkpoint {fast_path}: {error}", file=sys.stderr)
        if fast_given:
            return 2
        fast = None  # the shipped student is broken: the page still works, without the model choice

    import gradio as gr

    from diffusion.ui import CSS, PAGE_JS, App, build_ui
    from diffusion.ui.training_run import TrainingRuns

    training = TrainingRuns(recipes, Path(args.train_dir)) if recipes else None
    app = App.serving(pipe, limits, args.checkpoint, fast, str(fast_path), training, others)
    cleanup = app.folders.cleanup
    # Serve the run folders' files from where they are, instead of Gradio copying each into its cache: the
    # copies are only deleted after hours (delete_cache), so their number grew with every request (about 20
    # files, 0.3 MB per small request; benchmarks/ui_load.py), while the run folders keep only the newest runs.
    # Safe to serve in place: no file there changes once handed out (diffusion/ui/files.py, live.py; an
    # attention map redrawn on a click is written anew, atomically, with the same bytes).
    # The Train tab's sample strips are served from the run folders in place too: each is written once.
    gr.set_static_paths([app.folders.root, *([Path(args.train_dir)] if training else [])])
    demo = build_ui(app, docs=ROOT / "docs")
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    try:
        _, local_url, share_url = demo.launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            prevent_thread_lock=True,
            quiet=True,
            show_error=False,
            allowed_paths=[str(ROOT / "docs")],
            ssr_mode=False,
            css=CSS,
            js=PAGE_JS,
        )
    except OSError as error:
        cleanup()
        print(f"error: cannot listen on {args.host}:{args.port} ({error}); pick another --port", file=sys.stderr)
        return 2
    print(f"Running on {local_url}" + (f" and {share_url}" if share_url else ""), flush=True)
    try:
        demo.block_thread()
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
