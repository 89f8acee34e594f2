"""The web page: Gradio Blocks layout and the handlers behind its buttons.

Three tabs share one pattern: a handler checks the request (diffusion/ui_runs.py), runs the pipeline in
a worker thread and yields a page update after each denoising step (live preview), then the results.
Everything a run makes lives in its own folder and in per-session `gr.State`, so visitors never see each
other's images. A `UserError` becomes a `gr.Error`: a message in the page, never a traceback.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import PIL.Image

from .errors import UserError
from .nearest_caption import caption_index_of
from .pipeline import DEFAULT_GUIDANCE, MAX_GUIDANCE
from .schedulers import DEFAULT_SCHEDULER, SCHEDULERS
from .ui_render import (
    attention_heatmaps,
    enlarge,
    is_blank,
    preview_frame,
    sketch_to_input,
    snapshot,
    snapshot_steps,
    strip_frame,
)
from .ui_runs import (
    RANDOM_SEED,
    Limits,
    RunFolders,
    Settings,
    StopSignals,
    Timer,
    blend_kwargs,
    blend_weights,
    check_blend,
    check_settings,
    random_seed,
    save_blend,
    save_results,
    stream_pipeline,
)
from .ui_text import (
    DOC_PATH,
    EXAMPLE_PROMPTS,
    HINTS,
    HOW_IT_WORKS,
    INTERPOLATION_EXAMPLES,
    file_url,
    walkthrough,
)


def user_errors(handler):
    """Show a UserError raised by a (generator) handler as a message in the page, not a server error."""

    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        try:
            yield from handler(*args, **kwargs)
        except UserError as error:
            text = str(error)
            raise gr.Error(text[:1].upper() + text[1:], print_exception=False) from None

    return wrapped


@dataclass
class Controls:
    steps: gr.Slider
    guidance: gr.Slider
    scheduler: gr.Dropdown
    seed: gr.Number
    count: gr.Slider


@dataclass
class Results:
    preview: gr.Image
    status: gr.Markdown
    seed_used: gr.Number
    gallery: gr.Gallery
    files: gr.File
    snapshots: gr.Gallery | None = None
    attention: gr.Gallery | None = None
    attention_note: gr.Markdown | None = None
    state: gr.State | None = None


def settings_controls(limits: Limits, count: tuple[str, int, int, int, str], elem_prefix: str) -> Controls:
    """Steps, guidance, scheduler, seed and a count; `count` is (label, minimum, maximum, value, hint)."""
    count_label, count_min, count_max, count_value, hint = count
    with gr.Accordion("Settings", open=False):
        with gr.Row():
            steps = gr.Slider(
                1, limits.max_steps, value=20, step=1, label="Steps", info=HINTS["steps"], elem_id=f"{elem_prefix}steps"
            )
            guidance = gr.Slider(
                0, MAX_GUIDANCE, value=DEFAULT_GUIDANCE, step=0.5, label="Guidance scale", info=HINTS["guidance"]
            )
        with gr.Row():
            scheduler = gr.Dropdown(
                list(SCHEDULERS), value=DEFAULT_SCHEDULER, label="Scheduler", info=HINTS["scheduler"]
            )
            count = gr.Slider(
                count_min,
                count_max,
                value=count_value,
                step=1,
                label=count_label,
                info=hint,
                elem_id=f"{elem_prefix}count",
            )
        with gr.Row():
            seed = gr.Number(RANDOM_SEED, precision=0, label="Seed", info=HINTS["seed"], scale=4)
            dice = gr.Button("New random seed", scale=1, size="md")
    dice.click(random_seed, outputs=seed, queue=False, api_visibility="private")
    return Controls(steps, guidance, scheduler, seed, count)


PREVIEW_LABEL = "Live denoising: noisy image x_t (left) · the model's guess x0 (right)"
STRIP_LABEL = "Live denoising: noisy images x_t (top row) · the model's guesses x0 (bottom row)"


def result_panel(with_attention: bool, elem_prefix: str) -> Results:
    with gr.Row():
        with gr.Column():
            preview = gr.Image(
                label=PREVIEW_LABEL if with_attention else STRIP_LABEL,
                format="png", interactive=False, elem_id=f"{elem_prefix}preview", elem_classes="pixelated",
            )  # fmt: skip
            status = gr.Markdown("Press Generate to start.", elem_id=f"{elem_prefix}status")
        with gr.Column():
            gallery = gr.Gallery(
                label="Results (click one to see its attention)" if with_attention else "Blends: A (w=0) to B (w=1)",
                format="png", columns=4 if with_attention else 5, height=300, elem_id=f"{elem_prefix}gallery",
                elem_classes="pixelated", interactive=False,
            )  # fmt: skip
            with gr.Row():
                seed_used = gr.Number(label="Seed used", interactive=False, precision=0, scale=1)
                files = gr.File(
                    label="Downloads: PNGs (settings inside) and the denoising GIF", file_count="multiple", scale=3
                )
    results = Results(preview, status, seed_used, gallery, files)
    if with_attention:
        with gr.Accordion("Snapshots: image 1 at a few steps (x_t above, x0 below)", open=True):
            results.snapshots = gr.Gallery(
                columns=6, height=300, format="png", elem_classes="pixelated", show_label=False, object_fit="contain"
            )
        with gr.Accordion("Attention: where each word looked", open=True):
            results.attention_note = gr.Markdown(
                "Cross-attention of the prompt's words over the image, averaged over all steps and layers: "
                "bright = this part of the picture looked at this word. The percentage is the word's share."
            )
            results.attention = gr.Gallery(
                columns=6, height=260, format="png", show_label=False, elem_id=f"{elem_prefix}attention"
            )
        results.state = gr.State(None)
    return results


def build_ui(pipe, limits: Limits, checkpoint: str, docs: Path) -> tuple[gr.Blocks, callable]:
    """The Blocks app for `pipe`, and a function that deletes its files when the server stops."""
    folders, signals = RunFolders(), StopSignals()
    checkpoint_name = Path(checkpoint).name
    doc_url = file_url(Path(docs) / Path(DOC_PATH).name)
    index = caption_index_of(pipe)  # loaded or built now, so the first request does not wait for it

    def reading(prompt: str) -> str:
        """How the encoder reads the prompt, when the model's training captions are known."""
        return f" {index.describe(prompt)}" if index is not None and prompt.strip() else ""

    def stream_steps(settings: Settings, kwargs: dict, results: Results, total: int, stop, frame=preview_frame):
        """Stream one pipeline call: clear the old results, then a preview per step. Returns (frames, output);
        output is None when the run was stopped, and then the status says so."""
        cleared = {results.gallery: None, results.files: None, results.seed_used: settings.seed}
        if results.state is not None:
            cleared |= {results.snapshots: None, results.attention: None, results.state: None}
        yield cleared | {results.status: f"Starting: {total} steps…"}
        frames, output = [], None
        if not stop.is_set():
            for item in stream_pipeline(pipe, kwargs, total, stop):
                if isinstance(item, list):
                    frames.extend(item)
                    yield {results.preview: frame(item[-1].x_t, item[-1].x0), results.status: item[-1].describe()}
                else:
                    output = item
        if output is None:
            yield {results.status: f"Stopped after {len(frames)} of {total} steps. Press Generate to start again."}
        return frames, output

    def images_run(settings: Settings, kwargs: dict, results: Results, total: int, stop):
        """Text or sketch to images: live steps, then gallery, downloads, snapshots and attention."""
        timer = Timer()
        frames, output = yield from stream_steps(settings, kwargs | {"return_attention": True}, results, total, stop)
        if output is None:
            return
        paths = save_results(folders.new(), output.images, settings, output.seeds, frames, checkpoint_name)
        gallery = [(enlarge(image, 8), f"seed {seed}") for image, seed in zip(output.images, output.seeds, strict=True)]
        snaps = [
            (snapshot(frames[i].x_t, frames[i].x0), f"step {frames[i].step + 1} · σ {frames[i].sigma:.2f}")
            for i in snapshot_steps(len(frames))
        ]
        state = {"maps": output.attention_maps, "tokens": output.tokens, "images": frames[-1].x_t.clamp(-1, 1)}
        first, last = output.seeds[0], output.seeds[-1]
        seeds = f"seed {first}" if first == last else f"seeds {first}–{last}"
        yield {
            results.preview: preview_frame(frames[-1].x_t, frames[-1].x0),
            results.seed_used: settings.seed,
            results.gallery: gallery,
            results.files: paths,
            results.snapshots: snaps,
            results.attention: heatmaps(state, 0),
            results.state: state,
            results.status: f"Done in {timer}: {len(gallery)} image{'s' * (len(gallery) > 1)}, {seeds}."
            + reading(settings.prompt),
        }

    def blend_run(settings: Settings, results: Results, stop):
        """Interpolation: live steps of the whole strip, then the strip with its blend weights."""
        timer = Timer()
        kwargs = blend_kwargs(pipe, settings)
        frames, output = yield from stream_steps(settings, kwargs, results, settings.steps, stop, frame=strip_frame)
        if output is None:
            return
        paths = save_blend(folders.new(), output.images, settings, checkpoint_name)
        weights = blend_weights(len(output.images))
        gallery = [(enlarge(image, 8), f"w = {w:.2f}") for image, w in zip(output.images, weights, strict=True)]
        yield {
            results.preview: strip_frame(frames[-1].x_t, frames[-1].x0),
            results.seed_used: settings.seed,
            results.gallery: gallery,
            results.files: paths,
            results.status: f"Done in {timer}: {len(gallery)} blends from the same noise (seed {settings.seed}).",
        }

    def heatmaps(state, index: int):
        if not state or state.get("maps") is None or not state.get("tokens"):
            return None
        return attention_heatmaps(state["images"][index], state["maps"][index], state["tokens"])

    @contextlib.contextmanager
    def stop_signal(request: gr.Request, tab: str):
        """This run's Stop event (armed at the click, or new for an API call), forgotten when the run ends."""
        key = (request.session_hash or "", tab)
        event = signals.take(key)
        try:
            yield event
        finally:
            signals.release(key, event)

    @user_errors
    def generate(prompt, negative_prompt, steps, guidance_scale, images, seed, scheduler, request: gr.Request):
        with stop_signal(request, "generate") as stop:
            settings = check_settings(limits, prompt, negative_prompt, steps, guidance_scale, images, seed, scheduler)
            yield from images_run(settings, settings.pipeline_kwargs(), text_results, settings.steps, stop)

    @user_errors
    def from_sketch(
        sketch, prompt, negative_prompt, strength, steps, guidance_scale, images, seed, scheduler, request: gr.Request
    ):
        with stop_signal(request, "sketch") as stop:
            settings = check_settings(
                limits, prompt, negative_prompt, steps, guidance_scale, images, seed, scheduler, strength=strength
            )
            composite = sketch.get("composite") if isinstance(sketch, dict) else sketch
            picture = sketch_to_input(composite)
            if picture is None or is_blank(picture):
                raise UserError("the sketch is empty: draw something (light on dark) or upload a picture first")
            settings.extra = {"init_image": "sketch"}
            total = max(1, round(settings.steps * settings.strength))  # the pipeline skips the noisiest steps
            kwargs = settings.pipeline_kwargs() | {"image": picture}
            yield from images_run(settings, kwargs, sketch_results, total, stop)

    @user_errors
    def interpolate(prompt_a, prompt_b, frames, steps, guidance_scale, seed, scheduler, request: gr.Request):
        with stop_signal(request, "interpolate") as stop:
            settings = check_blend(limits, prompt_a, prompt_b, frames, steps, guidance_scale, seed, scheduler)
            yield from blend_run(settings, blend_results, stop)

    def show_attention(state, event: gr.SelectData):
        maps = heatmaps(state, event.index) if state else None
        if maps is None:
            return gr.skip(), gr.skip()
        return maps, f"Where each word looked in image {event.index + 1} (click another image to switch)."

    with gr.Blocks(title="Tiny text-to-image diffusion", analytics_enabled=False, delete_cache=(3600, 7200)) as demo:
        gr.Markdown(
            "# Watch text turn into an image\n"
            f"A small diffusion model trained on Fashion-MNIST (28×28 pictures of clothes). Model: `{checkpoint_name}`"
            f"{describe_record(pipe.training_record)}. See **How it works** for what each control does."
        )
        with gr.Tabs():
            with gr.Tab("Text to image", id="text"):
                with gr.Row(equal_height=True):
                    prompt = gr.Textbox(
                        label="Prompt", placeholder="a sneaker", info=HINTS["prompt"], scale=4, elem_id="prompt",
                        max_lines=2, value=EXAMPLE_PROMPTS[0],
                    )  # fmt: skip
                    with gr.Column(scale=1, min_width=160):
                        go = gr.Button("Generate", variant="primary", elem_id="generate")
                        stop = gr.Button("Stop", variant="stop", elem_id="stop")
                negative = gr.Textbox(
                    label="Negative prompt", placeholder="(none)", info=HINTS["negative"], max_lines=2
                )
                gr.Examples([[p] for p in EXAMPLE_PROMPTS], inputs=[prompt], label="Example prompts (click to use)")
                text_controls = settings_controls(limits, ("Images", 1, limits.max_images, 4, HINTS["images"]), "")
                text_results = result_panel(True, "")
            with gr.Tab("Sketch to image", id="sketch"):
                with gr.Row():
                    sketch = gr.ImageEditor(
                        value=PIL.Image.new("RGB", (280, 280), "black"), type="pil", image_mode="RGBA",
                        sources=["upload", "clipboard"], canvas_size=(280, 280), fixed_canvas=True,
                        brush=gr.Brush(colors=["#ffffff", "#b0b0b0", "#606060", "#000000"], default_color="#ffffff"),
                        label="Draw light on dark (or upload; a light background is inverted)", height=420,
                    )  # fmt: skip
                    with gr.Column():
                        sketch_prompt = gr.Textbox(label="Prompt", value="a bag", info=HINTS["prompt"], max_lines=2)
                        sketch_negative = gr.Textbox(label="Negative prompt", placeholder="(none)", max_lines=2)
                        strength = gr.Slider(0.05, 1, value=0.7, step=0.05, label="Strength", info=HINTS["strength"])
                        with gr.Row():
                            sketch_go = gr.Button("Generate from sketch", variant="primary", elem_id="sketch-generate")
                            sketch_stop = gr.Button("Stop", variant="stop")
                sketch_controls = settings_controls(
                    limits, ("Images", 1, limits.max_images, 4, HINTS["images"]), "sketch-"
                )
                sketch_results = result_panel(True, "sketch-")
            with gr.Tab("Interpolate", id="blend"):
                with gr.Row(equal_height=True):
                    prompt_a = gr.Textbox(label="Prompt A (left)", value="a sneaker", max_lines=2)
                    prompt_b = gr.Textbox(label="Prompt B (right)", value="an ankle boot", max_lines=2)
                    with gr.Column(min_width=160):
                        blend_go = gr.Button("Blend", variant="primary", elem_id="blend-generate")
                        blend_stop = gr.Button("Stop", variant="stop")
                gr.Examples(INTERPOLATION_EXAMPLES, inputs=[prompt_a, prompt_b], label="Example pairs")
                blend_controls = settings_controls(
                    limits, ("Frames", 2, limits.max_frames, 5, HINTS["frames"]), "blend-"
                )
                blend_results = result_panel(False, "blend-")
            with gr.Tab("How it works", id="how"):
                gr.Markdown(HOW_IT_WORKS.format(doc_url=doc_url))
                document = walkthrough(docs)
                if document:
                    with gr.Accordion(f"The full walk-through ({DOC_PATH})", open=False):
                        gr.Markdown(document, elem_classes="pixelated")

        def wire(triggers, button, stop_button, handler, inputs, results: Results, api_name: str):
            """Click: disable the button and arm the tab's Stop at once; then queue the run; then re-enable."""
            tab = api_name  # the key of this tab's Stop signal, as in the handlers' stop_signal()
            outputs = [results.preview, results.status, results.seed_used, results.gallery, results.files]
            if results.state is not None:
                outputs += [results.snapshots, results.attention, results.state]
                results.gallery.select(
                    show_attention, inputs=results.state, outputs=[results.attention, results.attention_note],
                    api_visibility="private",
                )  # fmt: skip

            def arm(request: gr.Request):
                signals.arm((request.session_hash or "", tab))
                return gr.Button(interactive=False)

            def request_stop(request: gr.Request):
                signals.stop((request.session_hash or "", tab))

            quiet = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
            armed = gr.on(triggers, arm, outputs=button, **quiet)
            run = armed.then(
                handler, inputs=inputs, outputs=outputs, api_name=api_name, show_progress="minimal",
                concurrency_id="pipeline",  # one queue for all three tabs: --concurrency runs at once in total
            )  # fmt: skip

            def finished(request: gr.Request):  # also forgets a Stop that was armed for a run that never started
                signals.discard((request.session_hash or "", tab))
                return gr.Button(interactive=True)

            run.success(finished, outputs=button, **quiet)
            run.failure(finished, outputs=button, **quiet)  # (gradio 6 skips .then() after a gr.Error)
            stop_button.click(request_stop, **quiet)

        c = text_controls
        wire(
            [go.click, prompt.submit], go, stop, generate,
            [prompt, negative, c.steps, c.guidance, c.count, c.seed, c.scheduler], text_results, "generate",
        )  # fmt: skip
        c = sketch_controls
        wire(
            [sketch_go.click], sketch_go, sketch_stop, from_sketch,
            [sketch, sketch_prompt, sketch_negative, strength, c.steps, c.guidance, c.count, c.seed, c.scheduler],
            sketch_results, "sketch",
        )  # fmt: skip
        c = blend_controls
        wire(
            [blend_go.click], blend_go, blend_stop, interpolate,
            [prompt_a, prompt_b, c.count, c.steps, c.guidance, c.seed, c.scheduler], blend_results, "interpolate",
        )  # fmt: skip

        def forget(request: gr.Request):  # the tab was closed
            signals.forget_session(request.session_hash or "")

        demo.unload(forget)
    return demo, folders.cleanup


def describe_record(record: dict) -> str:
    """A few words on how the model was trained, from its training record."""
    steps = record.get("steps") if isinstance(record, dict) else None
    if not isinstance(steps, int):
        return ""
    seconds = record.get("wall_time_s")
    return f", trained {steps:,} steps" + (f" in {seconds / 60:.0f} min" if isinstance(seconds, (int, float)) else "")
