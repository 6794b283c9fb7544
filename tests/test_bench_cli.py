"""``tsfm bench``: every benchmark of every layer behind one command, found through entry points."""

from __future__ import annotations

import pytest

from tsfm.tasks.bench_cli import benchmarks
from tsfm.tasks.cli import main

EXPECTED = {"batching", "calibration", "classify", "covariates", "detect", "ensemble", "ensemble-rules", "finetune",
            "fleet", "overhead", "throughput"}


def test_when_listing_benchmarks_then_each_installed_one_is_named_with_a_description(capsys):
    assert main(["bench", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in lines} == EXPECTED
    assert not any(line.endswith("main") for line in lines)  # a docstring line, not the module:function fallback


def test_when_every_benchmark_is_loaded_then_it_is_a_callable_taking_argv():
    for name, entry in benchmarks().items():
        assert callable(entry.load()), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_when_asking_a_benchmark_for_help_then_its_own_flags_are_shown(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", name, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: tsfm bench {name}" in capsys.readouterr().out


def test_when_the_benchmark_is_unknown_then_one_line_names_the_known_ones(capsys):
    assert main(["bench", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in err and "overhead" in err


def test_when_running_a_benchmark_then_the_flags_after_its_name_reach_it(tiny_checkpoints, capsys):
    argv = ["bench", "overhead", "--checkpoint", str(tiny_checkpoints["chronos-bolt"]), "--n-series", "2",
            "--context-length", "32", "--horizon", "4", "--repeats", "1"]
    assert main(argv) == 0
    assert "2 series x 32 steps, horizon 4" in capsys.readouterr().out


def test_when_a_module_runs_as_a_script_then_it_is_a_launcher_not_a_benchmark():
    """``python -m`` stays for the launchers (the tsfm command, accelerate/torchrun entries, the edge runtime)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    launchers = {"tasks/cli.py", "adapters/cli.py", "tsfm/pretraining/cli.py", "distill/edge/tsfm_edge/__main__.py"}
    scripts = {
        str(path.relative_to(root)) for folder in ("tsfm", "adapters", "distill", "tasks")
        for path in (root / folder).rglob("*.py") if '__name__ == "__main__"' in path.read_text()
    }
    assert scripts <= launchers, f"register {sorted(scripts - launchers)} under tsfm.benchmarks instead"
