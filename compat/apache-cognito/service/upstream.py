"""The downstream service behind Apache: stdlib only, no state. Answers every GET/POST/PUT/
PATCH/DELETE with a JSON echo of what reached it (method, path, the headers Apache added), so a
test can see that a request got through the gateway and what the gateway said about the caller.

    python upstream.py PORT            # binds 127.0.0.1:PORT, logs to stderr
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    server_version = "smokegate-upstream/1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        if self.path.split("?")[0] in ("/health", "/health/"):
            doc = {"status": "ok"}
        else:
            doc = {
                "method": self.command,
                "path": self.path,
                # What the gateway vouches for (mod_auth_openidc's OIDC_CLAIM_* headers and the
                # X-Remote-User the config sets); absent when the gateway did not verify.
                "remote_user": self.headers.get("X-Remote-User"),
                "claims": {k: v for k, v in self.headers.items() if k.lower().startswith("oidc_claim_")},
                "authorization": self.headers.get("Authorization"),
                "body": body,
            }
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Upstream", "echo")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
