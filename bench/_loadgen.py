"""A small HTTP/1.1 load generator for when wrk is not installed (run as its own process).

    python -m bench._loadgen --port 8000 --path /chatkit --body-file body.json -c 16 -d 5

Keep-alive connections on raw asyncio streams (uvloop when installed), each
sending the same POST as fast as answers come back, for a bounded duration.
Prints one JSON line: requests, errors, requests/s, p50/p99 latency (ms).
It costs far more CPU per request than wrk, so with few cores it may itself be
the bottleneck; bench/over_http.py says which generator produced a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()  # answer delimited by closing the connection
        raise ConnectionResetError
    return status


async def _client(
    host: str, port: int, request: bytes, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            try:
                status = await _read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                errors.append(0)
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def run(
    host: str, port: int, path: str, body: bytes | list[bytes], connections: int, duration: float
) -> dict[str, float]:
    """Load ``path`` with ``connections`` clients for ``duration`` seconds.

    With several bodies, connection ``i`` sends body ``i % len(bodies)`` (clicks on several widgets).
    """
    bodies = body if isinstance(body, list) else [body]
    requests = [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode()
        + data
        for data in bodies
    ]
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    deadline = start + duration
    await asyncio.gather(
        *(
            _client(host, port, requests[i % len(requests)], deadline, latencies, errors)
            for i in range(connections)
        )
    )
    elapsed = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3 if latencies else 0.0  # noqa: E731
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "rps": len(latencies) / elapsed,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "mean_ms": statistics.fmean(latencies) * 1e3 if latencies else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument(
        "--body-file", required=True, action="append", help="repeat: one body per connection in turn"
    )
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    args = parser.parse_args()
    bodies = []
    for name in args.body_file:
        with open(name, "rb") as f:
            bodies.append(f.read())
    coro = run(args.host, args.port, args.path, bodies, args.connections, args.duration)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(coro)
    else:
        result = uvloop.run(coro)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
