"""``distill``: train a small student to forecast like a teacher, in one readable loop.

Top to bottom: load the teacher -> cut windows (user + synthetic) -> teacher quantiles, cached
on disk -> train with early stopping on the validation windows -> write the student folder::

    DIR/student_config.json   the StudentConfig (architecture, shapes, levels, teacher in ``extra``)
    DIR/model.safetensors     the best weights (lowest validation loss)
    DIR/report.json           data sizes, the loss history, the best epoch, timings
    DIR/teacher_cache/        the teacher's forecasts (a HF datasets folder), reused by later runs

``tsfm.load(DIR)`` then gives the student as a ``Forecaster``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from tsfm.contract import Forecaster
from tsfm.distill.data import Windows, cached_teacher_dataset, split_windows, synthetic_windows
from tsfm.distill.losses import DistillationLoss
from tsfm.distill.students import ARCHITECTURES, Student, StudentConfig, build_student, instance_stats, save_student
from tsfm.errors import InputError
from tsfm.outputs import check_output_folder, folder_kind, mark_folder, staged_folder, write_json
from tsfm.perturb import check_augment, perturb_windows
from tsfm.validation import validate_context, validate_horizon

REPORT_FILE = "report.json"
CACHE_DIR = "teacher_cache"
KIND = "distill"  # the kind of run named in the output folder's marker


@dataclass(frozen=True)
class DistillConfig:
    """How to distil; every field is checked in ``__post_init__``.

    Parameters
    ----------
    teacher_weight
        Share of the loss that follows the teacher's quantiles; the rest follows the ground truth.
    stride
        Steps between training windows of one series; ``None`` = half the horizon.
    max_windows_per_series
        Most recent training windows kept per user series.
    n_synthetic
        Synthetic training windows added for coverage (0 for none).
    batch_size, learning_rate, weight_decay
        AdamW settings.
    max_epochs, patience
        Stop after ``max_epochs`` or after ``patience`` epochs without a better validation loss.
    seed
        Seeds the synthetic series, the shuffling and (unless the student config says otherwise) the weights.
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"``, passed to ``accelerate``.
    progress
        Show tqdm bars.
    augment
        Noise-injection training: this share of the training windows is added again with its
        context perturbed by a stress perturbation (:func:`tsfm.perturb.perturb_windows`) and its
        targets unchanged (the teacher's forecast from the clean context, and the truth), so the
        student learns to forecast through noise, gaps, spikes and stuck sensors. 0 = off.
    augment_perturbations
        Perturbations drawn from when ``augment > 0``; ``None`` = all of them.
    """

    teacher_weight: float = 0.7
    stride: int | None = None
    max_windows_per_series: int = 32
    n_synthetic: int = 1024
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 60
    patience: int = 6
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    augment: float = 0.0
    augment_perturbations: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        w = self.teacher_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= w <= 1.0:
            raise InputError(f"teacher_weight must be a number in [0, 1], got {w!r}")
        for name in ("max_windows_per_series", "batch_size", "max_epochs", "patience"):
            _check_int(name, getattr(self, name), 1)
        _check_int("n_synthetic", self.n_synthetic, 0)
        _check_int("seed", self.seed, 0)
        if self.stride is not None:
            _check_int("stride", self.stride, 1)
        for name in ("learning_rate", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
                raise InputError(f"{name} must be a finite non-negative number, got {value!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise InputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        check_augment("DistillConfig", self.augment, self.augment_perturbations)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass
class DistillResult:
    """What :func:`distill` produced."""

    student: Student
    config: StudentConfig
    report: dict[str, Any]
    output: Path | None = None
    history: list[dict[str, float]] = field(default_factory=list)


def default_context_length(series: Sequence[np.ndarray], horizon: int, cap: int = 512) -> int:
    """Longest useful context: what the longest series leaves after a training and a validation target.

    A multiple of 16 between 16 and ``cap``.
    """
    longest = max(len(s) for s in series)
    return int(max(16, min(cap, (longest - 2 * horizon) // 16 * 16)))


def distill(
    teacher: str | Forecaster,
    series: Sequence[np.ndarray],
    horizon: int,
    student: str | StudentConfig = "mlp",
    config: DistillConfig | None = None,
    output: str | Path | None = None,
    context_length: int | None = None,
    overwrite: bool = False,
) -> DistillResult:
    """Distil ``teacher`` into a small student on ``series``.

    Parameters
    ----------
    teacher
        A model name / path for ``tsfm.load``, or a loaded forecaster.
    series
        The user's history: 1-D float arrays (NaN = missing).
    horizon
        Steps the student forecasts.
    student
        An architecture name (``"linear"``, ``"mlp"``, ``"patch"``) with default sizes, or a full
        :class:`StudentConfig` (its ``horizon`` must equal ``horizon``).
    config
        Training settings; defaults to :class:`DistillConfig`.
    output
        Folder for the student files and the teacher cache; ``None`` keeps the cache in memory-less
        temporary storage and writes nothing else.
    context_length
        Student context; default :func:`default_context_length`.
    overwrite
        Replace an ``output`` folder written by another kind of run (refused otherwise, before
        any work). The folder is written whole at the end (:func:`tsfm.outputs.staged_folder`):
        a killed run leaves the earlier student as it was.

    Returns
    -------
    DistillResult
        The trained student (best validation epoch), its config and the report.
    """
    import tempfile

    folder = None if output is None else check_output_folder(output, KIND, overwrite)
    config = config or DistillConfig()
    steps = validate_horizon(horizon)
    checked = validate_context(series)
    student_config = _student_config(student, steps, context_length or default_context_length(checked, steps), config)
    if isinstance(teacher, str):
        from tsfm.registry import load

        teacher = load(teacher, device="cpu" if config.device == "cpu" else "auto")
    student_config = replace(student_config, extra={**student_config.extra, "teacher": teacher.name})
    with tempfile.TemporaryDirectory() as scratch:
        cache_dir = _cache_dir(folder, Path(scratch))
        data, cached, n_windows = _prepare_data(teacher, checked, student_config, config, cache_dir)
        model = build_student(student_config)
        started = time.perf_counter()
        history, best_epoch = train_student(model, data["train"], data["validation"], config)
        report = _report(teacher, student_config, model, n_windows, cached, best_epoch, history, started, config)
        result = DistillResult(model, student_config, report, None, history)
        if folder is not None:
            result.output = _write_student(model, report, folder, cache_dir, overwrite)
    return result


def _cache_dir(folder: Path | None, scratch: Path) -> Path:
    """Where the teacher's forecasts are cached: inside the output folder when it is a distill run's
    (so a later run, or a run after a kill, reuses them), else in scratch space."""
    if folder is None:
        return scratch
    if not folder.exists() or not any(folder.iterdir()):
        mark_folder(folder, KIND)  # ours from now on: a killed run is recognised on the next try
    return folder / CACHE_DIR if folder_kind(folder) == KIND else scratch / CACHE_DIR


def _write_student(model: Student, report: dict, folder: Path, cache_dir: Path, overwrite: bool) -> Path:
    """Write the student, its report and the teacher cache as ``folder``, whole or not at all."""
    import shutil

    with staged_folder(folder, KIND, overwrite) as stage:
        save_student(model, stage)
        write_json(report, stage / REPORT_FILE)
        if cache_dir.is_dir():
            shutil.move(str(cache_dir), str(stage / CACHE_DIR))
    return folder


def _report(
    teacher: Forecaster, student_config: StudentConfig, model: Student, n_windows: dict, cached: bool,
    best_epoch: int, history: list[dict[str, float]], started: float, config: DistillConfig,
) -> dict[str, Any]:
    return {
        "teacher": teacher.name,
        "student": student_config.to_dict(),
        "n_parameters": model.n_parameters(),
        "windows": n_windows,
        "teacher_cache_reused": cached,
        "best_epoch": best_epoch,
        "best_validation_loss": min(h["validation_loss"] for h in history),
        "train_seconds": round(time.perf_counter() - started, 2),
        "distill_config": asdict(config),
        "history": history,
    }


def _student_config(
    student: str | StudentConfig, horizon: int, context_length: int, config: DistillConfig
) -> StudentConfig:
    if isinstance(student, StudentConfig):
        if student.horizon != horizon:
            raise InputError(f"the student config's horizon {student.horizon} differs from horizon={horizon}")
        return student
    if student not in ARCHITECTURES:
        raise InputError(f"student must be one of {ARCHITECTURES} or a StudentConfig, got {student!r}")
    if student == "patch":
        context_length = max(16, context_length // 16 * 16)
    return StudentConfig(architecture=student, context_length=context_length, horizon=horizon, seed=config.seed)


def _prepare_data(
    teacher: Forecaster, series: list[np.ndarray], student: StudentConfig, config: DistillConfig, cache_dir: Path
) -> tuple[Any, bool, dict[str, int]]:
    stride = config.stride or max(1, student.horizon // 2)
    train, validation = split_windows(
        series, student.context_length, student.horizon, stride, config.max_windows_per_series
    )
    train = train.concat(synthetic_windows(config.n_synthetic, student.context_length, student.horizon, config.seed))
    if len(train) == 0:
        raise InputError("no training windows: the series are too short for this horizon; pass more history")
    splits: dict[str, Windows] = {"train": train, "validation": validation}
    data, cached = cached_teacher_dataset(
        cache_dir, teacher, splits, student.horizon, student.quantile_levels, config.progress
    )
    sizes = {"train": len(train), "train_synthetic": int(train.synthetic.sum()), "validation": len(validation)}
    return data, cached, sizes


def _tensors(split: Any, augment: float = 0.0, names: Sequence[str] | None = None,
             seed: int = 0) -> torch.utils.data.TensorDataset:
    """Tensors ``context, teacher, target``; with ``augment`` > 0, perturbed copies of a share of the rows appended."""
    columns = [np.asarray(split[name], dtype=np.float32) for name in ("context", "teacher", "target")]
    if augment > 0:
        context = columns[0]
        perturbed = perturb_windows(context, augment, (seed,), names)
        changed = ~np.all((perturbed == context) | (np.isnan(perturbed) & np.isnan(context)), axis=1)
        columns = [np.concatenate([columns[0], perturbed[changed]])] + [
            np.concatenate([c, c[changed]]) for c in columns[1:]
        ]
    return torch.utils.data.TensorDataset(*(torch.from_numpy(c) for c in columns))


def train_student(
    model: Student, train: Any, validation: Any, config: DistillConfig
) -> tuple[list[dict[str, float]], int]:
    """Train ``model`` in place on the teacher-labelled windows; it ends with its best-epoch weights.

    ``train`` and ``validation`` hold columns ``context [n, L]``, ``teacher [n, H, Q]`` and
    ``target [n, H]``. Returns the per-epoch history and the best epoch (1-based).
    """
    from accelerate import Accelerator

    torch.manual_seed(config.seed)
    accelerator = Accelerator(cpu=config.device == "cpu" or not torch.cuda.is_available())
    loss_fn = DistillationLoss(model.config.quantile_levels, config.teacher_weight).to(accelerator.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = torch.utils.data.DataLoader(
        _tensors(train, config.augment, config.augment_perturbations, config.seed),
        batch_size=config.batch_size, shuffle=True, generator=generator, drop_last=False
    )
    val_loader = torch.utils.data.DataLoader(_tensors(validation), batch_size=4 * config.batch_size)
    model, optimizer, train_loader, val_loader = accelerator.prepare(model, optimizer, train_loader, val_loader)
    # Cosine decay over the largest possible run: early stopping usually ends it before the floor.
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.max_epochs * len(train_loader))

    history: list[dict[str, float]] = []
    best, best_epoch, best_state, waited = math.inf, 0, None, 0
    bar = tqdm(range(1, config.max_epochs + 1), desc="distil", disable=not config.progress, unit="epoch")
    for epoch in bar:
        model.train()
        total, n = 0.0, 0
        for context, teacher, target in train_loader:
            _, scale = instance_stats(context)
            loss, _ = loss_fn(model(context), teacher, target, scale)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            # Clipping guards against the odd synthetic window with a wild scale.
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            total, n = total + float(loss.detach()) * len(context), n + len(context)
        val = evaluate_loss(model, val_loader, loss_fn)
        history.append({"epoch": epoch, "train_loss": total / max(n, 1), **val})
        bar.set_postfix(train=f"{total / max(n, 1):.4f}", val=f"{val['validation_loss']:.4f}")
        if val["validation_loss"] < best - 1e-6:
            best, best_epoch, waited = val["validation_loss"], epoch, 0
            best_state = {k: v.detach().clone() for k, v in accelerator.unwrap_model(model).state_dict().items()}
        else:
            waited += 1
            if waited >= config.patience:  # early stopping: validation stopped improving
                break
    unwrapped = accelerator.unwrap_model(model)
    if best_state is not None:
        unwrapped.load_state_dict(best_state)
    unwrapped.cpu().eval()
    return history, best_epoch


@torch.no_grad()
def evaluate_loss(model: Student, loader: Any, loss_fn: DistillationLoss) -> dict[str, float]:
    """Mean validation loss and its teacher / truth terms over ``loader``."""
    model.eval()
    sums = {"validation_loss": 0.0, "validation_teacher": 0.0, "validation_truth": 0.0}
    n = 0
    for context, teacher, target in loader:
        _, scale = instance_stats(context)
        loss, parts = loss_fn(model(context), teacher, target, scale)
        k = len(context)
        sums["validation_loss"] += float(loss) * k
        sums["validation_teacher"] += parts["teacher"] * k
        sums["validation_truth"] += parts["truth"] * k
        n += k
    return {key: value / max(n, 1) for key, value in sums.items()}
