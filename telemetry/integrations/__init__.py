"""Integrations with the code around the app.

- `telemetry.integrations.asgi`: pure ASGI middleware (a span per HTTP request and per
  websocket connection, a request id bound into context) and a lifespan that opens and closes
  the hub with the app (FastAPI, Starlette, or any ASGI framework).
- `telemetry.integrations.logging`: a bridge from the standard library's ``logging``
  (uvicorn, asyncio, httpx, any library) to signals.
"""
