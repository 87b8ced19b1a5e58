"""Many small training runs on a few cores: one forked process per run, each on one thread.

Small models train faster as several single-threaded processes than as one process on several
threads, and a single-threaded run does not stall when another program takes a core (threads
of one process wait for each other at every operation). Each key's data (an input kind's
tensors) is loaded in the parent before its first run starts and shared with the forked
runs without copying; it is dropped when the key's last run ends, so at most ``workers``
keys are in memory.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Hashable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

import torch

_loaded: dict[Hashable, Any] = {}  # what forked runs read: inherited, not pickled


def run_jobs(jobs: Sequence[tuple[Hashable, Any]], load: Callable[[Hashable], Any],
             run: Callable[[Any, Any, int], dict], workers: int,
             done: Callable[[Hashable, list[dict]], None] | None = None) -> dict[Hashable, list[dict]]:
    """Run ``run(load(key), job, slot)`` for every ``(key, job)``, ``workers`` at a time.

    Jobs start in order; ``slot`` (0 to ``workers - 1``) tells a run where to draw its progress
    bar. ``done(key, results)`` is called when the last job of a key ends. With one worker,
    runs happen in this process (with its thread setting).

    Returns:
        The results of each key's jobs, in job order.

    Raises:
        RuntimeError: a run failed (with its traceback) or its process died.
    """
    remaining = Counter(key for key, _ in jobs)
    results: dict[Hashable, dict[int, dict]] = defaultdict(dict)
    pending = deque(enumerate(jobs))
    running: dict[Connection, tuple[multiprocessing.Process, Hashable, int, int]] = {}
    context = multiprocessing.get_context("fork")

    def finish(key: Hashable, number: int, result: dict) -> None:
        results[key][number] = result
        remaining[key] -= 1
        if not remaining[key]:
            _loaded.pop(key, None)
            if done is not None:
                done(key, [results[key][n] for n in sorted(results[key])])

    try:
        while pending or running:
            while pending and len(running) < max(1, workers):
                number, (key, job) = pending.popleft()
                if key not in _loaded:
                    _loaded[key] = load(key)
                if workers <= 1:
                    finish(key, number, run(_loaded[key], job, 0))
                    continue
                slot = min(set(range(workers)) - {s for *_, s in running.values()})
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(target=_child, args=(sender, key, job, slot, run), daemon=True)
                process.start()
                sender.close()
                running[receiver] = (process, key, number, slot)
            for receiver in wait(list(running)) if running else ():  # wait([]) never returns
                process, key, number, _ = running.pop(receiver)  # type: ignore[index]
                try:
                    status, payload = receiver.recv()
                except EOFError:
                    status, payload = "error", f"run {key} {number} died (exit code {process.exitcode})"
                process.join()
                if status == "error":
                    raise RuntimeError(f"training run {key} failed:\n{payload}")
                finish(key, number, payload)
    finally:
        for process, *_ in running.values():
            process.kill()
        _loaded.clear()
    return {key: [by_number[n] for n in sorted(by_number)] for key, by_number in results.items()}


def _child(sender: Connection, key: Hashable, job: Any, slot: int,
           run: Callable[[Any, Any, int], dict]) -> None:
    torch.set_num_threads(1)
    try:
        sender.send(("ok", run(_loaded[key], job, slot)))
    except BaseException:  # report everything, KeyboardInterrupt too, then exit
        sender.send(("error", traceback.format_exc()))
    finally:
        sender.close()
