"""``tempo-kit serve``: the page and its JSON API on a real local server over tiny untrained models."""

from __future__ import annotations

import base64
import io
import json
import threading
import urllib.error
import urllib.request

import pytest
import soundfile

from pretrained_fake import make_fake_weights


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("TEMPO_KIT_WEIGHTS", str(make_fake_weights(tmp_path_factory.mktemp("w"), names=("ctm", "teacher"))))
    from tempo_kit.commands.serve import make_server

    srv = make_server("127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    mp.undo()


def _post(url: str, body) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _wav(data: str) -> tuple:
    return soundfile.read(io.BytesIO(base64.b64decode(data)))


def test_page_and_options(server):
    with urllib.request.urlopen(server + "/", timeout=30) as response:
        page = response.read().decode()
    assert "<canvas id=\"curve\"" in page and "/api/generate" in page
    assert "http://" not in page.replace("http://127", "") and "https://" not in page  # nothing from a CDN
    with urllib.request.urlopen(server + "/api/options", timeout=30) as response:
        options = json.loads(response.read())
    assert options["models"] == ["ctm", "teacher"] and options["control_models"] == ["ctm"]
    assert options["steps"]["ctm"] >= 1 and "flute" in options["tag_vocab"]["instrument"]


def test_generate_returns_a_playable_clip_and_a_spectrogram(server):
    status, data = _post(server + "/api/generate", {"model": "ctm", "steps": 1, "seconds": 1.5, "seed": 3,
                                                     "tags": {"instrument": "flute", "mode": ""}})
    assert status == 200, data
    audio, rate = _wav(data["audio"])
    assert rate == 22050 and audio.shape == (64 * 512,)  # 1.5 s -> 64.6 frames -> 64 (2 patches of 32)
    assert base64.b64decode(data["image"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert data["summary"]["steps"] == 1


@pytest.mark.parametrize("body", [
    {"task": "intensity", "curve": [-40, -20, -10], "iterations": 2, "seconds": 1.5},
    {"task": "melody", "notes": "C4:1 E4:1 G4:2", "tempo": 200, "iterations": 2, "seconds": 1.5},
    {"task": "melody", "iterations": 2, "seconds": 1.5},
])
def test_control_follows_a_drawn_curve_or_typed_notes(server, body):
    status, data = _post(server + "/api/control", body)
    assert status == 200, data
    assert _wav(data["audio"])[0].ndim == 1 and base64.b64decode(data["image"])[:4] == b"\x89PNG"
    assert data["summary"]["iterations"] == 2 and body["task"] in data["summary"]["final_losses"]
    # the pipeline's task defaults: loudness read on the vocoded audio, the melody on mel and audio plus its register
    assert data["summary"]["objective_domains"] == ({"intensity": "audio"} if body["task"] == "intensity" else
                                                    {"melody": "mel", "melody_audio": "audio", "melody_octaves": "mel"})


def test_control_without_iterations_runs_the_tasks_default(server):
    from tempo_kit.pipeline import control_defaults

    status, data = _post(server + "/api/control", {"task": "intensity", "curve": [-40, -20], "seconds": 1.5})
    assert status == 200, data
    assert data["summary"]["iterations"] == control_defaults("ctm", "intensity")["iterations"]


@pytest.mark.parametrize("path, body, message", [
    ("/api/generate", {"model": "nope"}, "unknown model 'nope'"),
    ("/api/generate", {"steps": 0}, "steps must lie in [1, 100]"),
    ("/api/generate", {"tags": {"instrument": "kazoo"}}, "unknown instrument 'kazoo'"),
    ("/api/generate", [1], "must be a JSON object"),
    ("/api/control", {"task": "intensity"}, "needs curve"),
    ("/api/control", {"task": "intensity", "curve": [1]}, "curve points must lie in [2, 512]"),
    ("/api/generate", {"seed": -1}, "seed must lie in"),
    ("/api/generate", {"seed": 1.5}, "seed must be a whole number"),
    ("/api/generate", {"seed": "x"}, "seed must be a number"),
    ("/api/generate", {"steps": True}, "steps must be a whole number"),
    ("/api/control", {"task": "melody", "notes": "C4"}, "expected NOTE:DURATION"),
    ("/api/control", {"task": "looping"}, "task must be intensity or melody"),
    ("/api/control", {"task": "melody", "model": "teacher"}, "DITTO-2 runs on a distilled jump"),
    ("/api/nothing", {}, "no endpoint"),
    ("/api/control", {"task": "intensity", "curve": [None, None]}, "curve must be a list of numbers"),
    ("/api/control", {"task": "intensity", "curve": [True, False]}, "curve must be a list of numbers"),
    ("/api/control", {"task": "melody", "notes": "C4:1", "tempo": 0}, "tempo"),  # once silently 120
    ("/api/control", {"task": "melody", "notes": "C4:1", "tempo": [1]}, "tempo must be a number"),
    ("/api/control", {"task": "melody", "tune": ["x"]}, "tune must be a tune id"),
    ("/api/control", {"task": "melody", "notes": 5}, "notes must be text"),
])
def test_bad_requests_get_one_line_errors(server, path, body, message):
    status, data = _post(server + path, body)
    assert status in (400, 404) and message in data["error"] and "\n" not in data["error"], data


@pytest.mark.parametrize("headers, body, status, message", [
    ({"Content-Type": "text/plain"}, b"", 415, "send the request as application/json"),
    ({"Content-Type": "application/json", "Content-Length": "-5"}, b"", 400, "Content-Length must be a number"),
    ({"Content-Type": "application/json", "Content-Length": "abc"}, b"", 400, "Content-Length must be a number"),
    ({"Content-Type": "application/json", "Content-Length": str(2 << 20)}, b"", 413, "at most"),
    ({"Content-Type": "application/json", "Content-Length": "100"}, b'{"seconds": 1, "steps": 1}', 400,
     "ended after 26 of 100 bytes"),  # once answered 200 with a clip
    ({"Content-Type": "application/json", "Content-Length": "3"}, b"{x}", 400, "not JSON"),
])
def test_bad_headers_get_one_line_errors(server, headers, body, status, message):
    import http.client
    import socket

    host, port = server.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/api/generate")
    for key, value in headers.items():
        conn.putheader(key, value)
    conn.endheaders()
    if body:
        conn.send(body)
    conn.sock.shutdown(socket.SHUT_WR)  # nothing more comes: a short body ends here
    response = conn.getresponse()
    assert response.status == status and message in json.loads(response.read())["error"]
    conn.close()


def test_other_methods_and_query_strings(server):
    import http.client

    host, port = server.removeprefix("http://").split(":")
    for method in ("HEAD", "PUT", "OPTIONS"):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request(method, "/api/generate")
        response = conn.getresponse()
        assert response.status == 405, method
        conn.close()
    with urllib.request.urlopen(server + "/?v=2", timeout=30) as response:
        assert response.status == 200 and b"<html" in response.read().lower()
