"""Tests for the ``tempo-kit`` command line: ``plugins [--json]`` and ``demo --toy``."""

import json
import os
import subprocess
import sys

import pytest

from tempo_kit import cli
from tempo_kit.registry import PluginLoadError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("TEMPO_KIT_LOAD_PLUGINS", "TEMPO_KIT_STRICT_PLUGINS", "TEMPO_KIT_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


def test_plugins_json_lists_every_component(install_plugins, capsys):
    install_plugins("good")
    assert cli.main(["plugins", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {(r["kind"], r["name"]): r for r in out["components"]}
    assert rows[("sampler", "heun")]["plugin"] == "tempo_kit.builtins.samplers"
    assert rows[("sampler", "fixture-euler")]["plugin"] == "fixture_good"
    assert rows[("loss", "fixture-l1")]["description"] == "L1, from a plugin"
    assert set(out["components"][0]) == {"kind", "name", "plugin", "description"}
    assert out["failed_plugins"] == {}


def test_plugins_table_survives_a_broken_plugin(install_plugins, capsys):
    import warnings

    install_plugins("good", "broken")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # listed once, in the table, not also as a warning
        assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["KIND", "NAME", "PLUGIN"]
    assert "fixture-euler" in out and "heun" in out
    assert "warning: tempo_kit plugin 'fixture_broken' failed to load" in out


def test_plugins_command_in_a_fresh_process_with_a_broken_plugin(install_plugins):
    sites = install_plugins("broken")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sites)}
    env.pop("TEMPO_KIT_STRICT_PLUGINS", None)
    run = subprocess.run([sys.executable, "-m", "tempo_kit.cli", "plugins", "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "fixture_broken" in json.loads(run.stdout)["failed_plugins"]
    assert "fixture_broken" in run.stderr  # the warning


def test_plugins_command_in_strict_mode_fails(install_plugins, monkeypatch, capsys):
    install_plugins("broken")
    monkeypatch.setenv("TEMPO_KIT_STRICT_PLUGINS", "1")
    assert cli.main(["plugins"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: tempo_kit plugin 'fixture_broken' failed to load") and err.count("\n") == 1
    monkeypatch.setenv("TEMPO_KIT_DEBUG", "1")  # the traceback on request
    with pytest.raises(PluginLoadError, match="fixture_broken"):
        cli.main(["plugins"])


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "plugins" in capsys.readouterr().out


def test_demo_writes_plot_and_summary(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--toy", "--out", str(out), "--n", "300"]) == 0
    assert (out / "samples.png").stat().st_size > 10_000
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary) == 3
    baseline = summary["data vs. fresh data sample"]["energy_distance_to_data"]
    for label, result in summary.items():
        assert result["energy_distance_to_data"] < max(0.05, 5 * baseline), label
    assert "wrote" in capsys.readouterr().out


def test_version_and_debug(capsys):
    import tempo_kit

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"tempo-kit {tempo_kit.__version__}"
    assert cli.main(["generate", "--tags", "instrument=kazoo"]) == 1
    assert capsys.readouterr().err.startswith("error: unknown instrument 'kazoo'")
    with pytest.raises(ValueError, match="kazoo"):  # --debug: the exception itself
        cli.main(["--debug", "generate", "--tags", "instrument=kazoo"])


def test_warnings_print_as_one_line_without_the_source_line():
    from tempo_kit import cli

    line = cli._one_line_warning("generate")(UserWarning("2 of 8 clips peaked\n  above full scale"), UserWarning, "x.py", 3)
    assert line == "tempo-kit generate: warning: 2 of 8 clips peaked above full scale\n"


def test_control_decode_levels_reach_the_toy_run_and_its_summary(tmp_path):
    out = tmp_path / "ctl"
    assert cli.main(["control", "intensity", "--model", "toy", "--decode-levels", "0.5", "--iterations", "2",
                     "--quiet", "--out", str(out)]) == 0
    (summary,) = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert (summary["decode_steps"], summary["decode_levels"], summary["nfe_decoding"]) == (2, [0.5], 2)
    assert summary["optimizer"] == "adam"
    assert cli.main(["control", "outpainting", "--model", "toy", "--iterations", "2", "--quiet", "--out",
                     str(out / "paint")]) == 0
    (summary,) = [json.loads(p.read_text()) for p in (out / "paint").glob("*.json")]
    assert summary["optimizer"] == "adam-sample"  # the painting tasks' default, as on the bundled models


def test_fast_keeps_zero_iterations_and_an_empty_out_is_refused(tmp_path, monkeypatch, capsys):
    out = tmp_path / "ctl"
    assert cli.main(["control", "intensity", "--model", "toy", "--iterations", "0", "--fast", "--quiet", "--out",
                     str(out)]) == 0
    (summary,) = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert summary["iterations"] == 0  # was 10: --fast caps the count, it does not replace 0
    monkeypatch.chdir(tmp_path)
    for command in (["generate"], ["control", "intensity", "--model", "toy"]):
        for empty in ("", "  "):
            assert cli.main([*command, "--out", empty]) == 1
            assert "--out is empty: name the output folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctl"]  # nothing written into the current folder


def test_an_invalid_choice_suggests_the_closest(capsys):
    with pytest.raises(SystemExit):
        cli.main(["generat"])
    assert "invalid choice: 'generat' (did you mean 'generate'?)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["generate", "--vocoder", "griffin_lim"])
    assert "(did you mean 'griffin-lim'?)" in capsys.readouterr().err


def test_a_failed_run_removes_every_folder_it_made(tmp_path, capsys):
    assert cli.main(["generate", "--model", "nosuch", "--out", str(tmp_path / "a" / "b" / "c")]) == 1
    assert "no bundled model 'nosuch'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_serve_names_the_address_it_cannot_use():
    import socket

    from tempo_kit.commands.serve import make_server

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot serve on 127.0.0.1:{port}: .*--port 0 picks a free port"):
            make_server("127.0.0.1", port, quiet=True)
