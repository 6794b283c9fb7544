"""Adapters: take a model and return a new, specialised one; the model given is never modified.

- :mod:`tsfm.adapters.finetune`: LoRA and full fine-tuning of any family with a training interface
  (:mod:`tsfm.training`; today Chronos-T5, Chronos-Bolt and Chronos-2), judged on held-out windows
  against zero-shot and classical baselines.
- :mod:`tsfm.adapters.calibration`: conformal calibration of any forecaster's quantiles.
- :mod:`tsfm.adapters.fallback`: route series between a primary model and a fallback.

Folders these adapters write are model names that ``tsfm.load`` accepts; the path loaders
are registered by :mod:`tsfm.adapters.loading`.
"""
