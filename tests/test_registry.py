"""Tests for tempo_kit.registry and tempo_kit.hookspecs, with real entry-point plugins from tests/fixtures/."""

import inspect
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import tempo_kit
from tempo_kit import hookspecs, registry
from tempo_kit.registry import (KINDS, DuplicateComponentError, PluginLoadError, PluginLoadWarning, Registry,
                                UnknownComponentError)
from tempo_kit.testing.toy import GaussianMixture


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("TEMPO_KIT_LOAD_PLUGINS", "TEMPO_KIT_STRICT_PLUGINS", "TEMPO_KIT_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


def test_builtins_are_registered_through_their_own_plugins():
    reg = Registry(load_entry_points=False)
    assert {"euler", "heun", "cm", "ctm-gamma", "presto-s"} <= set(reg.names("samplers"))
    assert reg.entry("samplers", "heun").plugin == "tempo_kit.builtins.samplers"
    assert reg.entry("samplers", "heun").description
    assert reg.get("samplers", "ctm-gamma", gamma=0.3).gamma == 0.3
    assert reg.names("sampler") == reg.names("samplers")  # the singular kind works too
    assert reg.names("loss") == reg.names("losses")  # "losses" -> "loss", not "losse"
    with pytest.raises(UnknownComponentError, match="unknown component kind 'losse' \\(did you mean 'losses'"):
        reg.names("losse")
    with pytest.raises(TypeError, match="a component kind is a string"):
        reg.names(["samplers"])


def test_entry_point_plugin_is_found_and_usable_by_name(install_plugins):
    install_plugins("good")
    reg = Registry()
    assert reg.entry("samplers", "fixture-euler").plugin == "fixture_good"
    assert reg.entry("losses", "fixture-l1").plugin == "fixture_good"  # a hook taking only `register`
    assert not reg.failed
    # the process-wide registry (tempo_kit.get) sees it too, and the component composes with the built-ins
    sampler = tempo_kit.get("samplers", "fixture-euler")
    data = GaussianMixture(means=[[0.0]], stds=[1.0])
    x_T = torch.linspace(-80, 80, 5, dtype=torch.float64)[:, None]
    torch.testing.assert_close(sampler(data, x_T, 5), tempo_kit.get("samplers", "euler")(data, x_T, 5))
    loss = tempo_kit.get("losses", "fixture-l1")
    assert float(loss(torch.ones(3), torch.zeros(3))) == 1.0


def test_broken_plugin_warns_naming_it_and_the_rest_keeps_working(install_plugins):
    install_plugins("good", "broken")
    with pytest.warns(PluginLoadWarning, match=r"'fixture_broken' failed to load: RuntimeError: .*broken on purpose"):
        reg = Registry()
    assert "fixture_broken" in reg.failed
    assert "fixture-euler" in reg.names("samplers") and "heun" in reg.names("samplers")


def test_strict_mode_raises(install_plugins, monkeypatch):
    install_plugins("broken")
    monkeypatch.setenv("TEMPO_KIT_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="fixture_broken"):
        Registry()
    monkeypatch.delenv("TEMPO_KIT_STRICT_PLUGINS")
    with pytest.raises(PluginLoadError, match="fixture_broken"):
        Registry(strict=True)


def test_misspelt_hook_warns_and_is_not_registered(install_plugins, monkeypatch):
    install_plugins("typo", "good")
    with pytest.warns(PluginLoadWarning, match=r"'fixture_typo'.*register_sampler"):
        reg = Registry()
    assert "fixture_typo" not in [name for name, _ in reg.pm.list_name_plugin()]
    assert "fixture-euler" in reg.names("samplers")
    monkeypatch.setenv("TEMPO_KIT_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="fixture_typo"):
        Registry()


def test_load_plugins_variable_restricts_loading(install_plugins, monkeypatch):
    install_plugins("good", "broken")
    monkeypatch.setenv("TEMPO_KIT_LOAD_PLUGINS", "fixture_good")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the broken plugin is never imported
        reg = Registry()
    assert "fixture-euler" in reg.names("samplers")
    monkeypatch.setenv("TEMPO_KIT_LOAD_PLUGINS", "")
    reg = Registry()
    assert "fixture-euler" not in reg.names("samplers") and "heun" in reg.names("samplers")


def test_trace_variable_prints_loading(install_plugins, monkeypatch, capsys):
    install_plugins("good")
    monkeypatch.setenv("TEMPO_KIT_TRACE_PLUGINS", "1")
    Registry()
    err = capsys.readouterr().err
    assert "loading 'fixture_good'" in err and "fixture_good.register_samplers" in err


def test_unknown_names_list_the_valid_names():
    reg = Registry(load_entry_points=False)
    with pytest.raises(UnknownComponentError) as info:
        reg.get("samplers", "hune")
    message = str(info.value)
    assert "unknown sampler 'hune'" in message and "Did you mean 'heun'?" in message
    for name in reg.names("samplers"):
        assert name in message
    with pytest.raises(KeyError):  # also a KeyError, for callers that expect one
        reg.get("samplers", "nope")
    with pytest.raises(UnknownComponentError, match="valid kinds: models, samplers"):
        reg.names("schedulers")


def test_duplicate_names_are_skipped_with_a_warning_naming_both_plugins(install_plugins):
    install_plugins("good", "duplicate")
    pattern = r"'fixture-euler' is registered twice: by plugin 'fixture_(good|duplicate)' and by plugin 'fixture_(good|duplicate)'"
    with pytest.warns(PluginLoadWarning, match=pattern):
        reg = Registry()
    assert "fixture-euler" in reg.names("samplers") and reg.get("samplers", "heun")  # everything else still works
    assert any("registered twice" in message for message in reg.failed.values())
    with pytest.raises(DuplicateComponentError, match=pattern):
        Registry(strict=True)


class Shadow:
    """Reuses a built-in name, then adds a new one."""

    __name__ = "shadow"

    @tempo_kit.hookimpl
    def register_samplers(self, register, context):
        register("heun", object)
        register("shadow-sampler", object)


def test_a_plugin_cannot_replace_a_builtin():
    with pytest.warns(PluginLoadWarning, match=r"'tempo_kit.builtins.samplers' and by plugin 'shadow'"):
        reg = Registry(load_entry_points=False, plugins=[Shadow()])
    assert reg.entry("samplers", "heun").plugin == "tempo_kit.builtins.samplers"
    assert reg.entry("samplers", "shadow-sampler").plugin == "shadow"


def test_a_plugin_that_exits_or_fails_half_way_registers_nothing():
    class Exits:
        __name__ = "exits"

        @tempo_kit.hookimpl
        def register_samplers(self, register, context):
            raise SystemExit(3)

    class HalfWay:
        __name__ = "half-way"

        @tempo_kit.hookimpl
        def register_models(self, register, context):
            register("half-model", object)

        @tempo_kit.hookimpl
        def register_samplers(self, register, context):
            register("half-sampler", object)
            raise RuntimeError("broken after one registration")

    class Skips:  # pytest.skip() and the like raise a BaseException that is neither Exception nor SystemExit
        __name__ = "skips"

        @tempo_kit.hookimpl
        def register_samplers(self, register, context):
            class Odd(BaseException):
                pass

            raise Odd("skipped at import")

    with pytest.warns(PluginLoadWarning):
        reg = Registry(load_entry_points=False, plugins=[Exits(), HalfWay(), Skips()])
    assert set(reg.failed) == {"exits", "half-way", "skips"} and "SystemExit" in reg.failed["exits"]
    assert "half-model" not in reg.names("models") and "half-sampler" not in reg.names("samplers")
    assert reg.get("samplers", "heun")


def test_hook_context_and_failing_hook():
    seen = {}

    class Plugin:
        __name__ = "ctx"

        @tempo_kit.hookimpl
        def register_routers(self, register, context):
            seen["kind"], seen["registry"] = context.kind, context.registry
            register("fixed", lambda: "router")

        @tempo_kit.hookimpl
        def register_losses(self, register, context):
            raise ValueError("bad loss hook")

    with pytest.warns(PluginLoadWarning, match="'ctx' failed to register losses: ValueError: bad loss hook"):
        reg = Registry(load_entry_points=False, plugins=[Plugin()])
    assert seen["kind"] == "routers" and seen["registry"] is reg
    assert "fixed" not in reg.names("routers")  # all or nothing: its loss hook failed, so none of it is registered


def test_every_kind_has_a_documented_hook_with_the_standard_signature():
    for kind in KINDS:
        spec = getattr(hookspecs, f"register_{kind}")
        assert list(inspect.signature(spec).parameters) == ["register", "context"], kind
        assert spec.__doc__ and len(spec.__doc__.strip()) > 20, f"register_{kind} has no docstring"


def test_reset_registry_rebuilds():
    first = registry.get_registry()
    assert registry.get_registry() is first
    registry.reset_registry()
    assert registry.get_registry() is not first


@pytest.mark.slow
def test_pip_installed_plugin_is_discovered(tmp_path):
    """The fixture distribution really installs with pip, and its entry point is then discovered."""
    src = tmp_path / "plugin_good"  # a copy: setuptools writes build/ and *.egg-info next to the sources
    shutil.copytree(Path(__file__).parent / "fixtures" / "plugin_good", src)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(tmp_path / "site"), str(src)], check=True, cwd=tmp_path)
    code = ("import tempo_kit; e = tempo_kit.get_registry().entry('samplers', 'fixture-euler'); "
            "print(e.plugin)")
    env = {"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "fixture_good"
