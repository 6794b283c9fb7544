"""Pretraining small Chronos-Bolt and Chronos-2 models from scratch on synthetic series only."""
