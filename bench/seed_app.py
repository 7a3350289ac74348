"""The seed design, for comparison: the hand-written idle shutdown that
`idle` replaces, as a FastAPI app served by uvicorn.

A middleware remembers when the last request *started*; a background task
wakes every POLL_INTERVAL seconds and, if no request has started for
IDLE_TIMEOUT_SECONDS, sends SIGTERM to its own process. uvicorn then stops
listening and waits for running requests before exiting.

Same routes as the Rust benchmark servers (bench/router.rs):
  GET /          -> hello
  GET /slow/{ms} -> waits ms milliseconds, then done

Environment: PORT (default 8080), IDLE_TIMEOUT_SECONDS (default 30),
POLL_INTERVAL (seconds, default 30). Run with bench/.venv/bin/python.
"""

import asyncio
import contextlib
import os
import signal
import sys
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

IDLE_TIMEOUT = float(os.environ.get("IDLE_TIMEOUT_SECONDS", "30"))
POLL_INTERVAL = float(os.environ.get("POLL_INTERVAL", "30"))

last_request = time.monotonic()


async def watchdog():
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        if time.monotonic() - last_request > IDLE_TIMEOUT:
            os.kill(os.getpid(), signal.SIGTERM)
            return


@contextlib.asynccontextmanager
async def lifespan(_app):
    task = asyncio.create_task(watchdog())
    yield
    task.cancel()


app = FastAPI(lifespan=lifespan)


@app.middleware("http")
async def record_last_request(request: Request, call_next):
    global last_request
    last_request = time.monotonic()
    return await call_next(request)


@app.get("/", response_class=PlainTextResponse)
async def hello():
    return "hello"


@app.get("/slow/{ms}", response_class=PlainTextResponse)
async def slow(ms: int):
    await asyncio.sleep(ms / 1000)
    return "done"


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
