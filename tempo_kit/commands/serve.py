"""``tempo-kit serve``: a local web demo on the bundled models (standard library only, no CDN, nothing downloaded).

One page: pick tags, model and steps, generate and listen; draw an intensity curve or type a melody (``C4:1 D4:0.5``
...) or pick a bundled tune, and hear DITTO-2 follow it, with the target-vs-achieved plot. The page talks to three JSON
endpoints (``GET /api/options``, ``POST /api/generate``, ``POST /api/control``) that return audio and images as
base64 data; one request runs at a time, and the pipelines stay loaded between requests.
"""

from __future__ import annotations

import base64
import errno
import io
import json
import threading
from pathlib import Path
from typing import Any

from . import add_threads_option, bounded, set_threads

#: Bounds of the page's inputs, checked on the server.
LIMITS = {"steps": (1, 100), "seconds": (1.0, 12.0), "iterations": (0, 400), "curve points": (2, 512),
          "seed": (0, 2**31 - 1)}
#: Seconds a connection may stay silent before the server drops it.
TIMEOUT = 30


def configure(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=bounded(int, 0, 65535), default=7860,
                        help="port (default: %(default)s; 0 picks a free one)")
    parser.add_argument("--quiet", action="store_true", help="print only the address, no request log")
    add_threads_option(parser)


def _wav_base64(audio, sample_rate: int) -> str:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, audio.detach().reshape(-1).cpu().numpy(), sample_rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buffer.getvalue()).decode()


def _png_base64(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    return base64.b64encode(buffer.getvalue()).decode()


def _number(body: dict, key: str, default, kind=float):
    value = body.get(key, default)
    low, high = LIMITS[key]
    if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{key} must be {'a whole number' if kind is int else 'a number'}, got {value!r}")
    try:
        value = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{key} must lie in [{low}, {high}], got {value}")
    return value


class DemoApp:
    """What the endpoints do, without HTTP: ``options()``, ``generate(body)``, ``control(body)`` -> JSON-ready dicts.
    Errors are ``ValueError``/``KeyError`` with a message for the page."""

    def __init__(self) -> None:
        self._pipes: dict[str, Any] = {}
        self._lock = threading.Lock()  # torch work one request at a time; pipelines are shared

    def _pipe(self, model: str):
        from ..pipeline import Pipeline

        models = self.options()["models"]
        if model not in models:
            raise ValueError(f"unknown model {model!r}; available: {', '.join(models)}")
        with self._lock:  # two first requests for one model load it once
            if model not in self._pipes:
                self._pipes[model] = Pipeline.from_pretrained(model)
            return self._pipes[model]

    def options(self) -> dict:
        from ..data.tunes import load_tunes
        from ..pipeline import CONTROL_MODELS, DEFAULT_MODEL, GENERATORS
        from ..pretrained import available, pretrained_meta, tag_vocab

        models = [m for m in GENERATORS if m in available()]  # those bundled are offered
        vocab = tag_vocab(models[0]) if models else {}
        try:
            tunes = [{"id": t.id, "title": t.title, "key": t.key} for t in load_tunes()]
        except (FileNotFoundError, KeyError):
            tunes = []
        steps = {m: pretrained_meta(m).get("steps") for m in models}
        return {"models": models, "control_models": [m for m in CONTROL_MODELS if m in models], "steps": steps,
                "default_model": DEFAULT_MODEL if DEFAULT_MODEL in models else (models or [None])[0],
                "tag_vocab": vocab, "tunes": tunes, "limits": LIMITS}

    @staticmethod
    def _tags(body: dict) -> dict:
        tags = body.get("tags") or {}
        if not isinstance(tags, dict):
            raise ValueError("tags must be an object of FIELD: VALUE")
        return {k: v for k, v in tags.items() if v}

    def generate(self, body: dict) -> dict:
        from ..clips import plot_spectrogram
        from ..utils import count_text

        pipe = self._pipe(str(body.get("model") or self.options()["default_model"]))
        steps = _number(body, "steps", pipe.steps, int)
        seconds = _number(body, "seconds", 5.94)
        seed = _number(body, "seed", 0, int)
        with self._lock:
            clips = pipe(self._tags(body), n=1, steps=steps, seconds=seconds, seed=seed)
        fig = plot_spectrogram(clips.mel[0], title=f"{pipe.name}, {count_text(steps, 'step')}")
        return {"audio": _wav_base64(clips.audio[0], clips.sample_rate), "image": _png_base64(fig),
                "summary": {k: v for k, v in clips.summary().items() if k not in ("tags",)}}

    def control(self, body: dict) -> dict:
        from ..control.targets import intensity_from_points, melody_from_notes
        from ..data.tunes import get_tune
        from ..features import Intensity
        from ..features.chroma import LogChroma
        from .control import parse_notes

        options = self.options()
        model = str(body.get("model") or (options["control_models"] or [None])[0])
        if model not in options["control_models"]:
            raise ValueError(f"DITTO-2 runs on a distilled jump: {', '.join(options['control_models'])}")
        pipe = self._pipe(model)
        frames = pipe.frames(seconds=_number(body, "seconds", 5.94))
        # absent: the pipeline's defaults for the task (control_defaults)
        iterations = _number(body, "iterations", None, int) if body.get("iterations") is not None else None
        task = body.get("task")
        tags = self._tags(body)
        if task == "intensity":
            curve = body.get("curve")
            if not isinstance(curve, list):
                raise ValueError("intensity needs curve: a list of dB values (drawn left to right)")
            _number({"curve points": len(curve)}, "curve points", 0, int)
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in curve):
                raise ValueError("curve must be a list of numbers (dB values, drawn left to right)")
            target = intensity_from_points([float(v) for v in curve], n_frames=frames, extractor=Intensity())
        elif task == "melody":
            extractor = LogChroma()
            if body.get("notes"):
                if not isinstance(body["notes"], str):
                    raise ValueError("notes must be text such as 'C4:1 D4:0.5'")
                tempo = body.get("tempo", 120)
                if isinstance(tempo, bool) or not isinstance(tempo, (int, float)):
                    raise ValueError(f"tempo must be a number of beats per minute, got {tempo!r}")
                target = melody_from_notes(parse_notes(body["notes"], source="the notes"), tempo=tempo,
                                           extractor=extractor, n_frames=frames)
            else:
                if body.get("tune") is not None and not isinstance(body["tune"], str):
                    raise ValueError(f"tune must be a tune id (text), got {body['tune']!r}")
                tune = get_tune(body.get("tune") or None)
                target = tune.target(extractor=extractor, n_frames=frames)
                tags = tags or dict(tune.tags)
        else:
            raise ValueError(f"task must be intensity or melody, got {task!r}")
        with self._lock:
            run = pipe.control(task, target=target, tags=tags, iterations=iterations,
                               seed=_number(body, "seed", 0, int), frames=frames, progress=False)
        summary = run.summary()
        return {"audio": _wav_base64(run.audio[0], run.sample_rate), "image": _png_base64(run.result.plot()),
                "summary": {k: summary[k] for k in ("model", "iterations", "decode_steps", "decode_levels",
                                                    "final_losses", "objective_domains", "accuracy", "wall_seconds")}}


class _BadRequest(Exception):
    """A request the server refuses before the app sees it, with its HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def make_server(host: str = "127.0.0.1", port: int = 7860, *, quiet: bool = False, app: DemoApp | None = None):
    """A ``ThreadingHTTPServer`` serving the page and the API (``server.server_address`` has the bound port)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ..cli import _user_errors, one_line

    app = app or DemoApp()
    page = (Path(__file__).with_name("serve_page.html")).read_bytes()

    class Handler(BaseHTTPRequestHandler):
        timeout = TIMEOUT  # a client that opens a connection and sends nothing does not hold a thread forever

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":  # a HEAD answer has headers only
                self.wfile.write(body)

        def _json(self, status: int, data: dict) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def _route(self) -> str:
            return self.path.split("?", 1)[0].split("#", 1)[0]

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self._route()
            if path in ("/", "/index.html"):
                self._send(200, page, "text/html; charset=utf-8")
            elif path == "/api/options":
                self._json(200, app.options())
            else:
                self._json(404, {"error": f"no page {path}"})

        def _not_allowed(self) -> None:
            self._json(405, {"error": f"{self.command} is not supported: GET the page or /api/options, POST "
                                      "/api/generate or /api/control"})

        do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815

        def do_POST(self) -> None:  # noqa: N802
            routes = {"/api/generate": app.generate, "/api/control": app.control}
            path = self._route()
            if path not in routes:
                self._json(404, {"error": f"no endpoint {path}"})
                return
            try:
                kind = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
                if kind != "application/json":
                    raise _BadRequest(415, f"send the request as application/json, not {kind}")
                text = self.headers.get("Content-Length") or "0"
                if not text.strip().isdigit():
                    raise _BadRequest(400, f"Content-Length must be a number of bytes, got {text!r}")
                length = int(text)
                if length > 1 << 20:
                    self.close_connection = True
                    raise _BadRequest(413, f"the request body may hold at most {1 << 20} bytes, got {length}")
                raw = self.rfile.read(length)
                if len(raw) < length:
                    raise _BadRequest(400, f"the request body ended after {len(raw)} of {length} bytes")
                try:
                    body = json.loads(raw or b"{}")
                except (ValueError, RecursionError) as err:
                    raise _BadRequest(400, f"the request body is not JSON ({err})") from None
                if not isinstance(body, dict):
                    raise _BadRequest(400, "the request body must be a JSON object")
                reply = routes[path](body)
            except _BadRequest as err:
                self._reply_error(err.status, str(err))
            except (ConnectionError, TimeoutError):  # the client went away: nobody to answer
                self.close_connection = True
            except TypeError as err:  # a JSON value of the wrong type, named by the check that met it
                self._reply_error(400, " ".join(str(err).split()))
            except Exception as err:  # one line for the page, as the CLI does; bad input is the client's (400)
                self._reply_error(400 if isinstance(err, _user_errors()) else 500, one_line(err))
            else:
                self._json(200, reply)

        def _reply_error(self, status: int, message: str) -> None:
            try:
                self._json(status, {"error": message})
            except (ConnectionError, TimeoutError):  # the client hung up before the answer
                self.close_connection = True

        def log_message(self, format: str, *args) -> None:
            if not quiet:
                super().log_message(format, *args)

    try:
        return ThreadingHTTPServer((host, port), Handler)
    except OSError as err:  # a host that does not resolve, a port in use or not allowed
        hint = "; --port 0 picks a free port" if err.errno in (errno.EADDRINUSE, errno.EACCES) else ""
        raise OSError(f"cannot serve on {host}:{port}: {err.strerror or err}{hint}") from None


def run(args) -> int:
    set_threads(args)
    server = make_server(args.host, args.port, quiet=args.quiet)
    host, port = server.server_address[:2]
    print(f"tempo-kit serve: http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
