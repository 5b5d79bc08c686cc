"""The local paths of a result, walked in the background after Compute has answered.

Each direction's path (both signs, to its slider ends) costs 2 × 8 Jacobians: for five directions
about 30 s on two CPU cores. Compute answers as soon as the directions and their slider ends are
known; one background thread then walks the paths, direction by direction, each under the CPU lock
(a new Compute or the warm-up waits at most one direction), and stores each as it is done with its
leak at both ends as rendered. A new Compute cancels the walk (``cancel``: the next Gauss–Newton
step stops it), and so does dropping the result. Until a direction's path is there, a slider
render shows that direction on the straight line and says so; downloads compute what they need.
"""

from __future__ import annotations

import atexit
import threading
import traceback
from dataclasses import dataclass, field

from .. import api
from ..api import GeneratorAdapter, Region
from .photos import as_seeds


@dataclass
class PathWalk:
    """Where a result's background path walk stands (``/api/paths`` reports it)."""

    total: int  # Gauss–Newton steps in all (each a Jacobian)
    count: int  # directions
    done: int = 0
    state: str = "running"  # running | done | cancelled | error
    error: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)
    wanted: list[int] = field(default_factory=list)  # directions a render asked for: walked next

    def want(self, directions: list[int]) -> None:
        """A slider render drew these directions (not walked yet) on the straight line: walk them next."""
        for i in directions:
            if i not in self.wanted:
                self.wanted.append(i)  # appends are atomic; the walk only reads

    def next_direction(self, started: set[int]) -> int | None:
        for i in [*self.wanted, *range(self.count)]:
            if i not in started:
                return i
        return None

    def public(self, paths: list, end_leaks: list) -> dict:
        """The walk as ``/api/paths`` reports it: a direction is ready once its path is stored."""
        return {"state": self.state, "done": self.done, "total": self.total, "error": self.error,
                "directions": [{"ready": p is not None, "end_leaks": list(e) if p is not None else None}
                               for p, e in zip(paths, end_leaks)]}


def walk_paths(res, gen: GeneratorAdapter, cpu_lock: threading.Lock, steps: int = api.DEFAULT_STEPS) -> None:
    """Walk ``res``'s paths in this thread (``start_walk`` runs it in the background): each
    direction in turn — first those a slider render asked for (``PathWalk.want``: the slider the
    user moves), then in order — stored in ``res.paths[i]`` with ``res.end_leaks[i]`` (along the
    path, at both ends)."""
    walk: PathWalk = res.walk
    region: Region = res.region
    started: set[int] = set()
    try:
        while (i := walk.next_direction(started)) is not None:
            started.add(i)
            tops = res.path_tops[i]
            offset = walk.done

            def progress(done: int, total: int) -> None:
                walk.done = offset + done

            while not cpu_lock.acquire(timeout=0.2):  # waiting for the CPU, still cancellable
                if walk.cancel.is_set():
                    raise api.PathCancelled("the path was cancelled")
            try:
                if walk.cancel.is_set():
                    raise api.PathCancelled("the path was cancelled")
                with res.scope(gen):
                    setup = api.edit_setup(gen, res.dirset.one(i), as_seeds(res.seed))
                    path = api.direction_paths(setup, setup.codes[0], [tops], region, steps, progress,
                                               cancel=walk.cancel)[0]
                    leaks = api.end_leaks(setup, setup.codes[0], [path], region)[0]
            finally:
                cpu_lock.release()
            res.end_leaks[i] = leaks
            res.paths[i] = path  # last: a stored path means its leaks are there too
            walk.done = offset + steps * sum(1 for t in tops if t > 0)
        walk.done, walk.state = walk.total, "done"
    except api.PathCancelled:
        walk.state = "cancelled"
    except Exception as exc:  # the walk's failure is the page's to show; the renders fall back
        traceback.print_exc()
        walk.state, walk.error = "error", str(exc)


_LIVE: dict[threading.Thread, PathWalk] = {}  # walks still running, stopped before the process exits
_LIVE_LOCK = threading.Lock()


def start_walk(res, gen: GeneratorAdapter, cpu_lock: threading.Lock) -> threading.Thread:
    def run() -> None:
        try:
            walk_paths(res, gen, cpu_lock)
        finally:
            with _LIVE_LOCK:
                _LIVE.pop(threading.current_thread(), None)

    thread = threading.Thread(target=run, name=f"lowrankgan-paths-{res.id}", daemon=True)
    with _LIVE_LOCK:
        _LIVE[thread] = res.walk
    thread.start()
    return thread


@atexit.register
def stop_walks(timeout: float = 60.0) -> None:
    """Cancel every walk in this process and wait for each to stop at its next step: at exit (a
    process that exits while a walk is inside torch aborts: "terminate called without an active
    exception"), and between test modules (a walk left running writes Jacobians into the next
    module's cache)."""
    with _LIVE_LOCK:
        live = list(_LIVE.items())
    for _, walk in live:
        walk.cancel.set()
    for thread, _ in live:
        thread.join(timeout)
