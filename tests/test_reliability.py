"""Nothing lost, nothing silent: bad CLI and API input, damaged weights, concurrent runs into one folder, SIGINT and
kills during saves. Every bad input must end in one clear line (or argparse's usage error), never a traceback and never
a silently wrong file; every folder must stay consistent."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pretrained_fake import make_fake_weights
from tempo_kit.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return make_fake_weights(tmp_path_factory.mktemp("weights"), names=("teacher", "cm", "ctm", "presto-s", "presto-s-long"))


def run_cli(argv, capsys) -> tuple[int, str]:
    """``(status, stderr)`` of an in-process CLI call; argparse's exit becomes status 2."""
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = exit_.code
    return status, capsys.readouterr().err


def assert_clean_failure(status, err, argv):
    assert status in (1, 2), f"{argv}: exit {status}"
    assert "Traceback" not in err, f"{argv}: traceback"
    lines = [line for line in err.splitlines() if line.strip()]
    if status == 1:
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{argv}: {err!r}"
    else:  # argparse: usage line(s) and one error line naming the option
        assert lines and "error:" in lines[-1], f"{argv}: {err!r}"


# -- the CLI -------------------------------------------------------------------------------------------------------------
NUMERIC = {
    "generate": ["--n", "--steps", "--cfg", "--seed", "--threads"],
    "control": ["--iterations", "--lr", "--steps", "--decode-steps", "--frames", "--seed", "--threads"],
    "demo": ["--seed", "--steps", "--iterations", "--threads"],
}
BAD_NUMBERS = ["0", "-1", "nan", "inf", "-inf", "1e309", "abc", "", "1e12", "0x10", "2.5.1", "--"]


def _bad_cli_inputs():
    cases = []
    for command, options in NUMERIC.items():
        for option in options:
            for value in BAD_NUMBERS:
                argv = [command, f"{option}={value}"]
                if value in ("0",) and option in ("--seed", "--iterations", "--cfg", "--lr"):
                    continue  # valid values
                cases.append(argv)
    cases += [
        ["generate", "--tags", "instrument=kazoo"], ["generate", "--tags", "timbre=bright"],
        ["generate", "--tags", "instrument"], ["generate", "--tags", "=flute"], ["generate", "--model", "nosuch"],
        ["generate", "--model", "vocoder"], ["generate", "--sampler", "nosuch"], ["generate", "--sampler", "heun"], ["generate", "--vocoder", "nosuch"], ["generate", "--nosuch"],
        ["control", "nosuch"], ["control", "melody", "--tune", "nosuch"], ["control", "melody", "--notes", "MISSING"],
        ["control", "melody", "--midi", "MISSING.mid"], ["control", "intensity", "--model", "nosuch"],
        ["control", "melody", "--method", "nosuch"], ["control", "melody", "--method", "ditto"],
        *(["control", "intensity", "--decode-levels", v] for v in ("0.1,0.5", "0", "-1", "nan", "abc", "0.5,0.5", "")),
        ["control", "intensity", "--decode-levels", "1000"], ["control", "intensity", "--decode-levels", "0.15",
                                                             "--decode-steps", "3"],
        ["distill"], ["distill", "--config", "MISSING.toml"], ["distill", "nosuch"],
        ["data"], ["data", "build", "--collections", "nosuch"], ["data", "summary", "MISSING"],
        ["nosuch"], ["plugins", "--nosuch"],
        ["generate", "--out", "/dev/null/clips"], ["control", "intensity", "--out", "/dev/null/run"],
        ["demo", "--out", "/dev/null/demo"], ["demo", "--toy", "--out", "/dev/null/toy"],
        ["serve", "--port", "70000"], ["serve", "--port", "-1"], ["serve", "--port", "abc"], ["serve", "--threads", "0"],
        ["serve", "--host", "nosuch.invalid"],
    ]
    return cases


BAD_CLI = _bad_cli_inputs()


def test_the_fuzz_set_is_large():
    assert len(BAD_CLI) >= 150


@pytest.mark.parametrize("argv", BAD_CLI, ids=lambda a: " ".join(a))
def test_bad_cli_input_is_one_clear_line(argv, weights, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))
    monkeypatch.chdir(tmp_path)
    if argv[0] in ("generate", "control", "demo") and "--out" not in argv:
        argv = [*argv, "--out", str(tmp_path / "out")]
    status, err = run_cli(argv, capsys)
    assert_clean_failure(status, err, argv)
    assert not any((tmp_path / "out").glob("*.wav")), f"{argv}: wrote audio"
    assert not (tmp_path / "out").exists() or any((tmp_path / "out").iterdir()), f"{argv}: left an empty --out"


def test_a_binary_notes_file_is_named(weights, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))
    (tmp_path / "tune.bin").write_bytes(bytes(range(128, 256)))
    status, err = run_cli(["control", "melody", "--notes", str(tmp_path / "tune.bin"), "--out", str(tmp_path / "o")],
                          capsys)
    assert status == 1 and "tune.bin: not a text file of NOTE:DURATION tokens" in err
    assert not (tmp_path / "o").exists()  # the failed run removed the folder it had made


def test_nan_guidance_writes_nothing(weights, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))
    for cfg in ("nan", "inf", "-1e30"):
        status, err = run_cli(["generate", "--model", "teacher", f"--cfg={cfg}", "--out", str(tmp_path)], capsys)
        assert_clean_failure(status, err, cfg)
    assert not list(tmp_path.iterdir())


# -- the API -------------------------------------------------------------------------------------------------------------
def _api_cases():
    from tempo_kit import get
    from tempo_kit.clips import save_wav
    from tempo_kit.pipeline import Pipeline, generate
    from tempo_kit.schedules import karras_sigmas, user_sigmas
    from tempo_kit.testing import TinyDenoiserNet
    from tempo_kit.denoisers import EDMPrecond
    from tempo_kit.jumps import ConsistencyJump, EulerJump, ODEJump

    den = EDMPrecond(net=TinyDenoiserNet(shape=(2, 4)))
    x = torch.randn(2, 2, 4)
    nan_x = x.clone()
    nan_x[0, 0, 0] = math.nan
    cases = {}
    jump = ConsistencyJump(denoiser=den)
    for name in ("euler", "heun", "dpmpp-2m", "dpmpp-2m-sde", "dpmpp-3m-sde", "unipc", "euler-ancestral",
                 "dpmpp-2s-ancestral", "cm", "ctm-gamma", "presto-s"):
        sampler = get("samplers", name)
        model = jump if sampler.drives == "jump" else den
        cases[f"{name}: NaN x_T"] = (lambda s=sampler, model=model: s(model, nan_x, 4), "non-finite")
        cases[f"{name}: inf x_T"] = (lambda s=sampler, model=model: s(model, x * math.inf, 4), "non-finite")
        cases[f"{name}: sigmas [0]"] = (lambda s=sampler, model=model: s(model, x, torch.tensor([0.0])), "at least one step")
        cases[f"{name}: negative sigma"] = (lambda s=sampler, model=model: s(model, x, torch.tensor([1.0, -1.0, 0.0])), "positive")
        cases[f"{name}: NaN sigma"] = (lambda s=sampler, model=model: s(model, x, torch.tensor([math.nan, 0.0])), "finite")
        cases[f"{name}: increasing sigmas"] = (lambda s=sampler, model=model: s(model, x, torch.tensor([1.0, 2.0, 0.0])), "decreasing")
        if sampler.needs_noise:
            cases[f"{name}: NaN noise"] = (lambda s=sampler, model=model: s(model, x, 3, noise=torch.full((3, 2, 2, 4), math.nan)),
                                           "noise has")
            cases[f"{name}: short noise"] = (lambda s=sampler, model=model: s(model, x, 3, noise=torch.zeros(2, 2, 2, 4)),
                                             "one noise tensor per step")
    for sigma in (-1.0, math.nan, math.inf):
        cases[f"denoiser sigma {sigma}"] = (lambda s=sigma: den(x, s), "noise levels must be finite")
        for jump in (ConsistencyJump(denoiser=den), EulerJump(denoiser=den), ODEJump(denoiser=den)):
            cases[f"{type(jump).__name__} from {sigma}"] = (lambda j=jump, s=sigma: j(x, s, 0.0), "noise levels")
    cases["EulerJump upwards"] = (lambda: EulerJump(denoiser=den)(x, 1.0, 2.0), "must not exceed")
    cases["UniPC order above steps"] = (lambda: get("samplers", "unipc", order=3)(den, x, 2), "needs at least 3 steps")
    cases["unknown sampler option"] = (lambda: get("samplers", "dpmpp-2m-sde", solver_type="rk4"), "solver_type")
    cases["negative eta"] = (lambda: get("samplers", "euler-ancestral", eta=-1.0), "eta")
    cases["schedule of 0 steps"] = (lambda: karras_sigmas(0), "must be >= 1, got 0")
    cases["empty sigmas"] = (lambda: user_sigmas([]), "empty")
    cases["huge noise request"] = (lambda: get("samplers", "euler-ancestral")(den, torch.zeros(64, 80, 256), 10**5),
                                   "GiB of per-step noise")
    cases["NaN audio to WAV"] = (lambda: save_wav("/tmp/never.wav", torch.full((100,), math.nan), 22050), "non-finite")
    cases["cfg NaN"] = (lambda: Pipeline.from_pretrained("teacher", cfg=math.nan), "finite guidance")
    cases["cfg huge"] = (lambda: Pipeline.from_pretrained("teacher", cfg=1e30), "finite guidance")
    cases["steps 0"] = (lambda: Pipeline.from_pretrained("teacher", steps=0), "steps must be >= 1")
    cases["no clips"] = (lambda: generate([], n=0), "nothing to generate")
    return cases


API_CASES = list(_api_cases())


@pytest.mark.parametrize("case", API_CASES)
def test_bad_api_input_raises_a_clear_error(case, weights, monkeypatch):
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))
    fn, message = _api_cases()[case]
    with pytest.raises((ValueError, TypeError)) as info:
        fn()
    assert message in str(info.value), f"{case}: {info.value}"
    assert "\n" not in str(info.value)


def test_there_are_many_api_cases():
    assert len(API_CASES) >= 100


# -- damaged weights -----------------------------------------------------------------------------------------------------
def _damage(folder: Path, how: str, donor: Path) -> None:
    from safetensors.torch import load_file, save_file

    weights_file, config = folder / "model.safetensors", folder / "config.json"
    data = weights_file.read_bytes()
    if how == "truncated":
        weights_file.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        weights_file.write_bytes(b"")
    elif how == "flipped bytes":
        middle = len(data) // 2
        weights_file.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + data[middle + 64:])
    elif how in ("NaN tensor", "NaN tensor, no recorded hash"):
        state = load_file(str(weights_file))
        key = next(k for k, v in state.items() if v.is_floating_point())
        state[key] = torch.full_like(state[key], math.nan)
        save_file(state, str(weights_file))
        if how.endswith("no recorded hash"):
            meta = json.loads(config.read_text())
            del meta["weights_sha256"]
            config.write_text(json.dumps(meta))
    elif how == "another model's weights":
        weights_file.write_bytes((donor / "model.safetensors").read_bytes())
    elif how == "config not JSON":
        config.write_text("{not json")
    elif how == "config of something else":
        config.write_text(json.dumps({"hello": 1}))
    elif how == "weights missing":
        weights_file.unlink()
    elif how == "random bytes":
        weights_file.write_bytes(os.urandom(len(data)))
    else:  # pragma: no cover
        raise ValueError(how)


DAMAGE = ["truncated", "empty", "flipped bytes", "NaN tensor", "NaN tensor, no recorded hash",
          "another model's weights", "config not JSON", "config of something else", "weights missing", "random bytes"]


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("which", ["ctm", "vocoder"])
def test_damaged_weights_are_one_line_and_write_nothing(how, which, weights, tmp_path, monkeypatch, capsys):
    import shutil

    copy = tmp_path / "w"
    shutil.copytree(weights, copy)
    _damage(copy / which, how, donor=copy / ("cm" if which == "ctm" else "teacher"))
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(copy))
    status, err = run_cli(["generate", "--model", "ctm", "--out", str(tmp_path / "out")], capsys)
    assert_clean_failure(status, err, how)
    assert which in err or "model.safetensors" in err or "config.json" in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.wav"))


# -- files: concurrent runs, SIGINT, kills during saves -------------------------------------------------------------------
def _cli(*argv, env):
    return subprocess.Popen([sys.executable, "-m", "tempo_kit.cli", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _env(weights):
    return {**os.environ, "TEMPO_KIT_WEIGHTS": str(weights), "TEMPO_KIT_LOAD_PLUGINS": ""}


def _assert_consistent(folder: Path, references: dict[int, dict[str, bytes]] | None = None) -> None:
    """No temporaries; clips.json (if any) lists exactly the clip files present, all from one seed."""
    assert not [p.name for p in folder.glob(".*.tmp*")], "temporaries left"
    clips = sorted(p.name for p in folder.glob("clip_*"))
    summary = folder / "clips.json"
    if not summary.exists():
        return
    meta = json.loads(summary.read_text())
    assert sorted(Path(f).name for f in meta["files"]) == clips
    if references is not None:
        expected = references[meta["seed"]]
        for name in clips:
            if name.endswith(".wav"):
                assert (folder / name).read_bytes() == expected[name], f"{name} is not seed {meta['seed']}'s"


def _concurrent_rounds(weights, tmp_path, rounds):
    env = _env(weights)
    references = {}
    for seed in (1, 2):  # what each seed writes when it runs alone
        ref = tmp_path / f"ref{seed}"
        assert _cli("generate", "--model", "ctm", "--n", "2", "--seed", str(seed), "--out", str(ref),
                    env=env).wait() == 0
        references[seed] = {p.name: p.read_bytes() for p in ref.glob("clip_*.wav")}
    out = tmp_path / "shared"
    for _ in range(rounds):
        procs = [_cli("generate", "--model", "ctm", "--n", "2", "--seed", str(seed), "--out", str(out), env=env)
                 for seed in (1, 2)]
        results = [(p.wait(), p.stderr.read()) for p in procs]
        assert any(code == 0 for code, _ in results)
        for code, err in results:
            assert "Traceback" not in err
            assert code == 0 or (code == 1 and "is writing to" in err), err
        _assert_consistent(out, references)


def test_two_concurrent_runs_never_mix_their_files(weights, tmp_path):
    _concurrent_rounds(weights, tmp_path, rounds=2)


@pytest.mark.slow
def test_ten_rounds_of_concurrent_runs(weights, tmp_path):
    _concurrent_rounds(weights, tmp_path, rounds=10)


def test_sigint_stops_with_one_line_and_a_consistent_folder(weights, tmp_path):
    env = _env(weights)
    out = tmp_path / "out"
    assert _cli("generate", "--model", "ctm", "--n", "3", "--out", str(out), env=env).wait() == 0
    proc = _cli("generate", "--model", "teacher", "--steps", "1000", "--n", "16", "--seed", "5", "--out", str(out),
                env=env)
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    err = proc.stderr.read()
    assert "Traceback" not in err
    assert code in (0, 130), err
    lines = err.strip().splitlines()
    assert all(": warning: " in line for line in lines[:-1]), err  # warnings are one line each, never source lines
    if code == 130:
        assert "interrupted" in lines[-1], err
    _assert_consistent(out)


def test_stale_temporaries_are_removed_at_the_next_start(tmp_path):
    from tempo_kit.training import distill

    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out / f".checkpoint.{dead.pid}.tmp.safetensors"
    stale.write_bytes(b"x" * 1000)
    mine = out / f".other.{os.getpid()}.tmp.json"  # a live writer's temporary stays
    mine.write_text("{}")
    distill("edm", {"data": {"name": "mixture"}, "model": {"model": "block-mlp", "width": 16, "depth": 2},
                    "train": {"steps": 1, "batch_size": 8, "progress": False, "out_dir": str(out)}})
    assert not stale.exists() and mine.exists()


SAVER = """
import sys, torch
from tempo_kit.models.io import atomic_save
state = {f"w{i}": torch.randn(512, 512) for i in range(16)}  # 16 MB per save
while True:
    atomic_save(state, sys.argv[1])
    print("saved", flush=True)
"""


def _kill_during_saves(tmp_path, kills):
    from tempo_kit.utils import remove_stale_temporaries
    from tempo_kit.models.io import read_safetensors

    target = tmp_path / "checkpoint.safetensors"
    for k in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(target)], stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()  # one complete save, then kill it somewhere in the next ones
        time.sleep(0.01 + 0.03 * k)
        proc.kill()
        proc.wait()
        remove_stale_temporaries(tmp_path)
        assert not list(tmp_path.glob(".*.tmp*"))
        assert len(read_safetensors(target)) == 16  # the last complete save, never a torn one


def test_a_kill_during_a_save_leaves_the_old_file_and_no_temporary(tmp_path):
    _kill_during_saves(tmp_path, kills=2)


@pytest.mark.slow
def test_ten_kills_during_saves(tmp_path):
    _kill_during_saves(tmp_path, kills=10)


def test_folder_lock_refuses_a_second_writer_and_leaves_no_lock_file(tmp_path):
    from tempo_kit.utils import FolderBusyError, folder_lock

    with folder_lock(tmp_path / "out") as folder:
        with pytest.raises(FolderBusyError, match=f"pid {os.getpid()}"):
            with folder_lock(folder):
                pass
        assert (folder / ".tempo-kit.lock").is_file()
    assert list((tmp_path / "out").iterdir()) == []
    with folder_lock(tmp_path / "out"):  # free again
        pass


def test_folder_lock_of_a_killed_writer_is_free(tmp_path):
    from tempo_kit.utils import folder_lock

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom tempo_kit.utils import folder_lock\n"
                               "with folder_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
                               str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    with folder_lock(tmp_path):  # the OS released the killed holder's lock; its file is reused
        pass


def test_folder_lock_reopens_a_lock_file_removed_under_it(tmp_path, monkeypatch):
    """A writer that opened the lock file just before its holder removed it locks a file no one else sees: it must
    notice and lock the file at the path instead."""
    import fcntl

    from tempo_kit.utils import folder_lock

    real_flock, calls = fcntl.flock, []

    def flock(handle, op):
        if op & fcntl.LOCK_EX and not calls:  # the holder releases between our open and our lock
            (tmp_path / ".tempo-kit.lock").unlink()
        calls.append(op)
        return real_flock(handle, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    with folder_lock(tmp_path):
        assert (tmp_path / ".tempo-kit.lock").read_text() == str(os.getpid())
    assert [op & fcntl.LOCK_EX for op in calls[:2]] == [fcntl.LOCK_EX, fcntl.LOCK_EX]  # locked twice: reopened


# -- parsers -------------------------------------------------------------------------------------------------------------
def _good_midi() -> bytes:
    from tempo_kit.data.render import midi_bytes

    events = [(i * 11025, True, 60 + i, 90) for i in range(8)] + [(i * 11025 + 9000, False, 60 + i, 0) for i in range(8)]
    return midi_bytes(sorted(events), program=0, sample_rate=22050)


def _damaged_midis():
    import random
    import struct

    good = _good_midi()
    rng = random.Random(0)
    cases = {"short header": good[:10], "header only": good[:14], "truncated track": good[: len(good) - 7],
             "oversized track length": good[:18] + struct.pack(">I", 10**6) + good[22:],
             "time division 0": good[:12] + b"\x00\x00" + good[14:], "header length 2": good[:4] + struct.pack(">I", 2) + good[8:],
             "more tracks than present": good[:10] + struct.pack(">H", 3) + good[12:], "empty": b"", "not MIDI": b"RIFF" + good[4:]}
    for k in range(40):
        cut = rng.randrange(len(good))
        cases[f"cut at {cut} ({k})"] = good[:cut]
        noisy = bytearray(good)
        for _ in range(5):
            noisy[rng.randrange(14, len(good))] = rng.randrange(256)
        cases[f"random bytes in the body ({k})"] = bytes(noisy)
        cases[f"random file ({k})"] = b"MThd" + bytes(rng.randrange(256) for _ in range(rng.randrange(60)))
    return cases


def test_midi_reader_rejects_damaged_files_with_the_file_named(tmp_path):
    from tempo_kit.control.targets import read_midi

    (tmp_path / "good.mid").write_bytes(_good_midi())
    assert len(read_midi(tmp_path / "good.mid")) == 8
    for name, data in _damaged_midis().items():
        path = tmp_path / "damaged.mid"
        path.write_bytes(data)
        try:
            notes = read_midi(path)
        except ValueError as err:
            assert str(path) in str(err), (name, err)
            continue
        # some random edits still parse (a changed velocity or pitch): then the result must be well-formed
        assert all(0 <= start < end and 0 <= pitch < 128 for start, end, pitch, _ in notes), name


def test_tunes_file_errors_name_the_file_and_the_problem(tmp_path):
    from tempo_kit.data.tunes import load_tunes

    good = {"frame_rate": 43.07, "tunes": [{"id": "a", "caption": "c", "tags": {}, "pitch_class": [0, -1, 11]}]}
    path = tmp_path / "tunes.json"
    path.write_text(json.dumps(good))
    assert load_tunes(path)[0].n_frames == 3
    bad = {"not JSON": "{", "a list": "[]", "no tunes": json.dumps({"frame_rate": 43}),
           "missing key": json.dumps({**good, "tunes": [{"id": "a", "caption": "c", "tags": {}}]}),
           "unknown key": json.dumps({**good, "tunes": [{**good["tunes"][0], "colour": 1}]}),
           "pitch out of range": json.dumps({**good, "tunes": [{**good["tunes"][0], "pitch_class": [12]}]}),
           "tune not a dict": json.dumps({**good, "tunes": [3]})}
    for name, text in bad.items():
        path.write_text(text)
        with pytest.raises(ValueError, match=str(path).replace(".", r"\.")):
            load_tunes(path)


@pytest.mark.parametrize("rate", [22050, 44100, 48000, 16000])
def test_audio_references_at_any_rate_give_the_right_pitch(rate):
    from tempo_kit.control.targets import IGNORE_INDEX, melody_from_audio
    from tempo_kit.features.chroma import LogChroma

    t = torch.arange(2 * rate) / rate
    tone = 0.3 * torch.sin(2 * math.pi * 440 * t)  # A4: pitch class 9
    target = melody_from_audio(tone, extractor=LogChroma(domain="audio"), sample_rate=rate)
    pcs = target.value[target.value != IGNORE_INDEX]
    assert len(pcs) > 0.8 * target.value.numel() and bool((pcs == 9).all())


@pytest.mark.parametrize("domain", ["audio", "mel"])
def test_a_melody_below_the_chroma_high_pass_is_not_read_as_leakage(domain):
    """A 220 Hz sine (A3) has no energy above the chroma's middle-C high-pass: its filters' leakage once read as an
    all-C# melody. Now an error that says so; a tone with harmonics above the cutoff still reads A; a chord is told
    apart from noise in the error."""
    from tempo_kit.audio import MelSpec
    from tempo_kit.control.targets import IGNORE_INDEX, melody_from_audio
    from tempo_kit.features.chroma import LogChroma

    spec, ext = MelSpec(), LogChroma(domain=domain)
    t = torch.arange(2 * spec.sample_rate) / spec.sample_rate

    def ref(*hz, harmonics=1):
        x = sum(0.3 / k * torch.sin(2 * math.pi * f * k * t) for f in hz for k in range(1, harmonics + 1))
        return x if domain == "audio" else spec.to_model(x[None])[0]

    low = 220.0 if domain == "audio" else 196.0  # mel frames' wide low bands leak an A3 sine above the cutoff
    with pytest.raises(ValueError, match=r"lies below the chroma's high-pass \(261.6 Hz\).*transpose"):
        melody_from_audio(ref(low), extractor=ext)
    pcs = melody_from_audio(ref(220.0, harmonics=5), extractor=ext).value
    assert bool((pcs[pcs != IGNORE_INDEX] == 9).all()) and int((pcs == 9).sum()) > 0.8 * pcs.numel()
    with pytest.raises(ValueError, match="chords where no single pitch class stands out"):
        melody_from_audio(ref(261.6, 329.6, 392.0, harmonics=3), extractor=ext)
    quiet_over_bass = sum(0.5 / k * torch.sin(2 * math.pi * 82.4 * k * t) for k in (1, 2)) + sum(
        0.05 / k * torch.sin(2 * math.pi * 523.3 * k * t) for k in (1, 2, 3))  # a C5 melody 10x under an E2 bass
    x = quiet_over_bass if domain == "audio" else spec.to_model(quiet_over_bass[None])[0]
    pcs = melody_from_audio(x, extractor=ext).value
    assert int((pcs == 0).sum()) > 0.8 * pcs.numel()
    batch = torch.stack([ref(f, harmonics=3) for f in (440.0, 523.3, 659.3)])  # a batch: read from its first item
    pcs = melody_from_audio(batch, extractor=ext).value
    assert pcs.ndim == 1 and int((pcs == 9).sum()) > 0.8 * pcs.numel()
    if domain == "audio":  # without the high-pass the low A is read as it is (mel bands are too wide down there)
        pcs = melody_from_audio(ref(220.0), extractor=LogChroma(domain=domain, highpass_hz=None)).value
        assert int((pcs == 9).sum()) > 0.8 * pcs.numel()


def test_silence_and_bad_rates_are_errors():
    from tempo_kit.control.targets import melody_from_audio
    from tempo_kit.features.chroma import LogChroma

    with pytest.raises(ValueError, match="no pitched frame"):
        melody_from_audio(torch.zeros(44100), extractor=LogChroma(domain="audio"))
    with pytest.raises(ValueError, match="no pitched frame"):
        melody_from_audio(1e-6 * torch.randn(44100), extractor=LogChroma(domain="audio"))
    with pytest.raises(ValueError, match="mel frames at 44100 Hz cannot feed"):
        melody_from_audio(torch.randn(80, 64), extractor=LogChroma(), sample_rate=44100)
    with pytest.raises(ValueError, match="sample_rate must be an audio rate"):
        melody_from_audio(torch.randn(4000), extractor=LogChroma(domain="audio"), sample_rate=3)


@pytest.mark.parametrize("text", ["0.1,0.5", "0", "-1", "nan", "inf", "abc", "0.5,0.5", "", "0.5,"])
def test_parse_levels_refuses_what_no_decode_can_use(text):
    from tempo_kit.utils import levels_text, parse_levels

    with pytest.raises(ValueError, match="noise levels"):
        parse_levels(text)
    assert parse_levels("0.5,0.1") == (0.5, 0.1) and parse_levels(levels_text((0.15,))) == (0.15,)


def test_parse_levels_as_an_argparse_type_shows_its_message(capsys):
    import argparse

    from tempo_kit.utils import parse_levels

    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--decode-levels", type=parse_levels)
    with pytest.raises(SystemExit):
        parser.parse_args(["--decode-levels", "0.1,0.5"])
    assert "strictly decreasing noise levels above 0" in capsys.readouterr().err


def test_public_target_helpers_reject_the_wrong_types_by_name():
    """Once raw AttributeError / pathlib / torch errors; now a TypeError or ValueError naming what is expected."""
    from tempo_kit.control import melody_from_notes, note_starts, read_midi
    from tempo_kit.control.tasks import task_objectives
    from tempo_kit.features.chroma import LogChroma
    from tempo_kit.pretrained import model_dir

    for bad in (torch.zeros(4), [0, 0, 2], None):
        with pytest.raises(TypeError, match="note_starts needs a melody Target"):
            note_starts(bad)
    for n in (-5, 0):
        with pytest.raises(ValueError, match="n_frames must be >= 1"):
            melody_from_notes([("C4", 1)], extractor=LogChroma(), n_frames=n)
    with pytest.raises(TypeError, match="onset_weight must be a finite number"):
        task_objectives("melody", n_frames=64, onset_weight="2")
    with pytest.raises(TypeError, match="read_midi takes the path of a MIDI file, got bytes"):
        read_midi(b"MThd\x00\x00\x00\x06")
    for bad in (None, 3):
        with pytest.raises(TypeError, match="a model is a bundled name .*presto-s"):
            model_dir(bad)


def test_what_a_melody_target_leaves_out_is_said():
    """A note shorter than a frame, and an onset objective with no note start to act on, once passed in silence."""
    from tempo_kit.control import melody_from_notes
    from tempo_kit.control.tasks import task_objectives
    from tempo_kit.features.chroma import LogChroma

    with pytest.warns(UserWarning, match=r"1 note shorter than one frame \(23 ms\) falls between frames"):  # D4
        melody_from_notes([("C4", 0.001), ("D4", 0.001), ("E4", 1)], extractor=LogChroma())
    held = melody_from_notes([("C4", 4)], extractor=LogChroma(), n_frames=64)
    with pytest.warns(UserWarning, match="onset objective has nothing to act on"):
        task_objectives("melody", n_frames=64, target=held, onset_weight=2.0)
