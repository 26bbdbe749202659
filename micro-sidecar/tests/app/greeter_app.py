"""A greeter written with the standard library only, behind `micro sidecar`.

Usage: python3 greeter_app.py PORT   (0 picks a free port; prints `listening on PORT`)

Endpoints (POST /{Endpoint.Method}, declared in /openapi.json):
  Greeter.Hello    {"name"} -> {"greeting", "tenant", "timeout"}
  Greeter.Fail     answers a micro error (409)
  Greeter.Teapot   answers 418 with a plain-text body
  Greeter.Slow     answers after 3 s
  Greeter.Relay    {"name", "via"} -> calls the Rust greeter through the sidecar's /rpc
  Greeter.Publish  {"topic", "event", "via"} -> publishes through the sidecar's /broker/{topic}
Events: POST /events prints `event TOPIC JSON` (500 when the event has "fail": true).
"""

import json
import sys
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}}
OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "python greeter", "version": "1.0.0"},
    "paths": {
        "/Greeter.Hello": {"post": {
            "summary": "Says hello from Python.",
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Request"}}}},
            "responses": {"200": {"content": {"application/json": {"schema": {
                "type": "object", "properties": {"greeting": {"type": "string"}}}}}}},
        }},
        **{f"/Greeter.{m}": {"post": {"responses": {"200": {}}}}
           for m in ["Fail", "Teapot", "Slow", "Relay", "Publish"]},
        "/health": {"get": {"responses": {"200": {}}}},
    },
    "components": {"schemas": {"Request": SCHEMA}},
}


def post(url, body):
    """POSTs JSON; answers (status, parsed body)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self.answer(200, {"ok": True})
        elif self.path == "/openapi.json":
            self.answer(200, OPENAPI)
        else:
            self.answer(404, {"error": "no such page"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/events":
            print("event", self.headers.get("X-Micro-Topic"), json.dumps(body, sort_keys=True), flush=True)
            return self.answer(500 if body.get("fail") else 200, {})
        endpoint = self.path.lstrip("/")
        if endpoint == "Greeter.Hello":
            self.answer(200, {"greeting": f"Hello {body.get('name')} from Python",
                              "tenant": self.headers.get("tenant"),
                              "timeout": self.headers.get("X-Micro-Timeout")})
        elif endpoint == "Greeter.Fail":
            self.answer(409, {"id": "py.greeter", "code": 409, "detail": "name taken", "status": "Conflict"})
        elif endpoint == "Greeter.Teapot":
            self.answer(418, b"short and stout", "text/plain")
        elif endpoint == "Greeter.Slow":
            time.sleep(3)
            self.answer(200, {})
        elif endpoint == "Greeter.Relay":
            status, answer = post(body["via"] + "/rpc", {
                "service": body.get("service", "com.example.srv.greeter"),
                "endpoint": "Greeter.Hello", "request": {"name": body["name"]}})
            self.answer(status, {"relayed": answer} if status == 200 else answer)
        elif endpoint == "Greeter.Publish":
            status, answer = post(body["via"] + "/broker/" + body["topic"], body["event"])
            self.answer(status, answer)
        else:
            self.answer(404, {"id": "py.greeter", "code": 404, "detail": f"no endpoint {endpoint}"})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("listening on", server.server_address[1], flush=True)
    server.serve_forever()
