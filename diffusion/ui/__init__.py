"""The web page: type a prompt, watch the noise turn into a picture step by step, see where each word looked.

    layout.py     the page, top to bottom, and which handler each button calls
    handlers.py   what the buttons do: module functions over the shared App (state.py)
    runs.py       one run as a stream of page updates (updates.py); its files (files.py)
    requests.py   a request checked into GenerationSettings; streaming.py runs the pipeline step by step
    live.py       the fast model's Live drawing as the prompt is typed, and the model choice's settings
    panels.py     the repeated pieces of the layout; render.py the pictures; history.py past runs
    text.py       the words of the page
    train_tab.py  the Train tab; train_handlers.py its buttons and timer, train_views.py its status and plots,
                  training_run.py the run itself, one at a time, trained in training_worker.py's process
                  (no Gradio in either)

app.py parses the command line and launches `build_ui(App.serving(pipe, limits, checkpoint, fast, ...), docs)`.
"""

from .layout import build_ui
from .panels import CSS, PAGE_JS
from .state import App

__all__ = ["CSS", "PAGE_JS", "App", "build_ui"]
