"""The one training loop every trainer shares: seeded, resumable, logged, DDP-aware.

A trainer supplies a `Task`: an nn.Module whose forward(batch) returns (loss, metrics), a way
to draw a batch from a numpy Generator, and a validation pass. The loop owns everything else:
AdamW with warm-up + cosine decay (a function of the step alone), gradient clipping, a tqdm bar, `metrics.jsonl`, and
`checkpoint.pt` (model, optimiser, step and both RNG states), written atomically so a
killed run resumes from its last checkpoint and then continues exactly as if never stopped.

Distributed: when torchrun sets WORLD_SIZE > 1 the loop joins the process group (NCCL on GPUs,
gloo on CPUs), wraps the module in DistributedDataParallel and draws batches from a generator
seeded with (seed, rank); only rank 0 logs (its own loss), validates and writes checkpoints. A
resumed DDP run re-seeds every rank from (seed, rank, step): it continues correctly but not bit
for bit like an uninterrupted one (a single process does).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..errors import CheckpointError, reason

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 50
    val_every: int = 500
    checkpoint_every: int = 500
    threads: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class Task(Protocol):
    module: nn.Module        # forward(batch) -> (loss, {name: scalar tensor})
    windows_per_batch: int   # for throughput figures
    seconds_per_window: float

    def batch(self, rng: np.random.Generator) -> dict[str, Tensor]: ...

    def validate(self, module: nn.Module) -> dict[str, float]: ...

    def describe(self) -> dict[str, Any]: ...


# -- distributed ---------------------------------------------------------------------------

@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_dist() -> Dist:
    """Join torchrun's process group when WORLD_SIZE > 1; otherwise a single CPU/GPU process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world <= 1:
        return Dist(device=torch.device("cuda" if cuda else "cpu"))
    import torch.distributed as dist
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(dist.get_rank(), world, torch.device(f"cuda:{local}" if cuda else "cpu"))


def is_main_process() -> bool:
    """Rank 0 of a torchrun job, or a plain single process."""
    return int(os.environ.get("RANK", "0")) == 0


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if hasattr(module, "module") and isinstance(module.module, nn.Module) else module


# -- optimiser and schedule ----------------------------------------------------------------

def make_optimizer(module: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; matrices decay, vectors (biases, norms, scales) do not."""
    params = [p for p in module.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """x0.1 -> x1 linearly over the warm-up, then cosine down to `min_lr_ratio`."""
    if step < cfg.warmup_steps:
        return 0.1 + 0.9 * step / max(1, cfg.warmup_steps)
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


# -- checkpoints ---------------------------------------------------------------------------

def save_checkpoint(path: Path, module: nn.Module, opt: torch.optim.Optimizer, step: int,
                    rng: np.random.Generator, cfg: TrainConfig, task: dict[str, Any]) -> None:
    state = {"model": unwrap(module).state_dict(), "optimizer": opt.state_dict(), "step": step,
             "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
             "train_config": asdict(cfg), "task": task}
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # truncated or foreign files fail in many ways
        raise CheckpointError(f"cannot read training checkpoint {path}: {reason(exc)}") from None


def restore(path: Path, module: nn.Module, opt: torch.optim.Optimizer,
            rng: np.random.Generator) -> int:
    """Load a checkpoint into module/optimiser/rng; return the step it was saved at."""
    state = load_checkpoint(path)
    try:
        unwrap(module).load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} does not fit this model: {reason(exc)}") from None
    rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])


# -- the loop ------------------------------------------------------------------------------

class MetricLog:
    """Append-only JSON lines; the running means of the train metrics between log points."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, metrics: dict[str, float]) -> None:
        for k, v in metrics.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.count += 1

    def means(self) -> dict[str, float]:
        out = {k: v / max(1, self.count) for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return out

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")


def train(task: Task, cfg: TrainConfig, out_dir: str | Path, resume: bool = False,
          progress: bool = True) -> dict[str, Any]:
    """Run `task` for `cfg.steps` steps in total; returns the last validation and timing figures.

    With `resume`, an existing `out_dir/checkpoint.pt` is loaded and training continues from its
    step (the schedule and data stream pick up where they stopped). Without it, an existing
    checkpoint is an error, so a finished run is never overwritten by accident.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / CHECKPOINT
    dist = setup_dist()
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)  # 1 is often fastest on a small, shared CPU
    torch.manual_seed(cfg.seed + dist.rank)
    rng = np.random.default_rng([cfg.seed, dist.rank])
    module = task.module.to(dist.device)
    opt = make_optimizer(module, cfg)
    start = 0
    if ckpt.exists():
        if not resume:
            raise CheckpointError(f"{ckpt} exists; pass --resume to continue it or choose another --out")
        start = restore(ckpt, module, opt, rng)
        if dist.world > 1:  # the checkpoint holds rank 0's streams: give every rank its own again
            torch.manual_seed(cfg.seed + dist.rank + 7919 * start)
            rng = np.random.default_rng([cfg.seed, dist.rank, start])
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel
        module = DistributedDataParallel(module, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
    log = MetricLog(out / METRICS, dist.main)
    result: dict[str, Any] = {"start_step": start}
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not (progress and dist.main),
               desc=task.describe().get("trainer", "train"), dynamic_ncols=True)
    t0, window_s, window_steps, train_seconds = time.perf_counter(), 0.0, 0, 0.0
    step = start
    for step in bar:
        t_step = time.perf_counter()
        module.train()
        lr = cfg.lr * lr_factor(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = {k: v.to(dist.device) for k, v in task.batch(rng).items()}
        loss, metrics = module(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip)
        opt.step()
        log.add({"loss": loss.item(), **{k: float(v) for k, v in metrics.items()}})
        window_steps += 1
        window_s += time.perf_counter() - t_step
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            train_seconds += window_s
            rate = window_steps * task.windows_per_batch * dist.world / max(window_s, 1e-9)
            record = {"step": done, "split": "train", "lr": lr,
                      "windows_per_s": rate, "audio_s_per_s": rate * task.seconds_per_window,
                      **log.means()}
            log.write(record)
            bar.set_postfix(loss=f"{record['loss']:.4f}", win_s=f"{rate:.0f}")
            window_s, window_steps = 0.0, 0
        if dist.main and (done % cfg.val_every == 0 or done == cfg.steps):
            val = task.validate(unwrap(module))
            log.write({"step": done, "split": "val", **val})
            result["val"] = val
        if dist.main and (done % cfg.checkpoint_every == 0 or done == cfg.steps):
            save_checkpoint(ckpt, module, opt, done, rng, cfg, task.describe())
        step = done
    bar.close()
    rate = (step - start) * task.windows_per_batch * dist.world / max(train_seconds, 1e-9)
    result.update(step=step, wall_s=time.perf_counter() - t0, train_s=train_seconds,
                  windows_per_s=rate, audio_s_per_s=rate * task.seconds_per_window)
    if dist.world > 1:
        import torch.distributed as tdist
        tdist.barrier()
    torch.set_num_threads(threads_before)
    return result
