"""A WebSocket client of `micro gateway` (websockets from PyPI, sync API).

Usage: ws_client.py URL NAME...

Opens URL, sends one `{"name": NAME}` text frame per NAME, then the empty
frame that ends the requests, and prints every frame received (one JSON
line each), then `close <code>` when the gateway closes. Every step is
bounded by a timeout; exits non-zero on anything unexpected.
"""

import json
import sys

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

LIMIT = 20  # seconds, per step


def main() -> int:
    url, names = sys.argv[1], sys.argv[2:]
    with connect(url, open_timeout=LIMIT, close_timeout=LIMIT) as ws:
        for name in names:
            ws.send(json.dumps({"name": name}))
        ws.send("")
        while True:
            try:
                frame = ws.recv(timeout=LIMIT)
            except ConnectionClosed:
                break
            print(json.dumps(json.loads(frame)), flush=True)
        print(f"close {ws.close_code}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
