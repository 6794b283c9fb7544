"""Pretraining small Chronos-Bolt and Chronos-2 models on synthetic series and a real public corpus."""
