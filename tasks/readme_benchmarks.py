"""The README's results tables, registered with the benchmark behind each one.

Each entry names the ``<!-- bench:NAME -->`` block it rewrites, the commands that compute it (as
the README states them, with ``{shared}`` for the shared data folder and ``{work}`` for a scratch
folder) and how to turn their output into the table. Minutes are for 2 CPU cores: for the quick
tables from a run on a shared machine, scaled by its load; for the long ones (above
:data:`~tsfm.tasks.readme_tables.QUICK_MINUTES`, run only with ``--only NAME``) a rough estimate.
Every M4 Hourly command passes ``--season-length 24``: the ``m4:`` loader gives step-number
timestamps, from which no season can be inferred.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tsfm.tasks.readme_tables import ReadmeTable, TableRun, markdown_table, register_table

M4 = ("--data", "m4:{shared}/m4", "--horizon", "48", "--season-length", "24")
M4_NEEDS = ("m4/Hourly-train.csv", "m4/Hourly-test.csv")


def _csv(run: TableRun, *parts: str) -> pd.DataFrame:
    return pd.read_csv(run.work.joinpath(*parts))


# ---- zero-shot forecasting ---------------------------------------------------------------------
def _quickstart(run: TableRun) -> pd.DataFrame:
    board = _csv(run, "quickstart", "leaderboard.csv")
    return board[["model", "MASE", "WQL", "sMAPE", "coverage_80", "rel_MASE", "rel_WQL", "seconds"]]


register_table(ReadmeTable(
    "quickstart", 4, _quickstart, (("tsfm", "quickstart", "--output", "{work}/quickstart"),),
    description="tsfm quickstart: the shipped models and baselines on aeon's M1 yearly set",
    formats={"MASE": ".3f", "WQL": ".4f", "sMAPE": ".2f", "coverage_80": ".3f", "rel_MASE": ".3f",
             "rel_WQL": ".3f", "seconds": ".1f"},
))

SUITE_MODELS = ("tsfm-bolt-mini", "tsfm-chronos2-mini", "fracast-0", "seasonal-naive", "auto-ets", "ensemble")
SUITE_LABELS = {"m4_hourly": "M4 Hourly, 414 series", "etth1_ot": "ETTh1 `OT`", "m1_yearly": "M1 yearly, 181 series",
                "shampoo_sales": "shampoo sales", "solar": "solar, half-hourly", "uschange": "uschange, 5 series"}


def suite_table(rows: pd.DataFrame, summary: pd.DataFrame, models: tuple[str, ...] = SUITE_MODELS) -> pd.DataFrame:
    """The README's suite layout: one row per dataset, ``MASE / WQL`` per model, then the geometric means.

    The last column is the suite's ``ensemble`` (its weights chosen on windows before the scored
    ones) where the run has one; models absent from ``rows`` are left out.
    """
    from tsfm.tasks.suite import SUITE

    horizons = {d.name: d.horizon for d in SUITE}
    order = [n for n in ("m4_hourly", "etth1_ot") if n in set(rows.dataset)]
    order += sorted(set(rows.dataset) - set(order))
    models = tuple(m for m in models if m in set(rows.model))
    cells = rows.set_index(["dataset", "model"])
    table = [{"dataset (horizon)": f"{SUITE_LABELS.get(d, d.replace('_', ' '))} ({horizons[d]})",
              **{m: f"{cells.loc[(d, m), 'MASE']:.3f} / {cells.loc[(d, m), 'WQL']:.4f}" for m in models}}
             for d in order]
    means = summary.set_index("model")
    table.append({"dataset (horizon)": "geometric mean relative to seasonal naive",
                  **{m: f"{means.loc[m, 'gmean_rel_MASE']:.3f} / {means.loc[m, 'gmean_rel_WQL']:.3f}" for m in models}})
    return pd.DataFrame(table).rename(columns={"seasonal-naive": "seasonal naive"})


register_table(ReadmeTable(
    "suite", 6, lambda run: suite_table(_csv(run, "suite", "suite.csv"), _csv(run, "suite", "suite_summary.csv")),
    (("tsfm", "suite", "--models", "tsfm-bolt-mini,fracast-0,tsfm-chronos2-mini,naive,auto-ets",
      "--shared-data", "{shared}", "--no-ensemble", "--output", "{work}/suite"),),
    needs=(*M4_NEEDS, "ett/ETTh1.csv"),
    description="zero-shot suite: M4 Hourly, ETTh1 and six aeon sets, MASE / WQL",
))


def _m4_models(run: TableRun) -> pd.DataFrame:
    return _csv(run, "m4", "leaderboard.csv")[["model", "MASE", "WQL", "sMAPE", "coverage_80", "seconds"]]


register_table(ReadmeTable(
    "m4-models", 4, _m4_models,
    (("tsfm", "evaluate", *M4, "--models", "tsfm-bolt-mini,tsfm-chronos2-mini,fracast-0,auto-ets,naive",
      "--plot-series", "0", "--output", "{work}/m4"),),
    needs=M4_NEEDS, description="M4 Hourly, every offline model that finishes (auto-arima does not)",
    formats={"MASE": ".3f", "WQL": ".4f", "sMAPE": ".2f", "coverage_80": ".3f", "seconds": ".3g"},
))


def _performance(run: TableRun) -> pd.DataFrame:
    from tsfm.benchmarks import batching_speedup, wrapper_overhead
    from tsfm.bundled import bundled_model_path

    mini = bundled_model_path("tsfm-bolt-mini")
    tiny, small = wrapper_overhead(None), wrapper_overhead(mini)
    batched = batching_speedup(mini)

    def overhead(r: dict) -> str:
        return f"tsfm {r['tsfm_s']:.4f} s vs upstream {r['upstream_s']:.4f} s: ratio {r['ratio']:.3f}"

    return pd.DataFrame({"benchmark (`tsfm bench ...`)": [
        f"wrapper overhead, Bolt-tiny-size checkpoint ({tiny['n_params'] / 1e6:.1f}M), "
        f"{tiny['n_series']} series x {tiny['context_length']}, h={tiny['horizon']}",
        f"wrapper overhead, `tsfm-bolt-mini` ({small['n_params'] / 1e6:.1f}M), same batch",
        f"batching, `tsfm-bolt-mini`, {batched['n_series']:,} series",
    ], "figure": [
        overhead(tiny) + (", identical forecasts" if tiny["max_abs_diff"] == 0 else
                          f", forecasts differ by at most {tiny['max_abs_diff']:.1e}"),
        overhead(small),
        f"{batched['batched_s']:.3f} s batched vs {batched['one_by_one_s']:.3f} s one call per series: "
        f"{batched['speedup']:.1f}x",
    ]})


register_table(ReadmeTable(
    "performance", 2, _performance,
    description="tsfm bench overhead and batching (tsfm.benchmarks.wrapper_overhead, batching_speedup)",
))


# ---- in-context forecasting, fine-tuning, distillation ----------------------------------------
def covariate_tables(run: TableRun, synthetic_tasks: int = 768, plant_windows: int = 8, ett_windows: int = 20) -> str:
    """The covariate benchmark's parts, one table each (what ``tsfm bench covariates`` prints)."""
    import torch

    import tsfm
    from tsfm.pretraining.cli import load_config
    from tsfm.tasks import covariate_bench as bench

    torch.set_num_threads(1)
    model = tsfm.load("tsfm-chronos2-mini", device="cpu")
    reference = tsfm.load(bench.REFERENCE, season_length=24)
    ett = run.shared_data / "ett"
    batches = max(1, synthetic_tasks // bench.HELD_OUT_BATCH)
    parts = {
        f"held-out synthetic covariate tasks ({batches * bench.HELD_OUT_BATCH}, h=64), `tsfm-chronos2-mini`":
            bench.held_out_covariate_runs(model, 64, batches=batches,
                                          synthetic=load_config("chronos2-mini-cpu").synthetic).reset_index(),
        "synthetic plant, `tsfm-chronos2-mini`": bench.plant_runs(model, reference, 24, plant_windows),
        "ETTh1 `OT` and six loads, `tsfm-chronos2-mini`": bench.ett_runs(model, reference, ett, 24, ett_windows),
        "`tsfm-bolt-mini` alone and with the residual regression": bench.regression_runs(
            tsfm.load("tsfm-bolt-mini", device="cpu"), reference, ett, 24, ett_windows, plant_windows),
    }
    return "\n\n".join(f"{title}:\n\n{markdown_table(frame.round(4))}" for title, frame in parts.items())


register_table(ReadmeTable(
    "covariates", 1, covariate_tables, needs=("ett/ETTh1.csv",),
    description="tsfm bench covariates --model tsfm-chronos2-mini --ett {shared}/ett "
                "--synthetic-config chronos2-mini-cpu --regression-model tsfm-bolt-mini",
))


def _finetune(run: TableRun) -> str:
    """Verdict windows beside the official test per variant, the verdict's choice, then the costs."""
    from tsfm.adapters.verdict import format_tiers

    rows = _csv(run, "ft", "comparison.csv")
    summary = json.loads(run.work.joinpath("ft", "summary.json").read_text())
    costs = _csv(run, "ft", "costs.csv")
    names = {"lora": "LoRA", "full": "full fine-tuning", "seasonal-naive": "seasonal naive"}
    order = {m: rank for rank, m in enumerate(("zero-shot", "lora", "full", "seasonal-naive"))}  # the README's
    rows = rows.sort_values("model", key=lambda m: m.map(lambda x: order.get(x, len(order))), kind="stable")
    windows = [c for c in rows.columns if c.startswith("verdict_w")]
    label = {c: f"verdict window {c[len('verdict_w'):]}" for c in windows}
    table = rows[["model", *windows, "verdict_WQL", "test_MASE", "test_WQL", "test_WQL_vs_zero_shot",
                  "test_coverage_80"]].rename(columns={
                      **label, "verdict_WQL": "verdict WQL (pooled)", "test_MASE": "test MASE",
                      "test_WQL": "test WQL", "test_WQL_vs_zero_shot": "test WQL vs zero-shot",
                      "test_coverage_80": "test coverage_80"})
    table["model"] = [names.get(m, m) + (" (kept)" if m == summary["kept"] else "") for m in rows["model"]]
    formats = {**{label[c]: ".4f" for c in windows}, "verdict WQL (pooled)": ".4f", "test MASE": ".3f",
               "test WQL": ".4f", "test WQL vs zero-shot": ".3f", "test coverage_80": ".3f"}
    rankings = (f"Verdict ranking: {format_tiers(summary['verdict_ranking'])}; official test by WQL: "
                f"{format_tiers(summary['test_ranking_wql'])}, by MASE: {format_tiers(summary['test_ranking_mase'])}. "
                f"Kept model not worse than zero-shot on the test: {summary['kept_not_worse_than_zero_shot']}.")
    costs = costs.assign(
        trainable=[f"{p:,} ({s:.2%})" for p, s in zip(costs.trainable_parameters, costs.trainable_share)],
        file=[f"{b:,} B ({s:.1%} of the base file)" for b, s in zip(costs.file_bytes, costs.file_share_of_base)],
    )[["method", "trainable", "file", "steps", "best_step", "seconds_per_100_steps", "peak_rss_mb"]].replace(
        {"method": {"lora": "LoRA"}})
    return (markdown_table(table, formats) + "\n\n" + rankings + "\n\n"
            + markdown_table(costs, {"seconds_per_100_steps": ".1f", "peak_rss_mb": ".0f"}))


register_table(ReadmeTable(
    "finetune-m4", 3, _finetune,
    (("tsfm", "bench", "finetune", "--shared-data", "{shared}", "--output", "{work}/ft"),),
    needs=M4_NEEDS, description="LoRA and full fine-tuning of tsfm-bolt-mini on M4 Hourly with tsfm finetune's "
                                "defaults: the verdict's windows beside the official test",
))

DISTILL = ("tsfm", "distill", "--teacher", "tsfm-bolt-mini", "--data", "m4:{shared}/m4", "--holdout", "--horizon", "48")
STUDENTS = {  # file stem -> (distill flags, row label)
    "mlp-w64": (("--student", "mlp", "--context-length", "192", "--hidden-size", "64"), "`mlp`, context 192, width 64"),
    "mlp-w128": (("--student", "mlp", "--context-length", "192", "--hidden-size", "128"),
                 "`mlp`, context 192, width 128"),
    "linear": (("--student", "linear", "--context-length", "192"), "`linear`, context 192"),
    "patch": (("--student", "patch", "--context-length", "192"), "`patch`, context 192"),
}


def _distill_commands() -> tuple[tuple[str, ...], ...]:
    export = ("--quantize", "dynamic-int8", "--data", "m4:{shared}/m4")
    commands = [(*DISTILL, *flags, "--output", f"{{work}}/{stem}") for stem, (flags, _) in STUDENTS.items()]
    commands += [("tsfm", "export", f"{{work}}/{stem}", *export, "--output", f"{{work}}/{stem}-int8.onnx")
                 for stem in STUDENTS]
    commands += [("tsfm", "export", "tsfm-bolt-mini", "--horizon", "48", "--quantize", q, "--data", "m4:{shared}/m4",
                  "--output", f"{{work}}/teacher-{q}.onnx") for q in ("none", "dynamic-int8")]
    onnx = ",".join(f"{{work}}/{stem}-int8.onnx" for stem in STUDENTS)
    commands.append(("tsfm", "distill-report", "--teacher", "tsfm-bolt-mini", "--student", "{work}/mlp-w64",
                     "--onnx", onnx, "--teacher-onnx", "{work}/teacher-none.onnx,{work}/teacher-dynamic-int8.onnx",
                     *M4, "--output", "{work}/report.json"))
    return tuple(commands)


def _distill(run: TableRun) -> str:
    from tsfm.distill.report import format_table

    labels = {  # report row -> README row, in the README's order
        "teacher tsfm-bolt-mini": "teacher `tsfm-bolt-mini` (torch)",
        "teacher teacher-none.onnx": "teacher, ONNX fp32",
        "teacher teacher-dynamic-int8.onnx": "teacher, ONNX dynamic int8",
        "student (torch)": f"{STUDENTS['mlp-w64'][1]} (torch)",
        **{f"student {stem}-int8.onnx": f"{label}, ONNX dynamic int8" for stem, (_, label) in STUDENTS.items()},
        "seasonal-naive": "seasonal naive",
    }
    table = pd.DataFrame(json.loads((run.work / "report.json").read_text())["table"])
    order = {label: rank for rank, label in enumerate(labels)}  # the teacher's ONNX files beside the teacher
    table = table.sort_values("model", key=lambda m: m.map(lambda x: order.get(x, len(order))), kind="stable")
    return format_table(table.assign(model=table.model.map(lambda m: labels.get(m, m))))


register_table(ReadmeTable(
    "distill-m4", 11, _distill, _distill_commands(), needs=M4_NEEDS,
    description="students of tsfm-bolt-mini on M4 Hourly: size, 1-thread latency, accuracy, int8 ONNX",
))


def _stress_pivot(run: TableRun, folder: str, names: dict[str, str]) -> pd.DataFrame:
    """``stress.csv`` as perturbation x model, MASE relative to the clean context."""
    from tsfm.tasks.stress import CLEAN

    def severity(value: float, unit: str) -> str:
        if unit.startswith("share"):
            return f"{value:.0%}"
        return f"{value:g} dB SNR" if unit == "SNR dB" else f"{value:g} {unit}"

    table = _csv(run, folder, "stress.csv")
    table = table[table.perturbation != CLEAN].copy()
    table["perturbation"] = [f"{p.replace('_', ' ')}, {severity(s, u)}"
                             for p, s, u in zip(table.perturbation, table.severity, table.unit)]
    wide = table.pivot(index="perturbation", columns="model", values="rel_MASE")
    wide = wide.reindex(index=list(dict.fromkeys(table.perturbation)), columns=list(dict.fromkeys(table.model)))
    return wide.rename(columns=names).reset_index()


register_table(ReadmeTable(
    "distill-augment", 3,
    lambda run: _stress_pivot(run, "stress", {"plain": "without", "augmented": "with `--augment 0.5`"}),
    (
        (*DISTILL, *STUDENTS["mlp-w128"][0], "--output", "{work}/plain"),
        (*DISTILL, *STUDENTS["mlp-w128"][0], "--augment", "0.5", "--output", "{work}/augmented"),
        ("tsfm", "stress", *M4, "--models", "{work}/plain,{work}/augmented", "--perturbations", "noise,missing",
         "--output", "{work}/stress"),
    ),
    needs=M4_NEEDS, description="noise-injection training: MASE under noise and gaps relative to the clean context",
    formats={"without": ".3f", "with `--augment 0.5`": ".3f"},
))


# ---- anomaly detection and classification -----------------------------------------------------
SKAB_LABELS = {
    "drift": "**tsfm drift-aware (`drift`, the default)**",
    "embedding": "tsfm embedding kNN (`tsfm-bolt-mini`, anchored 64-step windows, max over 8 sensors)",
    "forecast": "tsfm forecast band", "zscore": "z-score", "robust-zscore": "robust z-score",
    "matrix-profile": "matrix profile", "isolation-forest": "isolation forest",
    "residual-seasonal-naive": "residual of seasonal naive",
}


def _skab(run: TableRun) -> pd.DataFrame:
    table = _csv(run, "skab.csv").rename(columns={"FAR_%": "FAR %", "MAR_%": "MAR %", "event_F1": "event F1",
                                                  "VUS_PR": "VUS-PR"})
    table["detector"] = [SKAB_LABELS.get(name, name) for name in table["detector"]]
    return table[["detector", "F1", "FAR %", "MAR %", "event F1", "VUS-PR"]]


register_table(ReadmeTable(
    "skab", 6, _skab,
    (("tsfm", "detect-bench", "skab", "--shared-data", "{shared}", "--output", "{work}/skab.csv"),),
    needs=("skab",), description="SKAB valve1 leaderboard protocol, beside SKAB's published rows",
    formats={"F1": ".3f", "FAR %": ".1f", "MAR %": ".1f", "event F1": ".3f", "VUS-PR": ".3f"},
))

CLASSIFY_COLUMNS = {"tsfm-hybrid": "tsfm hybrid (default)", "tsfm-auto": "tsfm auto", "tsfm-embed": "tsfm embeddings",
                    "tsfm-in-context": "tsfm in-context", "minirocket": "MiniRocket", "dtw": "1-NN DTW",
                    "minirocket (published)": "MiniRocket, published"}


def classification_table(ucr: pd.DataFrame, cwru: pd.DataFrame, published: dict[str, float]) -> pd.DataFrame:
    """UCR accuracies with their mean (and the published MiniRocket), then the CWRU rows."""
    from tsfm.tasks.classification.benchmarks import side_by_side

    count = ucr.dataset.nunique()
    words = dict(enumerate(("one", "two", "three", "four", "five", "six", "seven", "eight", "nine"), start=1))
    table = side_by_side(ucr, published).rename(index={"mean": f"**mean of the {words.get(count, count)}**"})
    if not cwru.empty:
        table = pd.concat([table, cwru.pivot(index="dataset", columns="method", values="accuracy")
                          .reindex(list(dict.fromkeys(cwru.dataset)))])
    table = table.rename(columns=CLASSIFY_COLUMNS, index={"CWRU same-load 0HP": "CWRU same-load, 0 HP, by recording",
                                                          "CWRU cross-load 0->1HP": "CWRU cross-load, 0 HP -> 1 HP"})
    return table.rename_axis("data").reset_index()


def _classification(run: TableRun) -> pd.DataFrame:
    from tsfm.tasks.classification.benchmarks import published_minirocket

    table = classification_table(_csv(run, "ucr.csv"), _csv(run, "cwru.csv"), published_minirocket(run.shared_data))
    return table.fillna("-").map(lambda v: f"{v:.3f}" if isinstance(v, float) else v)


register_table(ReadmeTable(
    "classification", 7, _classification,
    (("tsfm", "classify-bench", "ucr", "--shared-data", "{shared}", "--output", "{work}/ucr.csv"),
     ("tsfm", "classify-bench", "cwru", "--shared-data", "{shared}", "--methods",
      "tsfm-hybrid,tsfm-embed,tsfm-in-context,minirocket", "--output", "{work}/cwru.csv")),  # DTW does not finish CWRU
    needs=("cwru/load0hp_12k_DE.npz", "cwru/load1hp_12k_DE.npz"),
    description="UCR sets in aeon and CWRU bearings: hybrid, TSFM embeddings, in-context against MiniRocket, DTW",
))


# ---- resilience -----------------------------------------------------------------------------------
def _calibration(run: TableRun) -> pd.DataFrame:
    import tsfm
    from tsfm import data as tsdata
    from tsfm.adapters.calibration import coverage_report

    _, series = tsdata.to_series(tsdata.load_frame(f"m4:{run.shared_data}/m4"))
    models = {"tsfm-bolt-mini": tsfm.load("tsfm-bolt-mini"), "+ split conformal": tsfm.load(str(run.work / "split")),
              "+ adaptive conformal (latest 3 windows)": tsfm.load(str(run.work / "adaptive"))}
    table = coverage_report(list(models.values()), series, 48).table
    return pd.DataFrame({"model": list(models), "80% interval coverage": table.coverage.to_numpy(),
                         "mean width": table.mean_width.to_numpy()})


register_table(ReadmeTable(
    "calibration", 3, _calibration,
    tuple(("tsfm", "calibrate", *M4, "--method", method, "--windows", "5", "--output", f"{{work}}/{method}")
          for method in ("split", "adaptive")),
    needs=M4_NEEDS, description="split and adaptive conformal calibration of tsfm-bolt-mini on M4 Hourly",
    formats={"80% interval coverage": ".3f", "mean width": ".1f"},
))


def _fallback(run: TableRun) -> pd.DataFrame:
    from tsfm.adapters.fallback import worst_decile

    scores = _csv(run, "fallback", "per_series.csv").drop(columns="item_id")  # primary, fallback, routed
    labels = [scores.columns[0], "seasonal naive", "fallback forecaster"]
    return pd.DataFrame([{"model": label, "mean MASE": float(np.nanmean(values)),
                          "worst-decile MASE": worst_decile(values.to_numpy(dtype=float))}
                         for label, (_, values) in zip(labels, scores.items())])


register_table(ReadmeTable(
    "fallback", 2, _fallback, (("tsfm", "fallback", *M4, "--output", "{work}/fallback"),), needs=M4_NEEDS,
    description="tsfm-bolt-mini with seasonal naive as fallback on M4 Hourly",
    formats={"mean MASE": ".3f", "worst-decile MASE": ".3f"},
))

register_table(ReadmeTable(
    "stress", 2, lambda run: _stress_pivot(run, "stress", {"student": "MLP student"}),
    (
        (*DISTILL, "--student", "mlp", "--context-length", "512", "--output", "{work}/student"),
        ("tsfm", "stress", *M4, "--models", "tsfm-bolt-mini,{work}/student,seasonal-naive",
         "--output", "{work}/stress"),
    ),
    needs=M4_NEEDS, description="MASE under context perturbations relative to the clean context, M4 Hourly",
    formats={"tsfm-bolt-mini": ".3f", "MLP student": ".3f", "seasonal-naive": ".3f"},
))
