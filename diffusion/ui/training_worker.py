"""The process a run started from the web page trains in: training_run.TrainingRun starts it and talks to it
through two queues, news out (the loop's events and the run's turns) and orders in (pause, resume, stop).

A process of its own, not a thread of the web server: it trains as `python -m diffusion.train` does and at
its speed, with OpenMP's wait policy of its own (common/openmp.py: the server's threads sleep between two
parallel regions, which halves training on 2 cores), without sharing the interpreter lock with the pages
the server draws, and a run that crashes or is killed cannot take the server with it.

Orders are read between two steps, so a pause holds the loop there and a stop ends it after the step in
flight, with a checkpoint. A run whose server has gone (killed, not stopped) stops itself the same way.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback

from ..common.config import Config
from ..common.errors import UserError
from ..training.loop import DIVERGED, INTERRUPTED, STEP
from ..training.train import Training, prepare_training

# News to the server, each a (kind, value) pair.
PREPARED = "prepared"  # (the time budget's deadline, the network view's caption): the first step comes next
EVENT = "event"  # a LoopEvent, after loss.csv has it
HELD = "held"  # the loop holds between two steps (paused)
GOING = "going"  # the loop goes on after a pause; the deadline, moved on by the pause
EXPORTING = "exporting"  # the loop has stopped; the final pipeline is being written
FINAL = "final"  # (why: a loop stop reason, or FAILURE; the message for the page). The last news.
FAILURE = "failure"
# Orders from the server.
PAUSE, RESUME, STOP = "pause", "resume", "stop"
PARENT_CHECK_S = 2.0  # how often a paused run looks whether its server is still there


def train_in_process(config: Config, command: str, news: multiprocessing.Queue, orders: multiprocessing.Queue):
    """The child process's work: the whole run, told as news; never raises (the news says what went wrong)."""
    try:
        training = prepare_training(config, command=command, watched=True)
        news.put((PREPARED, (training.loop.schedule.deadline, training.network_view_caption)))
        take_orders(training, orders, news)  # a stop or pause asked for while preparing
        for event in training.events():
            training.write_logs(event)
            news.put((EVENT, event))
            if event.kind == STEP:
                take_orders(training, orders, news)
        news.put(finish(training, news))
    except UserError as error:
        news.put((FINAL, (FAILURE, str(error))))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM reached this process too: the loop saved a checkpoint first
        message = f"Interrupted (the server is stopping); its checkpoints are in {config.train.output_dir}."
        news.put((FINAL, (INTERRUPTED, message)))
    except Exception as error:  # a bug, not the visitor's doing: the server's log has the details
        traceback.print_exc()
        news.put((FINAL, (FAILURE, f"the run failed ({type(error).__name__}: {error})")))


def finish(training: Training, news: multiprocessing.Queue) -> tuple:
    """The FINAL news of a loop that has stopped: a diverged one keeps its last good checkpoint, exports nothing."""
    loop = training.loop
    if loop.stop_reason == DIVERGED:
        return FINAL, (DIVERGED, loop.divergence() + ".")
    news.put((EXPORTING, None))
    pipeline = loop.finish()
    return FINAL, (loop.stop_reason, f"{loop.step} steps; the final pipeline is in {pipeline}.")


def server_gone() -> bool:
    parent = multiprocessing.parent_process()
    return parent is not None and not parent.is_alive()


def take_orders(training: Training, orders: multiprocessing.Queue, news: multiprocessing.Queue) -> None:
    """Between two steps: do what the server asked since the last step."""
    if server_gone():
        training.loop.request_stop()
    while True:
        try:
            order = orders.get_nowait()
        except queue.Empty:
            return
        if order == STOP:
            training.loop.request_stop()
        elif order == PAUSE:
            hold(training, orders, news)


def hold(training: Training, orders: multiprocessing.Queue, news: multiprocessing.Queue) -> None:
    """Paused: wait for resume or stop; the pause does not count against the time budget."""
    started = time.time()
    news.put((HELD, None))
    order = PAUSE
    while order == PAUSE:
        try:
            order = orders.get(timeout=PARENT_CHECK_S)
        except queue.Empty:
            order = STOP if server_gone() else PAUSE
    training.loop.paused_for(time.time() - started)
    news.put((GOING, training.loop.schedule.deadline))
    if order == STOP:
        training.loop.request_stop()
