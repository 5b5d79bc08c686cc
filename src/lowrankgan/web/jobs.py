"""What runs on the server at once: one computation (a direction search, a Jacobian warm-up, a
photo inversion) at a time in the compute slot, renders beside it in a few render slots, and
path-following renders one at a time."""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field

from ..errors import LowRankGANError
from .labels import page_message


class Busy(Exception):
    """Another computation holds the slot, or every render slot is taken; the server answers 429."""


@dataclass
class Job:
    id: str
    kind: str
    state: str = "queued"  # queued, running, done, error
    stage: str = "queued"
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    result: dict | None = None
    error: str | None = None
    fraction: float | None = None  # how far a job that counts its steps is (an inversion), 0..1

    def public(self) -> dict:
        end = self.finished if self.finished is not None else time.perf_counter()
        out = {"job": self.id, "state": self.state, "stage": self.stage, "elapsed_s": round(end - self.started, 3)}
        if self.fraction is not None:
            out["fraction"] = round(self.fraction, 4)
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


def lru_put(store: OrderedDict, key, value, limit: int) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > limit:
        store.popitem(last=False)


class Jobs:
    """The compute slot and the latest ``keep`` jobs. Thread-safe.

    One job holds the slot at a time (another gets ``Busy``); CPU-heavy work runs under
    ``cpu_lock``, which the Jacobian warm-up shares, so that two never compete for the cores."""

    def __init__(self, keep: int = 64) -> None:
        self.keep = keep
        self.cpu_lock = threading.Lock()
        self.computing: Job | None = None
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def begin(self, kind: str) -> Job:
        """A new job holding the slot (``Busy`` while another holds it); its worker gives the slot
        back with ``end`` (or ``guard``)."""
        with self._lock:
            if self.computing is not None:
                raise Busy("another computation is running; wait for it to finish")
            job = Job(secrets.token_hex(8), kind)
            self.computing = job
            lru_put(self._jobs, job.id, job, self.keep)
        return job

    def end(self, job: Job) -> None:
        job.finished = time.perf_counter()
        with self._lock:
            if self.computing is job:
                self.computing = None

    @contextlib.contextmanager
    def guard(self, job: Job):
        """A background job's work: a user error becomes the job's one-line message, anything else
        is logged and reported as internal, and the slot is freed either way."""
        try:
            yield
        except LowRankGANError as exc:
            job.state, job.stage, job.error = "error", "failed", page_message(exc)
        except Exception as exc:  # pragma: no cover - reported to the page, logged here
            traceback.print_exc()
            job.state, job.stage, job.error = "error", "failed", f"internal error: {type(exc).__name__}: {exc}"
        finally:
            self.end(job)

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def close(self, timeout: float = 30.0) -> None:
        """Wait (up to ``timeout``) for a running computation, so that the process never exits
        while a worker thread is inside torch; later tasks then wait for a lock that never frees."""
        self.cpu_lock.acquire(timeout=timeout)


class Slot:
    def __init__(self, sem: threading.BoundedSemaphore, timeout: float,
                 busy: str = "the server is busy rendering; try again") -> None:
        self.sem, self.timeout, self.busy = sem, timeout, busy

    def __enter__(self):
        if not self.sem.acquire(timeout=self.timeout):
            raise Busy(self.busy)
        return self

    def __exit__(self, *exc):
        self.sem.release()
        return False


class RenderSlots:
    """At most ``max_renders`` renders at once; path-following renders (a Jacobian and a robust PCA
    per step) one at a time, so that they never take every slot from the live slider renders."""

    def __init__(self, max_renders: int = 2) -> None:
        self.render_slots = threading.BoundedSemaphore(max_renders)
        self.path_slots = threading.BoundedSemaphore(1)
        self.path_wait_s = 20.0  # how long a path render waits for the one before it

    def render(self, timeout: float = 10.0) -> Slot:
        return Slot(self.render_slots, timeout)

    def path(self, timeout: float | None = None) -> Slot:
        return Slot(self.path_slots, self.path_wait_s if timeout is None else timeout,
                    "the server is following another edit path; try again")

    @contextlib.contextmanager
    def for_steps(self, steps: int):
        """A render slot, and before it the path slot for path-following renders (released again
        when the render slot cannot be had)."""
        with contextlib.ExitStack() as stack:
            if steps > 0:
                stack.enter_context(self.path())
            stack.enter_context(self.render())
            yield
