"""Distillation loss: pinball loss (:func:`tsfm.metrics.pinball`) against the teacher's quantiles, mixed with the
ground truth."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tsfm.metrics import pinball


class DistillationLoss(nn.Module):
    """``w * pinball(student, teacher) + (1 - w) * pinball(student, truth)``, in units of the context's scale.

    The teacher term scores each student quantile against the teacher's quantile at the same level,
    which is smallest when the two agree; the truth term is the usual quantile loss. Dividing by the
    instance scale of each context (the one the student normalises with) makes every window count
    the same whatever the level of its series.

    Parameters
    ----------
    levels
        The quantile levels of the last axis.
    teacher_weight
        ``w`` in [0, 1]; 1 ignores the ground truth, 0 ignores the teacher.
    """

    def __init__(self, levels: Sequence[float], teacher_weight: float) -> None:
        super().__init__()
        self.register_buffer("levels", torch.tensor(list(levels), dtype=torch.float32))
        self.teacher_weight = float(teacher_weight)

    def forward(
        self, student: torch.Tensor, teacher: torch.Tensor, truth: torch.Tensor, scale: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Shapes: ``student``, ``teacher`` ``[b, h, q]``; ``truth`` ``[b, h]``; ``scale`` ``[b, 1]``.

        Returns the scalar loss and its two terms (floats, for logging).
        """
        scale = scale[:, :, None]  # [b, 1, 1]
        to_teacher = (pinball(student, teacher, self.levels) / scale).mean()
        observed = (~torch.isnan(truth)).to(student.dtype)[:, :, None]  # [b, h, 1]
        to_truth_sum = (pinball(student, truth[:, :, None], self.levels) / scale).sum()
        to_truth = to_truth_sum / (observed.sum() * student.shape[2]).clamp(min=1.0)
        loss = self.teacher_weight * to_teacher + (1.0 - self.teacher_weight) * to_truth
        return loss, {"teacher": float(to_teacher.detach()), "truth": float(to_truth.detach())}
