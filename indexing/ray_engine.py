"""The map stages on a Ray cluster: decoding as Ray Data tasks, the models in an actor pool.

The run is the local runner's (``runner.run_index``: list, plan, write, fit, publish, in the driver);
only the map stages move. The spool is cut into the batches the local engine would make (spool order,
``batch_size`` lines each); each is read and decoded by a CPU task with ``read.read_item`` and
``read.collate``, and mapped by an actor that loads the models once from a ``ModelRecipe`` and calls
the same ``Mapper.map``. Mapped batches stream back to the driver, which writes each in one
transaction as they arrive, in whatever order they finish. Ray retries the tasks of a lost node and
restarts its actors; a killed driver leaves committed batches behind and the next run resumes.

``ray`` is imported only here, and only when a run uses this engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.bundle import SearchBundle
from core.images import ImageStore
from indexing.mapper import Mapped, Mapper
from indexing.ocr import Ocr
from indexing.read import DecodedBatch, Preprocess, Reader, WorkItem, collate, read_item
from indexing.recipe import ModelRecipe
from indexing.report import RunSummary
from indexing.runner import AfterBatch, IndexOptions, Pipeline, mapper_factory
from indexing.write import Writer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # a cluster's address (RAY_ADDRESS); None: start a Ray on this machine
    actors: int = 2  # model actors (each loads the models once)
    actor_cpus: float = 1.0  # CPUs each model actor holds
    actor_gpus: float = 0.0  # GPUs each model actor holds (with device cuda)
    decode_cpus: float = 0.25  # CPUs each decode task holds


def ray_pipeline(
    open_source: Callable[[], ImageStore],
    writer: Writer,
    share: Path,
    encoder_dir: Path,
    recipe: ModelRecipe,
    options: IndexOptions,
    ray: RayOptions,
    after_batch: AfterBatch | None = None,
    ocr: Ocr | None = None,
) -> Pipeline:
    """``runner.pipeline`` with its map stages on Ray: the driver lists, plans and writes, and loads
    no model (its reader only opens the source to list it). ``ocr`` runs in the decode tasks, as it
    runs in the local engine's read workers."""
    reader = Reader(open_source, recipe.preprocess(), options.batch_size, options.workers)
    mapper = partial(load_mapper, recipe, options)
    engine = RayEngine(recipe, options, open_source, ray, ocr)
    return Pipeline(reader, mapper, writer, share, encoder_dir, after_batch, engine)


def load_mapper(
    recipe: ModelRecipe, options: IndexOptions, encoder_dir: Path, bundle: SearchBundle | None
) -> Mapper:
    """The run's mapper, its models loaded from ``recipe`` in this process (once: cached loaders)."""
    return mapper_factory(recipe.load(), options)(encoder_dir, bundle)


def _work_batches(spool: Path, batch_size: int) -> Iterator[dict[str, str]]:
    """The spool's lines, ``batch_size`` at a time: the local engine's batches (workers=0)."""
    lines: list[str] = []
    with spool.open(encoding="utf-8") as spooled:
        for line in spooled:
            lines.append(line)
            if len(lines) == batch_size:
                yield {"work": "".join(lines)}
                lines = []
    if lines:
        yield {"work": "".join(lines)}


def _one(value: object) -> np.ndarray:
    """A column of one Python object (Ray Data pickles it); np.array would iterate a sequence."""
    column = np.empty(1, dtype=object)
    column[0] = value
    return column


def decode_batch(
    batch: dict[str, np.ndarray],
    open_source: Callable[[], ImageStore],
    prep: Preprocess,
    ocr: Ocr | None = None,
) -> dict[str, np.ndarray]:
    """A Ray Data task: one batch of work lines read and decoded (and read by ``ocr``) into one
    ``DecodedBatch``."""
    store = open_source()
    (work,) = batch["work"]
    items = [WorkItem.from_line(line) for line in str(work).splitlines(keepends=True)]
    return {"decoded": _one(collate([(item, *read_item(store, item, prep, ocr)) for item in items]))}


class MapActor:
    """A model actor: the run's mapper, built once from the recipe, maps one decoded batch per call."""

    def __init__(
        self,
        recipe: ModelRecipe,
        options: IndexOptions,
        encoder_dir: Path,
        bundle: SearchBundle | None,
        location: str,
    ) -> None:
        self.mapper = load_mapper(recipe, options, encoder_dir, bundle)
        self.location = location

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        (decoded,) = batch["decoded"]
        summary = RunSummary("map")
        mapped = self.mapper.map(decoded, self.location, summary)
        light = replace(decoded, pixels=torch.zeros((0, 3, 1, 1)))  # the driver needs items and skips
        return {"mapped": _one((light, mapped, dict(summary.seconds)))}


@dataclass(frozen=True)
class RayEngine:
    """A ``runner.MapEngine`` on a Ray cluster (see the module's docstring)."""

    recipe: ModelRecipe
    options: IndexOptions
    open_source: Callable[[], ImageStore]
    ray: RayOptions = RayOptions()
    ocr: Ocr | None = None  # the OCR stage of the decode tasks; None: off

    def __call__(
        self,
        spool: Path,
        encoder_dir: Path,
        bundle: SearchBundle | None,
        location: str,
        summary: RunSummary,
    ) -> Iterator[tuple[DecodedBatch, Mapped]]:
        import ray

        ray.init(address=self.ray.address, logging_level=logging.WARNING, log_to_driver=False)
        try:
            yield from self._stream(self._dataset(spool, encoder_dir, bundle, location), summary)
        finally:
            ray.shutdown()

    def _dataset(self, spool: Path, encoder_dir: Path, bundle: SearchBundle | None, location: str) -> Any:
        """The spool's batches through the decode tasks and the model actors (a lazy Ray Dataset)."""
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the runner's bar counts stored images
        context.print_on_execution_start = False
        work = list(_work_batches(spool, self.options.batch_size))
        data = ray.data.from_items(work, override_num_blocks=len(work))  # one block per batch
        decode = partial(
            decode_batch, open_source=self.open_source, prep=self.recipe.preprocess(), ocr=self.ocr
        )
        decoded = data.map_batches(decode, batch_size=1, num_cpus=self.ray.decode_cpus)
        return decoded.map_batches(
            MapActor,
            batch_size=1,
            fn_constructor_kwargs={
                "recipe": self.recipe,
                "options": self.options,
                "encoder_dir": encoder_dir,
                "bundle": bundle,
                "location": location,
            },
            compute=ray.data.ActorPoolStrategy(size=self.ray.actors),
            num_cpus=self.ray.actor_cpus,
            num_gpus=self.ray.actor_gpus,
        )

    def _stream(self, mapped: Any, summary: RunSummary) -> Iterator[tuple[DecodedBatch, Mapped]]:
        """The mapped batches as they finish, their workers' seconds added to ``summary``."""
        rows = iter(mapped.iter_rows())
        while True:
            with summary.timed("wait for ray"):
                row: dict[str, Any] | None = next(rows, None)
            if row is None:
                return
            light, result, seconds = row["mapped"]
            summary.seconds["read (tasks)"] += light.read_seconds
            summary.seconds["decode (tasks)"] += light.decode_seconds
            for stage, spent in seconds.items():
                summary.seconds[f"{stage} (actors)"] += spent
            yield light, result
