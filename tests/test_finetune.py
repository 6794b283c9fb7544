"""Fine-tuning (adapters/): the three Chronos families, tiny random-weight checkpoints, real loops.

Every run here trains for real, on a learnable synthetic task (noisy sines of period 12), with
tiny settings so the whole file stays fast on two CPU cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import tsfm
from tests.conftest import CHRONOS_FAMILIES
from tsfm.adapters.artifacts import AdapterBank, load_finetuned, merge_adapter
from tsfm.adapters.config import FinetuneConfig
from tsfm.adapters.finetune import finetune
from tsfm.adapters.verdict import choose
from tsfm.errors import CheckpointError, InputError

HORIZON = 8
FAST = FinetuneConfig(steps=12, batch_size=8, eval_every=6, checkpoint_every=0, warmup_steps=2)


def sines(n: int = 4, length: int = 160, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return [(10 + 3 * np.sin(2 * np.pi * (t + 3 * i) / 12) + rng.normal(0, 0.2, length)).astype(np.float32)
            for i in range(n)]


def as_frame(series: list[np.ndarray]) -> pd.DataFrame:
    return pd.concat([
        pd.DataFrame({"item_id": f"s{i}", "timestamp": pd.date_range("2024-01-01", periods=len(s), freq="h"),
                      "target": s})
        for i, s in enumerate(series)
    ])


def run(model, out: Path, **kwargs):
    options = dict(horizon=HORIZON, method="lora", config=FAST, output_dir=out, baselines=("seasonal-naive",),
                   season_length=12, progress=False, resume=False)
    options.update(kwargs)
    return finetune(model, options.pop("data", sines()), **options)


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.pipeline.inner_model.state_dict().items()}


@pytest.fixture(scope="module")
def bolt(tiny_checkpoints):
    return tsfm.load(str(tiny_checkpoints["chronos-bolt"]), device="cpu")


@pytest.fixture(scope="module")
def lora_run(bolt, tmp_path_factory):
    """One LoRA + full run on the tiny Bolt, shared by the save/load/merge/bank tests."""
    out = tmp_path_factory.mktemp("ft") / "run"
    return run(bolt, out, method=("lora", "full"), force=True,
               config=FAST.replace(lr=3e-3, steps=8, eval_every=4))


@pytest.mark.slow
@pytest.mark.parametrize("family", CHRONOS_FAMILIES)
def test_when_a_family_is_fine_tuned_then_the_loss_falls_and_the_original_is_untouched(
    tiny_checkpoints, tmp_path, family
):
    model = tsfm.load(str(tiny_checkpoints[family]), device="cpu")
    before = state(model)
    config = FAST.replace(steps=16, eval_every=8, lr=3e-3 if family != "chronos-t5" else 1e-3)
    result = run(model, tmp_path / "out", method="full", config=config, force=True)

    history = result.report["runs"]["full"]["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert result.report["runs"]["full"]["best_val_wql"] < result.report["runs"]["full"]["zero_shot_val_wql"]
    after = state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert result.chosen == "full"


@pytest.mark.slow
def test_when_lora_trains_then_only_a_small_share_is_trainable_and_the_adapter_file_is_small(lora_run):
    lora = lora_run.report["runs"]["lora"]
    assert 0 < lora["trainable_share"] < 0.02
    assert lora["file_bytes"] < 0.02 * lora["base_file_bytes"]
    assert lora_run.report["runs"]["full"]["trainable_share"] == 1.0


@pytest.mark.slow
def test_when_saved_then_loaded_then_forecasts_equal_the_trained_and_the_merged_model(lora_run, tmp_path):
    series = sines(3, 100, seed=5)
    loaded = tsfm.load(str(lora_run.folder))  # the kept (forced) LoRA variant, merged on load
    merged = tsfm.load(str(merge_adapter(lora_run.folder, tmp_path / "merged")))

    trained = lora_run.predict_quantiles(series, HORIZON).quantiles
    np.testing.assert_allclose(loaded.predict_quantiles(series, HORIZON).quantiles, trained, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(merged.predict_quantiles(series, HORIZON).quantiles,
                               loaded.predict_quantiles(series, HORIZON).quantiles, rtol=1e-5, atol=1e-5)
    assert loaded.chosen == "lora" and type(merged).__name__ == "ChronosBoltForecaster"


@pytest.mark.slow
def test_when_several_adapters_share_one_base_then_each_forecasts_as_loaded_alone(bolt, lora_run, tmp_path):
    other = run(bolt, tmp_path / "other", config=FAST.replace(lr=1e-2, steps=6, eval_every=3, seed=1), force=True)
    bank = AdapterBank(bolt)
    bank.add("first", lora_run.folder)
    bank.add("second", other.folder)
    series = sines(2, 90, seed=7)

    for name, folder in (("first", lora_run.folder), ("second", other.folder)):
        alone = load_finetuned(folder, variant="lora").predict_quantiles(series, HORIZON).quantiles
        np.testing.assert_allclose(bank.forecaster(name).predict_quantiles(series, HORIZON).quantiles, alone,
                                   rtol=1e-4, atol=1e-4)
    base = bank.forecaster(None).predict_quantiles(series, HORIZON).quantiles
    np.testing.assert_allclose(base, bolt.predict_quantiles(series, HORIZON).quantiles, rtol=1e-5, atol=1e-5)
    first = bank.forecaster("first").predict_quantiles(series, HORIZON).quantiles
    assert not np.allclose(first, base)


@pytest.mark.slow
def test_when_fine_tuning_cannot_beat_zero_shot_then_the_zero_shot_model_is_kept(bolt, tmp_path):
    result = run(bolt, tmp_path / "out", config=FAST.replace(lr=1e-9, steps=4, eval_every=2))

    assert result.chosen == "zero-shot"
    assert "did not beat zero-shot" in result.report["reason"]
    tiers = result.report["ranking_tiers"]
    assert [label for tier in tiers for label in tier] == result.report["ranking"] and len(tiers[0]) >= 1
    series = sines(2, 90)
    np.testing.assert_allclose(result.predict_quantiles(series, HORIZON).quantiles,
                               bolt.predict_quantiles(series, HORIZON).quantiles)
    assert tsfm.load(str(tmp_path / "out")).chosen == "zero-shot"


def test_the_verdict_keeps_the_simpler_model_unless_another_beats_it_on_the_verdict_windows():
    table = pd.DataFrame([
        {"model": "zs", "role": "zero-shot", "val_wql": np.nan, "test_wql": 0.10},
        {"model": "lo", "role": "lora", "val_wql": 0.08, "test_wql": 0.09},
        {"model": "fu", "role": "full", "val_wql": 0.09, "test_wql": 0.07},
        {"model": "bl", "role": "baseline", "val_wql": np.nan, "test_wql": 0.05},  # never kept
    ])
    assert choose(table)[0] == "fu"  # the early-stopping score (val_wql) plays no part
    assert choose(table.assign(test_wql=[0.10, 0.08, 0.09, 0.05]))[0] == "lo"
    assert choose(table.assign(test_wql=[0.10, 0.11, 0.12, 0.05]))[0] == "zs"
    assert choose(table.assign(test_wql=[0.10, 0.11, 0.12, 0.05]), force="full")[0] == "fu"


def test_when_full_fine_tuning_wins_pooled_on_one_lucky_window_then_lora_ranks_above_it():
    from tsfm.adapters.verdict import ranking

    # the M4 Hourly case: full's pooled WQL is lowest thanks to its last window alone
    table = pd.DataFrame([
        {"model": "zs", "role": "zero-shot", "test_wql": 0.0392,
         "test_wql_w1": 0.0324, "test_wql_w2": 0.0396, "test_wql_w3": 0.0451},
        {"model": "lo", "role": "lora", "test_wql": 0.0372,
         "test_wql_w1": 0.0365, "test_wql_w2": 0.0370, "test_wql_w3": 0.0379},
        {"model": "fu", "role": "full", "test_wql": 0.0361,
         "test_wql_w1": 0.0385, "test_wql_w2": 0.0380, "test_wql_w3": 0.0323},
    ])
    assert ranking(table) == ["lo", "fu", "zs"]
    kept, reason = choose(table)
    assert kept == "lo" and "lo pooled WQL 0.0372 vs fu 0.0361 (+3.0%), better on 2 of 3 windows" in reason
    full_wins_two = table.assign(test_wql_w2=[0.0396, 0.0370, 0.0360])
    assert ranking(full_wins_two) == ["fu", "lo", "zs"]


def test_when_full_fine_tuning_kept_the_zero_shot_weights_then_it_ties_with_zero_shot_in_the_ranking():
    from tsfm.adapters.benchmark import compare
    from tsfm.adapters.verdict import format_tiers, tiers

    # the M4 Hourly case: full's best step was 0 (zero-shot's figures exactly); LoRA wins the pooled WQL
    # on 2 of 3 windows but on half of the series only, so it ranks below both
    zero = {"model": "zs", "role": "zero-shot", "test_wql": 0.0384, "test_wql_w1": 0.0337, "test_wql_w2": 0.0382,
            "test_wql_w3": 0.0430, "test_mase": 1.29, "val_wql": np.nan, "series_loss": [5.0, 5.0, 5.0, 5.0]}
    table = pd.DataFrame([
        zero,
        {"model": "lo", "role": "lora", "test_wql": 0.0374, "test_wql_w1": 0.0367, "test_wql_w2": 0.0375,
         "test_wql_w3": 0.0379, "test_mase": 1.32, "val_wql": 0.035, "series_loss": [4.0, 4.0, 6.0, 6.0]},
        {**zero, "model": "fu", "role": "full", "val_wql": 0.035},
    ])
    assert tiers(table) == [["zs", "fu"], ["lo"]]
    kept, reason = choose(table)
    assert kept == "zs" and "lo pooled WQL 0.0374 vs zs 0.0384" in reason
    assert reason.endswith("fu scored exactly as zero-shot on every window and series")
    assert tiers(table.assign(test_wql_w1=[0.0337, 0.0367, 0.0338])) == [["zs"], ["lo"], ["fu"]]  # one window apart

    verdict = table.assign(label=["zero-shot", "lora", "full"])
    test = pd.DataFrame({"model": ["zero-shot", "seasonal-naive", "lora", "full"], "MASE": [1.258, 1.193, 1.257, 1.258],
                         "WQL": [0.0263, 0.0376, 0.0267, 0.0263]})
    _, summary = compare(verdict, test, "zero-shot", [["zero-shot", "full"], ["lora"]])
    assert summary["agrees_wql"] and format_tiers(summary["test_ranking_wql"]) == "zero-shot = full > lora"
    assert not summary["agrees_mase"] and format_tiers(summary["test_ranking_mase"]) == "lora > zero-shot = full"
    _, apart = compare(verdict, test.assign(WQL=[0.0263, 0.0376, 0.0267, 0.02631]), "zero-shot",
                       [["zero-shot", "full"], ["lora"]])
    assert not apart["agrees_wql"] and apart["test_ranking_wql"] == [["zero-shot"], ["full"], ["lora"]]


@pytest.mark.slow
def test_when_interrupted_and_resumed_then_the_adapter_equals_an_uninterrupted_run(bolt, tmp_path):
    config = FAST.replace(steps=8, eval_every=2, checkpoint_every=2, lr=3e-3)
    whole = run(bolt, tmp_path / "whole", config=config)

    def stop_at_five(method, step):
        if step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(bolt, tmp_path / "cut", config=config, callback=stop_at_five)
    resumed = run(bolt, tmp_path / "cut", config=config, resume=True)

    history = [(h["step"], h["val_wql"]) for h in resumed.report["runs"]["lora"]["history"]]
    expected = [(h["step"], h["val_wql"]) for h in whole.report["runs"]["lora"]["history"]]
    assert [s for s, _ in history] == [2, 4, 6, 8]
    np.testing.assert_allclose([v for _, v in history], [v for _, v in expected], rtol=1e-6)
    a = load_finetuned(whole.folder, variant="lora").predict_quantiles(sines(2, 90), HORIZON).quantiles
    b = load_finetuned(resumed.folder, variant="lora").predict_quantiles(sines(2, 90), HORIZON).quantiles
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_when_two_processes_train_then_the_adapter_matches_one_process(tiny_checkpoints, tmp_path):
    as_frame(sines()).to_csv(tmp_path / "data.csv", index=False)
    common = ["finetune", "--model", str(tiny_checkpoints["chronos-bolt"]), "--data", "data.csv",
              "--horizon", str(HORIZON), "--steps", "6", "--eval-every", "3", "--batch-size", "8",
              "--baselines", "seasonal-naive", "--no-resume", "--no-progress", "--device", "cpu", "--output"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = [sys.executable, "-m", "tsfm.adapters.cli", *common, "one"]
    two = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "tsfm.adapters.cli",
           *common, "two"]
    for cmd in (one, two):
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]

    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "one/lora/adapter/adapter_model.safetensors"))
    b = load_file(str(tmp_path / "two/lora/adapter/adapter_model.safetensors"))
    assert a.keys() == b.keys()
    moved = max(a[k].float().abs().max().item() for k in a if "lora_B" in k)
    assert moved > 1e-3  # the adapters did train
    for k in a:  # Adam turns float-summation-order differences into ~1e-4 after a few steps
        np.testing.assert_allclose(a[k].float().numpy(), b[k].float().numpy(), atol=2e-3)
    report = json.loads((tmp_path / "two" / "report.json").read_text())
    assert report["runs"]["lora"]["steps"] == 6


def test_the_finetune_command_prints_the_verdict_and_its_folder_is_a_model_name(tiny_checkpoints, tmp_path, capsys):
    from tsfm.tasks.cli import main

    as_frame(sines()).to_csv(tmp_path / "data.csv", index=False)
    code = main(["finetune", "--model", str(tiny_checkpoints["chronos-bolt"]), "--data", str(tmp_path / "data.csv"),
                 "--horizon", str(HORIZON), "--steps", "4", "--eval-every", "2", "--batch-size", "8",
                 "--baselines", "seasonal-naive", "--output", str(tmp_path / "ft"), "--no-progress", "--force"])
    out = capsys.readouterr().out
    assert code == 0
    assert "zero-shot" in out and "seasonal-naive" in out and "trainable of" in out
    report = json.loads((tmp_path / "ft" / "report.json").read_text())
    assert {row["role"] for row in report["verdict"]} == {"zero-shot", "lora", "baseline"}

    code = main(["forecast", "--model", str(tmp_path / "ft"), "--data", str(tmp_path / "data.csv"),
                 "--horizon", "4", "--output", str(tmp_path / "fc.csv")])
    assert code == 0 and len(pd.read_csv(tmp_path / "fc.csv")) == 4 * 4


def test_when_data_is_a_hf_dataset_then_it_is_read_row_by_row(bolt, tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"item_id": ["a", "b", "c"], "target": [s.tolist() for s in sines(3)]})
    result = run(bolt, tmp_path / "out", data=ds, config=FAST.replace(steps=2, eval_every=2), force=True)
    assert result.report["series"] == {"train": 3, "test": 3, "skipped": 0}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data": sines(2, 30)}, "too few windows for horizon 8 plus validation"),
        ({"horizon": 65}, "beyond what this chronos-bolt model can be fine-tuned for"),
        ({"lora_config": {"target_modules": ["q", "query_proj"]}}, r"\['query_proj'\] do not exist.*'wi'"),
        ({"method": "adapter"}, "method must be one of"),
        ({"lora_config": {"rank": 4}}, "lora_config has a field peft.LoraConfig does not know"),
    ],
)
def test_when_input_is_bad_then_the_error_says_what_and_what_is_allowed(bolt, tmp_path, kwargs, match):
    with pytest.raises(InputError, match=match):
        run(bolt, tmp_path / "out", **kwargs)


def test_when_the_model_is_a_baseline_then_fine_tuning_refuses(tmp_path):
    with pytest.raises(InputError, match="fine-tuning needs a neural model of a family with a training interface"):
        run(tsfm.load("seasonal-naive"), tmp_path / "out")


@pytest.mark.slow
def test_when_an_adapter_meets_a_different_base_model_then_it_is_refused(lora_run, tiny_checkpoints, tmp_path):
    from tsfm.testing import build_tiny_checkpoint

    other = tsfm.load(str(build_tiny_checkpoint("chronos-bolt", tmp_path / "other", seed=1)), device="cpu")
    with pytest.raises(CheckpointError, match="trained on a different base model"):
        AdapterBank(other).add("x", lora_run.folder)

    marker = json.loads((lora_run.folder / "finetune.json").read_text())
    marker["base_model"] = str(tmp_path / "other")
    moved = tmp_path / "moved"
    import shutil

    shutil.copytree(lora_run.folder, moved)
    (moved / "finetune.json").write_text(json.dumps(marker))
    with pytest.raises(CheckpointError, match="trained on a different base model"):
        tsfm.load(str(moved))


def test_when_augmenting_then_only_contexts_change_and_every_process_count_sees_the_same_windows(tmp_path):
    from tsfm.adapters.windows import WindowSampler, split_series

    split = split_series(["a", "b", "c"], sines(3, 200), 8, 16, tmp_path)
    clean = WindowSampler(split, 64, 16, seed=3)
    noisy = WindowSampler(split, 64, 16, seed=3, augment=1.0)
    plain, perturbed = clean.batch(5, 0, 8), noisy.batch(5, 0, 8)
    assert np.array_equal(plain["target"], perturbed["target"])
    changed = ~np.all(np.isclose(plain["context"], perturbed["context"], equal_nan=True), axis=1)
    assert changed.sum() >= 6  # a perturbation can, rarely, leave a window as it was (e.g. a 0-step warp)
    shards = [noisy.batch(5, 0, 8, rank=r, world=2)["context"] for r in (0, 1)]
    assert np.allclose(np.stack(shards, 1).reshape(8, 64), perturbed["context"], equal_nan=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"augment": 1.5}, r"augment must be a probability in \[0, 1\], got 1.5"),
     ({"augment": 0.5, "augment_perturbations": ["rain"]}, r"unknown name\(s\) \['rain'\]")],
)
def test_when_augmentation_settings_are_bad_then_the_config_refuses(kwargs, match):
    with pytest.raises(InputError, match=match):
        FinetuneConfig(**kwargs)


def test_when_split_then_no_verdict_value_reaches_the_training_or_early_stopping_data(tmp_path):
    import datasets

    from tsfm.adapters.windows import split_series

    # each value is its own index (plus 10_000 per series), so any leaked value is recognisable
    lengths = [200, 120, 47]
    series = [np.arange(n, dtype=np.float32) + 10_000 * i for i, n in enumerate(lengths)]
    split = split_series(["a", "b", "c"], series, 8, 16, tmp_path)

    verdict = split.test.config.split(split.test.series, split.test.item_ids)
    first_verdict = {name: min(w.origin for w in verdict if w.item == i) for i, name in enumerate("abc")}
    assert first_verdict == {"a": 176, "b": 96, "c": 39}  # 3, 3 and 1 windows of 8
    train = datasets.Dataset.from_file(str(split.train_path)).with_format("numpy")
    for i, item in enumerate("abc"):
        rows = [j for j, name in enumerate(split.validation.item_ids) if name == item]
        stopping = [np.concatenate([split.validation.context[j], split.validation.target[j]]) - 10_000 * i
                    for j in rows]
        assert max(s.max() for s in stopping) < first_verdict[item]  # early stopping sees no verdict value
        first_stopping = min(split.validation.target[j][0] - 10_000 * i for j in rows)
        assert train[i]["target"].max() - 10_000 * i < first_stopping  # training sees neither
    assert split.skipped == [] and list(split.train_lengths) == [152, 72, 31]


def test_when_no_series_holds_a_verdict_window_then_the_error_names_the_longest_and_the_length_needed(tmp_path):
    from tsfm.adapters.windows import split_series

    with pytest.raises(InputError, match=r"needs at least min_context \+ 3 \* horizon = 40 .*'long', has 39"):
        split_series(["short", "long"], [np.ones(20), np.ones(39)], 8, 16, tmp_path)


def test_the_verdict_keeps_a_variant_only_when_it_wins_pooled_and_on_a_majority_of_windows():
    table = pd.DataFrame([
        {"model": "zs", "role": "zero-shot", "val_wql": np.nan, "test_wql": 0.100,
         "test_wql_w1": 0.10, "test_wql_w2": 0.10, "test_wql_w3": 0.10},
        {"model": "lo", "role": "lora", "val_wql": 0.08, "test_wql": 0.090,  # one big win, two losses
         "test_wql_w1": 0.05, "test_wql_w2": 0.11, "test_wql_w3": 0.11},
    ])
    kept, reason = choose(table)
    assert kept == "zs" and "better on 1 of 3 windows" in reason
    kept, reason = choose(table.assign(test_wql_w2=[0.10, 0.09]))
    assert kept == "lo" and "better on 2 of 3 windows" in reason


def test_when_a_variant_wins_pooled_and_on_windows_through_a_few_big_series_then_zero_shot_is_kept():
    # the M4 Hourly case: lower pooled WQL and 2 of 3 windows, but better on only half of the series
    zero = {"model": "zs", "role": "zero-shot", "val_wql": np.nan, "test_wql": 0.0384,
            "test_wql_w1": 0.0372, "test_wql_w2": 0.0391, "test_wql_w3": 0.0389, "series_loss": [90.0, 5, 5, 5]}
    lora = {"model": "lo", "role": "lora", "val_wql": 0.035, "test_wql": 0.0374,
            "test_wql_w1": 0.0367, "test_wql_w2": 0.0375, "test_wql_w3": 0.0391, "series_loss": [80.0, 6, 5, 5]}
    kept, reason = choose(pd.DataFrame([zero, lora]))
    assert kept == "zs" and "better on 2 of 3 windows and 1 of 4 series" in reason
    broad = {**lora, "series_loss": [80.0, 4, 4, 6]}  # now 3 of 4 series
    kept, reason = choose(pd.DataFrame([zero, broad]))
    assert kept == "lo" and "3 of 4 series" in reason
    failed = {**lora, "series_loss": [80.0, 4, float("nan"), float("nan")]}  # only series both forecast count
    assert choose(pd.DataFrame([zero, failed]))[0] == "lo"


def test_the_verdict_table_scores_every_candidate_on_each_rolling_window(tmp_path):
    from tsfm.adapters.verdict import Candidate, format_verdict, score_candidates
    from tsfm.adapters.windows import split_series

    split = split_series(["a", "b"], sines(2, 160), 8, 16, tmp_path)
    candidates = [Candidate("naive", "zero-shot", tsfm.load("naive")),
                  Candidate("seasonal-naive", "baseline", tsfm.load("seasonal-naive", season_length=12))]
    table = score_candidates(candidates, split.test, 64, 12)
    assert [c for c in table.columns if c.startswith("test_wql_w")] == ["test_wql_w1", "test_wql_w2", "test_wql_w3"]
    assert table["windows_won"].tolist() == [0, 3]
    assert table["series_won"].tolist() == [0, 2]  # seasonal naive copies the sines' cycle on both series
    naive, seasonal = (np.asarray(v) for v in table["series_loss"])
    assert naive.shape == (2,) and (seasonal < naive).all()
    text = format_verdict(table, "naive", "why")
    assert "test_wql_w3" in text and "series_loss" not in text


def test_when_windows_are_asked_for_then_the_split_cuts_that_many_of_each_kind(tmp_path):
    from tsfm.adapters.windows import split_series

    # 16 + (2 * 5 + 1) * 8 = 104 values hold 5 of each; a shorter series gives up early-stopping windows
    # first (verdict windows need 16 + 2 * 8 values before them, early-stopping windows 16 + 8)
    split = split_series(["a", "b", "c"], sines(3, 104)[:1] + sines(1, 80) + sines(1, 50), 8, 16, tmp_path, 5)
    verdict = split.test.config.split(split.test.series, split.test.item_ids)
    per_series = {name: sum(w.item == i for w in verdict) for i, name in enumerate(split.test.item_ids)}
    stopping = {name: split.validation.item_ids.count(name) for name in "abc"}
    assert split.test.config.windows == 5
    assert per_series == {"a": 5, "b": 5, "c": 2} and stopping == {"a": 5, "b": 2, "c": 1}
    assert list(split.train_lengths) == [24, 24, 26]


def test_when_no_series_holds_the_windows_asked_for_then_the_error_names_the_longest_and_the_length_needed(
    tmp_path,
):
    from tsfm.adapters.windows import split_series

    series = [np.ones(60), np.ones(90)]
    assert split_series(["short", "long"], series, 8, 16, tmp_path / "default").test.config.windows == 3
    with pytest.raises(InputError, match=r"windows=5 .* needs .* = 104 observations, but the longest series, "
                                         r"'long', has 90 \(enough for windows=4\); pass windows=4 or fewer"):
        split_series(["short", "long"], series, 8, 16, tmp_path / "five", windows=5)


@pytest.mark.parametrize("windows", [0, -1, 2.5, True])
def test_when_the_windows_setting_is_not_a_positive_integer_then_the_config_refuses(windows):
    with pytest.raises(InputError, match=rf"FinetuneConfig.windows must be None or an integer >= 1, got {windows!r}"):
        FinetuneConfig(windows=windows)


@pytest.mark.slow
def test_the_windows_flag_reaches_the_verdict_and_the_report(tiny_checkpoints, tmp_path, capsys):
    from tsfm.tasks.cli import main

    as_frame(sines(4, 200)).to_csv(tmp_path / "data.csv", index=False)
    code = main(["finetune", "--model", str(tiny_checkpoints["chronos-bolt"]), "--data", str(tmp_path / "data.csv"),
                 "--horizon", str(HORIZON), "--steps", "2", "--eval-every", "2", "--batch-size", "8",
                 "--windows", "5", "--baselines", "", "--output", str(tmp_path / "ft"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "test_wql_w5" in out and "of 5 windows" in out
    report = json.loads((tmp_path / "ft" / "report.json").read_text())
    assert report["windows"] == 5 and report["config"]["windows"] == 5
    assert {f"test_wql_w{k}" for k in range(1, 6)} <= set(report["verdict"][0])

    code = main(["finetune", "--model", str(tiny_checkpoints["chronos-bolt"]), "--data", str(tmp_path / "data.csv"),
                 "--horizon", str(HORIZON), "--windows", "20", "--output", str(tmp_path / "too-many")])
    assert code == 2 and "windows=20" in capsys.readouterr().err


def test_the_base_fingerprint_does_not_depend_on_torchs_thread_count():
    from tsfm.adapters.lora import fingerprint

    # float32 sums of the bundled model's weights differed in the 6th digit between 1 and 2 threads,
    # so an adapter trained under one count was refused as "a different base model" under another
    inner = tsfm.load("tsfm-bolt-mini", device="cpu").pipeline.inner_model
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fingerprint(inner)
        torch.set_num_threads(2)
        two = fingerprint(inner)
    finally:
        torch.set_num_threads(threads)
    assert one == two
