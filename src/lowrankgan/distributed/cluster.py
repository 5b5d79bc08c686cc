"""Reaching a Ray cluster and running tasks on a pool of model-holding actors, with retries.

Ray is imported here only inside functions: without a cluster nothing of it is loaded.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import LowRankGANError
from ..limits import printable
from .worker import Worker, WorkerSpec

REACH_TIMEOUT_S = 10
MAX_ATTEMPTS = 3  # a task whose worker dies this many times is an error, not a fourth try


def require_ray():
    try:
        import ray
    except ImportError:
        raise LowRankGANError("ray needs Ray, which is not installed: pip install 'lowrankgan[ray]' "
                              "(or pip install 'ray>=2.9')", "ray") from None
    return ray


@contextlib.contextmanager
def connect(address: str) -> Iterator[Any]:
    """Ray connected to ``address`` (``host:port``, ``ray://host:port``, ``auto`` for the cluster this
    machine belongs to, ``local`` to start one here). A connection made here is closed at the end;
    one the caller made already (``ray.init`` before) is used as it is and left open."""
    address = (address or "").strip()
    if not address:
        raise LowRankGANError("ray needs an address: host:port of a cluster's head, auto, or local", "ray")
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    check_reachable(address)
    try:
        quiet = {"include_dashboard": False, "logging_level": logging.WARNING}
        if address == "local":
            ray.init(**quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise LowRankGANError(f"ray {address}: cannot connect to a Ray cluster ({first}); start one with "
                              "`ray start --head` on the head node, or use ray local", "ray") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def check_reachable(address: str) -> None:
    """A ``host:port`` nobody listens on is one clear line at once (``ray.init`` retries for minutes)."""
    if address in ("local", "auto"):
        return
    host, port = parse_address(address)
    try:
        socket.create_connection((host, port), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise LowRankGANError(f"ray {address}: nothing answers there ({exc.strerror or exc}); start the cluster "
                              "with `ray start --head` on its head node, or use ray local", "ray") from None


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` (optionally ``ray://``; an IPv6 host in brackets) of a cluster's head: the port
    in ASCII digits, 1..65535, the host a name or address of printable ASCII without spaces."""
    rest = address.split("://", 1)[1] if address.startswith("ray://") else address
    host, _, port = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    bad = (not host or len(host) > 253 or not host.isascii() or not all(c.isprintable() and not c.isspace() for c in host)
           or not 1 <= len(port) <= 5 or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535)
    if bad:
        raise LowRankGANError(f"ray address '{printable(address, 80)}': give host:port of the cluster's head "
                              "(e.g. 10.0.0.5:6379, a port in 1..65535), auto or local", "ray")
    return host, int(port)


def wants_gpus(ray, model_device: str) -> bool:
    """Workers take a GPU each when the driver's model runs on CUDA, or when the driver has no CUDA
    at all (a CPU head node sending work to GPU nodes) and the cluster offers GPUs."""
    if model_device == "cuda":
        return True
    return not torch.cuda.is_available() and ray.cluster_resources().get("GPU", 0) >= 1


@dataclass
class Task:
    """One unit of work: ``method(*args)`` on some worker; ``what`` names it in reports."""

    index: int
    method: str
    args: tuple
    what: str
    size: int = 1  # images it covers (the progress bar counts these)
    attempts: int = 0


@dataclass
class WorkerInfo:
    handle: Any
    pid: int = 0
    host: str = "?"
    task: Task | None = None
    ready: bool = False

    @property
    def name(self) -> str:
        return f"pid {self.pid} on {self.host}"


@dataclass
class ActorPool:
    """Up to ``size`` actors, each loading the model once, fed one task at a time. A task whose
    worker dies or fails goes back to the queue (reported in ``failures``) and a new worker is
    started; each task's result is yielded once, however many times it ran."""

    ray: Any
    spec: WorkerSpec
    size: int
    use_gpu: bool
    report: Callable[[str], None] | None = None
    on_dispatch: Callable[["ActorPool"], None] | None = None  # monitoring hook, after tasks are handed out
    workers: list[WorkerInfo] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    done: int = 0
    _inflight: dict = field(default_factory=dict)

    def _start(self) -> WorkerInfo:
        resources = {"num_gpus": 1, "num_cpus": 1} if self.use_gpu else {"num_cpus": 1}
        actor = self.ray.remote(Worker).options(max_restarts=0, max_task_retries=0, **resources)
        info = WorkerInfo(actor.remote(self.spec, "cuda" if self.use_gpu else "cpu"))
        self.workers.append(info)
        return info

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Task, Any]]:
        """Each task's result, in the order they finish. Workers stay for the next ``run``."""
        ray = self.ray
        queue, finished = deque(tasks), set()
        inflight = self._inflight
        for _ in range(min(self.size, len(tasks)) - len(self.workers)):
            info = self._start()
            inflight[info.handle.ready.remote()] = info
        while queue or inflight:
            for info in self.workers:
                if info.ready and info.task is None and queue:
                    info.task = queue.popleft()
                    inflight[getattr(info.handle, info.task.method).remote(*info.task.args)] = info
            if self.on_dispatch is not None:
                self.on_dispatch(self)
            if not inflight:
                break
            [ref], _ = ray.wait(list(inflight), num_returns=1)
            info = inflight.pop(ref)
            task, info.task = info.task, None
            try:
                result = ray.get(ref)
            except Exception as exc:  # noqa: BLE001  (every failure of a worker is retried or reported)
                self._failed(info, task, exc, queue, inflight)
                continue
            if task is None:
                info.pid, info.host, model_id = result
                info.ready = True
                self._check_model(info, model_id)
            elif task.index not in finished:
                finished.add(task.index)
                self.done += task.size
                yield task, result

    def close(self) -> None:
        """Ends the workers now (their CPUs and GPUs go back to the cluster)."""
        for info in self.workers:
            with contextlib.suppress(Exception):
                self.ray.kill(info.handle)
        self.workers.clear()
        self._inflight.clear()

    def _check_model(self, info: WorkerInfo, model_id: str) -> None:
        if model_id != self.spec.model_id:
            raise LowRankGANError(f"the Ray worker ({info.name}) loaded model {model_id}, not {self.spec.model_id}: "
                                  "install the same lowrankgan and checkpoint on every node")

    def _failed(self, info: WorkerInfo, task: Task | None, exc: Exception, queue: deque, inflight: dict) -> None:
        ray = self.ray
        cause = getattr(exc, "cause", None)
        if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, LowRankGANError):
            raise LowRankGANError(str(cause)) from None  # bad input: a retry would fail the same way
        dead = isinstance(exc, ray.exceptions.RayActorError)
        error = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
        what = task.what if task is not None else "loading the model"
        self.failures.append({"worker": info.name, "task": what, "error": f"{type(exc).__name__}: {error}"})
        if self.report is not None:
            fate = "died" if dead else "failed"
            again = "its work goes to another worker" if task is not None else "starting another worker"
            self.report(f"lowrankgan: Ray worker {info.name} {fate} during {what} ({type(exc).__name__}); {again}")
        if task is not None:
            task.attempts += 1
            if task.attempts >= MAX_ATTEMPTS:
                raise LowRankGANError(f"{what} failed on {task.attempts} Ray workers; last error: {error}")
            queue.appendleft(task)
        elif sum(f["task"] == what for f in self.failures) > MAX_ATTEMPTS + self.size:
            raise LowRankGANError(f"Ray workers keep failing while loading the model; last error: {error}")
        if dead or task is None:
            self.workers.remove(info)
            with contextlib.suppress(Exception):
                ray.kill(info.handle)
            new = self._start()
            inflight[new.handle.ready.remote()] = new


def pool_size(ray, use_gpu: bool, workers: int | None) -> int:
    """One worker per GPU (GPU workers) or per CPU of the cluster, unless ``workers`` says fewer."""
    have = int(ray.cluster_resources().get("GPU" if use_gpu else "CPU", 0))
    if have < 1:
        raise LowRankGANError("the Ray cluster offers no " + ("GPU" if use_gpu else "CPU")
                              + ("; use device cpu to run on CPU workers" if use_gpu else ""), "device")
    if workers is not None and workers < 1:
        raise LowRankGANError(f"workers must be at least 1, got {workers}")
    return min(have, workers) if workers else have


def stderr_report(message: str) -> None:
    from tqdm.auto import tqdm
    tqdm.write(message, file=sys.stderr)
