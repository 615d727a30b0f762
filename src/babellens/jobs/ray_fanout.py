"""Work items fanned out over Ray actors that each load the model once: the one pool behind every
job that runs on Ray (neuron and feature scans, graph comparisons, explain-and-score).

A job names a :class:`ActorTask` (what an actor builds from its loaded model, then applies to
items) and hands :meth:`FanOutPool.map` its items; results (bytes, so any result has one exact
encoding) come back in input order, all at once (:meth:`FanOutPool.map`) or streamed as they
arrive (:meth:`FanOutPool.stream`, which the training harvest reads). As ``map``'s items finish,
progress goes to the job's run control and the finished results into its checkpoint, so a
resumed job recomputes only the rest; a cancel saves them, kills the actors and raises
:class:`~babellens.control.StopRequested`. An item whose actor dies is handed to a replacement
actor (at most ``max_retries`` times).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from babellens.capture.language_model import LanguageModel
from babellens.control import Checkpoint, LocalControl, RunControl, StopRequested
from babellens.errors import BabelLensError, InvalidInputError
from babellens.models.precision import dtype_name, resolve_dtype

__all__ = [
    "FANOUT_STATE",
    "ActorTask",
    "FanOutPool",
    "RayOptions",
    "connect",
    "import_ray",
    "local_control",
]

FANOUT_STATE = "ray_fanout"
"""The checkpoint meta key that marks a fan-out's saved results (item name -> bytes tensor)."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BabelLensError("the ray executor needs Ray: pip install 'babellens[ray]'") from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None or "local": start a local instance; "auto" or ray://host:port
    workers: int = 2
    threads_per_worker: int = 1
    gpus_per_worker: float = 0.0
    shards_per_worker: int = 2
    max_retries: int = 3
    checkpoint_every_s: float = 60.0  # finished items saved into the job's checkpoint this often


class ActorTask(Protocol):
    """Picklable; sent to every actor once. ``bind`` runs in the actor after the model loads and
    returns the function applied to each item there."""

    def bind(self, lm: LanguageModel) -> Callable[[Any], bytes]: ...


def connect(ray: Any, options: RayOptions) -> None:
    if ray.is_initialized():
        return
    if options.address in (None, "local"):
        ray.init(
            num_cpus=options.workers * options.threads_per_worker,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            _node_ip_address="127.0.0.1",  # a cluster we start ourselves listens on loopback only
        )
    else:
        ray.init(address=options.address, log_to_driver=False, configure_logging=False)


@dataclass
class _IgnoringFanOutState:
    """A job's control for its local path: a checkpoint a Ray run left is not the local format."""

    control: RunControl

    def progress(self, done: int, total: int, unit: str = "", message: str = "") -> None:
        self.control.progress(done, total, unit, message)

    def should_stop(self) -> bool:
        return self.control.should_stop()

    def save_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], done: int) -> None:
        self.control.save_state(tensors, meta, done)

    def load_state(self) -> Checkpoint | None:
        state = self.control.load_state()
        return None if state is None or FANOUT_STATE in state.meta else state


def local_control(control: RunControl) -> RunControl:
    """``control`` for a job's local path, blind to a checkpoint of a Ray run of the same job."""
    return _IgnoringFanOutState(control)


def _worker_class(ray: Any) -> Any:
    @ray.remote(max_concurrency=2)  # a second thread answers small calls while an item runs
    class FanOutWorker:
        """Loads the model once, binds the task to it, applies it to the items it is sent."""

        def __init__(
            self, model: str, dtype: str, threads: int, device: str, task: ActorTask
        ) -> None:
            import os

            from babellens.capture.language_model import load

            torch.set_num_threads(threads)
            self.pid = os.getpid()
            self.lm = load(model, device=device, dtype=dtype)
            self.fn = task.bind(self.lm)

        def process_id(self) -> int:
            return self.pid

        def summary(self) -> dict[str, Any]:
            data = self.lm.summary().model_dump()
            data.pop("hook_points", None)
            return data

        def run(self, item: Any) -> bytes:
            return self.fn(item)

    return FanOutWorker


def _to_tensor(data: bytes) -> torch.Tensor:
    return (
        torch.frombuffer(bytearray(data), dtype=torch.uint8)
        if data
        else torch.empty(0, dtype=torch.uint8)
    )


class FanOutPool:
    """The actors of one job. Use as a context manager (the actors die on exit, also on error)."""

    def __init__(
        self,
        model: str,
        task: ActorTask,
        options: RayOptions,
        *,
        dtype: str = "auto",
        device: str = "cpu",
        control: RunControl | None = None,
        actors: int | None = None,
    ) -> None:
        if options.workers < 1:
            raise InvalidInputError("the ray executor needs at least one worker")
        self.ray = import_ray()
        connect(self.ray, options)
        self.model, self.options = model, options
        self.control = control or LocalControl()
        self._worker = _worker_class(self.ray).options(
            num_cpus=options.threads_per_worker, num_gpus=options.gpus_per_worker
        )
        # "auto" is resolved here, once: every worker runs in the same dtype, whatever its hardware.
        resolved = dtype_name(resolve_dtype(dtype, device))
        self._args = (model, resolved, options.threads_per_worker, device, self.ray.put(task))
        self._n_actors = min(options.workers, actors or options.workers)
        self.actors: list[Any] = []
        self.retries: dict[str, int] = {}  # item name -> times its actor died under it
        self._saved: dict[str, bytes] = {}
        self._phases: dict[str, int] = {}
        self._last_save = time.monotonic()
        state = self.control.load_state()
        if state is not None and FANOUT_STATE in state.meta:
            self._phases = dict(state.meta[FANOUT_STATE])
            self._saved = {name: t.numpy().tobytes() for name, t in state.tensors.items()}

    def __enter__(self) -> FanOutPool:
        return self

    def __exit__(self, *exc: object) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors.clear()

    def _spawn(self) -> Any:
        return self._worker.remote(*self._args)

    def start(self) -> dict[str, Any]:
        """Start the actors; the model summary comes from the first (its load errors, too)."""
        from ray.exceptions import RayActorError, WorkerCrashedError

        if not self.actors:
            self.actors.extend(self._spawn() for _ in range(max(1, self._n_actors)))
        try:
            return self.ray.get(self.actors[0].summary.remote())
        except (RayActorError, WorkerCrashedError) as exc:
            raise BabelLensError(
                f"the Ray workers could not start (loading {self.model}, then the job's task): "
                f"{str(exc).splitlines()[-1][:200]}"
            ) from None

    def map(
        self,
        items: Sequence[Any],
        *,
        phase: str = "items",
        weights: Sequence[int] | None = None,
        unit: str = "items",
        on_dispatch: Callable[[list[Any]], None] | None = None,
    ) -> list[bytes]:
        """Each item's result, in input order; items of ``phase`` already in the checkpoint are
        not sent again. Progress counts ``weights`` (1 per item by default)."""
        if not self.actors:
            self.start()
        weights = list(weights) if weights is not None else [1] * len(items)
        if self._phases.get(phase, len(items)) != len(items):  # not this run's items: start over
            self._saved = {k: v for k, v in self._saved.items() if not k.startswith(f"{phase}/")}
        self._phases[phase] = len(items)
        names = [f"{phase}/{i}" for i in range(len(items))]
        queue = [i for i, name in enumerate(names) if name not in self._saved]
        total = sum(weights)
        done = total - sum(weights[i] for i in queue)
        if done:
            self.control.progress(done, total, unit)
        idle, running = list(self.actors), {}  # running: object ref -> (item, actor)
        dispatched = False
        while queue or running:
            while queue and idle:
                actor, index = idle.pop(), queue.pop(0)
                running[actor.run.remote(items[index])] = (index, actor)
            if not dispatched and on_dispatch is not None:
                dispatched = True
                on_dispatch(self.actors)
            ready, _ = self.ray.wait(list(running), num_returns=1, timeout=0.5)
            if self.control.should_stop():
                self._save(done)
                raise StopRequested
            for ref in ready:
                index, actor = running.pop(ref)
                if self._collect(ref, names[index], actor, queue, idle, index):
                    done += weights[index]
                    self.control.progress(done, total, unit)
                    if time.monotonic() - self._last_save >= self.options.checkpoint_every_s:
                        self._save(done)
        return [self._saved[name] for name in names]

    def stream(self, items: Sequence[Any], *, ahead: int | None = None) -> Iterator[bytes]:
        """Each item's result in input order, yielded as soon as it and those before it are in.

        At most ``ahead`` items (default: two per actor) are sent or held beyond the last one
        yielded, so a consumer slower than the actors bounds the driver's memory. Nothing goes
        into the checkpoint: the consumer (the trainer) checkpoints where it is in the items.
        """
        if not self.actors:
            self.start()
        ahead = max(1, ahead or 2 * len(self.actors))
        idle, running = list(self.actors), {}  # running: object ref -> (item, actor)
        finished: dict[int, bytes] = {}
        requeued: list[int] = []
        sent = given = 0
        while given < len(items):
            while idle and (requeued or (sent < len(items) and sent - given < ahead)):
                if requeued:
                    index = requeued.pop(0)
                else:
                    index, sent = sent, sent + 1
                actor = idle.pop()
                running[actor.run.remote(items[index])] = (index, actor)
            if given in finished:
                yield finished.pop(given)
                given += 1
                continue
            ready, _ = self.ray.wait(list(running), num_returns=1)
            for ref in ready:
                index, actor = running.pop(ref)
                data, free = self._outcome(ref, f"stream/{index}", actor)
                idle.append(free)
                if data is None:
                    requeued.append(index)
                else:
                    finished[index] = data

    def _collect(
        self, ref: Any, name: str, actor: Any, queue: list[int], idle: list[Any], index: int
    ) -> bool:
        """Keep a finished item's result (True), or requeue it on a fresh actor (False)."""
        data, free = self._outcome(ref, name, actor)
        idle.append(free)
        if data is None:
            queue.insert(0, index)
            return False
        self._saved[name] = data
        return True

    def _outcome(self, ref: Any, name: str, actor: Any) -> tuple[bytes | None, Any]:
        """An item's result and its actor, now idle; or None and a fresh actor if it died."""
        from ray.exceptions import RayActorError, WorkerCrashedError

        try:
            return self.ray.get(ref), actor
        except (RayActorError, WorkerCrashedError) as exc:
            self.retries[name] = self.retries.get(name, 0) + 1
            if self.retries[name] > self.options.max_retries:
                raise BabelLensError(
                    f"{name} failed {self.retries[name]} times: {str(exc).splitlines()[0]}"
                ) from None
            replacement = self._spawn()
            self.actors[self.actors.index(actor)] = replacement
            return None, replacement

    def _save(self, done: int) -> None:
        tensors = {name: _to_tensor(data) for name, data in self._saved.items()}
        self.control.save_state(tensors, {FANOUT_STATE: self._phases}, done)
        self._last_save = time.monotonic()
