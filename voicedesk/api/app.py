"""The app factory: one model, one store, the routes, the page, and the in-process runner."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from voicedesk import __version__
from voicedesk.alerts.policy import Routing
from voicedesk.alerts.watcher import AlertWatcher
from voicedesk.api import (
    routes_experiments,
    routes_jobs,
    routes_live,
    routes_questions,
    routes_speech,
)
from voicedesk.api.auth import COOKIE, RateLimiter, service_token
from voicedesk.api.broker import EventBroker
from voicedesk.api.deps import Services, authorize, get_services, services
from voicedesk.api.limits import BodyLimit
from voicedesk.api.metrics import Metrics
from voicedesk.api.pool import TranscriptionPool
from voicedesk.api.priority import in_lowered_thread
from voicedesk.api.schemas import Health
from voicedesk.config import Settings
from voicedesk.errors import VoicedeskError
from voicedesk.listener import Responder
from voicedesk.store import Store
from voicedesk.stt.protocol import Transcriber
from voicedesk.types import Alert

if TYPE_CHECKING:
    from voicedesk.speech.synth import Synthesizer
    from voicedesk.stt.whisper import WhisperTranscriber

STATIC = Path(__file__).parent / "static"
JSON_BODY_LIMIT = 1 << 20
"""Bytes a JSON request body may have (uploads have their own cap, [serve] max_upload_mb)."""


def _build(settings: Settings, transcriber: Transcriber) -> Services:
    """The services of one app, around an already loaded model."""
    from voicedesk.stt.whisper import WhisperTranscriber

    metrics = Metrics()
    store = Store.in_dir(settings.data_dir())
    serve = settings.serve
    return Services(
        settings=settings,
        store=store,
        pool=TranscriptionPool(
            transcriber, serve.transcription_workers, metrics, niceness=serve.model_nice,
            max_batch=serve.max_batch,
        ),
        broker=EventBroker(),
        metrics=metrics,
        limiter=RateLimiter(serve.rate_limit_per_minute, serve.rate_burst),
        token=service_token(settings),
        typed=Responder(settings, store, confirm=False),
        whisper=transcriber if isinstance(transcriber, WhisperTranscriber) else None,
        synthesizer=_server_voice(settings),
    )


def _server_voice(settings: Settings) -> Synthesizer | None:
    """The voice /speech speaks with, loaded only when the page is to use it."""
    if settings.speech.web != "server":
        return None
    from voicedesk.speech.synth import make_synthesizer

    return make_synthesizer(settings.speech)


def _alert_watcher(svc: Services) -> AlertWatcher:
    """Alerts published to /events (the page shows and speaks them) and sent to webhooks."""

    def publish(alert: Alert, routing: Routing) -> None:
        """One `alert` event, saying whether to show and speak it."""
        svc.broker.publish("alert", {**alert.to_dict(), "show": routing.show,
                                     "speak": routing.speak})

    return AlertWatcher(svc.store.path, svc.settings.alerts, publish)


def load_for_serving(settings: Settings) -> WhisperTranscriber:
    """Load and warm up the model as `serve` does: its threads `[serve] model_nice` lower."""
    from voicedesk.stt.whisper import load_transcriber

    return in_lowered_thread(settings.serve.model_nice, lambda: load_transcriber(settings))


def create_app(
    settings: Settings, transcriber: Transcriber | None = None, run_jobs: bool | None = None
) -> FastAPI:
    """The voicedesk service; loads the configured model at start-up unless one is given."""
    run_jobs = settings.serve.run_jobs if run_jobs is None else run_jobs

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Load, start the event watcher and the runner; stop them at shutdown."""
        model = transcriber
        if model is None:
            model = await asyncio.to_thread(load_for_serving, settings)
        svc = _build(settings, model)
        app.state.services = svc
        stop = asyncio.Event()
        tasks = [asyncio.create_task(svc.broker.watch_store(Store(svc.store.path)))]
        tasks.append(asyncio.create_task(_alert_watcher(svc).run(stop)))
        if run_jobs:
            from voicedesk.agents.runner import Runner

            tasks.append(asyncio.create_task(Runner(settings, Store(svc.store.path)).run(stop)))
        try:
            yield
        finally:
            stop.set()
            tasks[0].cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            svc.pool.close()
            svc.store.close()

    app = FastAPI(title="voicedesk", version=__version__, lifespan=lifespan,
                  description="Whisper to your agents: jobs, commands, events, remote audio.")
    _add_handlers(app)
    app.middleware("http")(_measure)
    app.add_middleware(BodyLimit, limit=JSON_BODY_LIMIT, exempt=("/v1/audio/",))
    app.include_router(routes_jobs.router)
    app.include_router(routes_live.router)
    app.include_router(routes_experiments.router)
    app.include_router(routes_speech.router)
    app.include_router(routes_questions.router)
    _add_transcriptions(app)
    _add_service_routes(app)
    return app


def _add_transcriptions(app: FastAPI) -> None:
    """The OpenAI-compatible transcription route, when its module is present."""
    import importlib

    with contextlib.suppress(ImportError):
        module = importlib.import_module("voicedesk.api.routes_transcriptions")
        app.include_router(module.router)


def _add_handlers(app: FastAPI) -> None:
    """Errors as one-line reasons: 422 for bad bodies, 4xx/503 for our own errors."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """A malformed request: 422 naming the first problem."""
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse({"detail": f"{where}: {first.get('msg')}".strip(": ")}, 422)

    @app.exception_handler(VoicedeskError)
    async def ours(request: Request, exc: VoicedeskError) -> JSONResponse:
        """A voicedesk error the request ran into (a store that is busy, say): 503."""
        return JSONResponse({"detail": str(exc)}, 503)


async def _measure(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Count and time every HTTP request by its route template."""
    began = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    name = getattr(route, "path", "unmatched")
    svc: Services | None = getattr(request.app.state, "services", None)
    if svc is not None:
        svc.metrics.requests.labels(request.method, name, str(response.status_code)).inc()
        svc.metrics.request_seconds.labels(name).observe(time.perf_counter() - began)
    return response


def _add_service_routes(app: FastAPI) -> None:
    """Health, metrics, the page and its files."""

    @app.get("/healthz", response_model=Health, tags=["service"])
    async def healthz(request: Request) -> Health:
        """Liveness, without a token: version, model and device, agent names."""
        svc = services(request)
        whisper = svc.whisper
        return Health(
            status="ok", version=__version__, model=svc.settings.stt.model,
            device=whisper.choice.device if whisper is not None else "n/a",
            agents=list(svc.settings.agents),
        )

    @app.get("/metrics", dependencies=[Depends(authorize)], tags=["service"],
             response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def metrics(svc: Annotated[Services, Depends(get_services)]) -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False, dependencies=[Depends(authorize)])
    async def page(request: Request) -> Response:
        """The push-to-talk page; `/?token=T` stores the token in a cookie and drops it from
        the address."""
        token = request.query_params.get("token")
        if token:
            response = RedirectResponse(".", status_code=303)  # relative: right behind a prefix
            secure = request.url.scheme == "https"
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure)
            return response
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
