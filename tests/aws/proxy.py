"""An HTTP proxy between blockimg and moto's server that does what EBS and
EC2 do and moto does not, and injects faults.

What it enforces (moto accepts all of it):
- PutSnapshotBlock: a snapshot started through the proxy and not completed,
  a block index inside the volume, 524288 bytes (body and x-amz-Data-Length),
  the SHA256 algorithm and a base64 SHA-256 that matches the body;
- StartSnapshot: a parent snapshot, if named, that completed;
- CompleteSnapshot: ChangedBlocksCount equal to the blocks written, and the
  LINEAR aggregate checksum (SHA-256 of the blocks' SHA-256s in block order);
- the access key the proxy was started with (403 for any other);
- ListSnapshotBlocks answers BlockSize 524288 (moto says 512);
- DescribeSnapshots says `pending` until CompleteSnapshot succeeded and for
  --pending-polls calls after it (moto says `completed` at once), `error`
  after a CompleteSnapshot it refused.

It records every snapshot (volume, parent, blocks with their SHA-256, state)
and every RegisterImage request (moto ignores BlockDeviceMappings), and
answers GET /__proxy/state with them as JSON.

Faults: with --fault-rate R, that share of requests (not to /__proxy/) is
answered with a throttling error, a 500, a 503, or a dropped connection,
in turn, before it reaches moto.

Usage: proxy.py --upstream HOST:PORT --port-file FILE [--access-key KEY]
       [--fault-rate R] [--seed N] [--corrupt-block N] [--delay-ms N]
       [--pending-polls N]
"""

import argparse
import base64
import hashlib
import http.client
import json
import random
import re
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOCK = 524288

args = None
lock = threading.Lock()
state = {"snapshots": {}, "register_image": [], "faults": {}, "requests": 0}
rng = random.Random(1)
fault_turn = [0]


def ebs_error(status, kind, message):
    body = json.dumps({"message": message}).encode()
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": kind}, body


def ec2_error(status, code, message):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
        f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        "<RequestID>proxy</RequestID></Response>"
    ).encode()
    return status, {"Content-Type": "text/xml"}, body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def answer(self, status, headers, body):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def handle_any(self):
        body = self.read_body()
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/__proxy/state":
            with lock:
                text = json.dumps(state).encode()
            return self.answer(200, {"Content-Type": "application/json"}, text)
        form = {}
        if self.command == "POST" and url.path == "/" and body:
            form = dict(urllib.parse.parse_qsl(body.decode()))
        service = "ec2" if form.get("Action") else "ebs"
        op = form.get("Action") or ebs_operation(self.command, url.path)
        error = ec2_error if service == "ec2" else ebs_error
        with lock:
            state["requests"] += 1
        auth = self.headers.get("Authorization", "")
        m = re.search(r"Credential=([^/]+)/", auth)
        if not m or m.group(1) != args.access_key:
            if service == "ec2":
                return self.answer(*ec2_error(401, "AuthFailure", "AWS was not able to validate the provided access credentials"))
            return self.answer(*ebs_error(403, "UnrecognizedClientException", "The security token included in the request is invalid."))
        if args.fault_rate and rng.random() < args.fault_rate:
            with lock:
                kind = ["throttle", "500", "503", "drop"][fault_turn[0] % 4]
                fault_turn[0] += 1
                state["faults"][kind] = state["faults"].get(kind, 0) + 1
            if kind == "drop":
                return self.drop()
            if kind == "throttle":
                if service == "ec2":
                    return self.answer(*ec2_error(503, "RequestLimitExceeded", "Request limit exceeded."))
                return self.answer(*ebs_error(400, "ThrottlingException", "Rate exceeded"))
            if kind == "500":
                if service == "ec2":
                    return self.answer(*ec2_error(500, "InternalError", "An internal error has occurred"))
                return self.answer(*ebs_error(500, "InternalServerException", "Internal error"))
            if service == "ec2":
                return self.answer(*ec2_error(503, "Unavailable", "The server is overloaded"))
            return self.answer(*ebs_error(503, "ServiceUnavailableException", "Service unavailable"))
        check = getattr(self, "check_" + op, None)
        if check:
            refusal = check(url, body, form)
            if refusal:
                return self.answer(*refusal)
        status, headers, answer = self.forward(body)
        after = getattr(self, "after_" + op, None)
        if after and 200 <= status < 300:
            answer = after(url, body, form, answer)
        self.answer(status, headers, answer)

    def forward(self, body):
        conn = http.client.HTTPConnection(args.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "content-length", "connection")}
        headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        out = {k: v for k, v in r.getheaders() if k.lower() not in ("transfer-encoding", "content-length", "connection", "server", "date")}
        conn.close()
        return r.status, out, data

    # EBS

    def check_StartSnapshot(self, url, body, form):
        parent = json.loads(body or b"{}").get("ParentSnapshotId")
        if parent:
            with lock:
                p = state["snapshots"].get(parent)
            if not p or p["state"] != "completed":
                return ebs_error(400, "ValidationException", f"parent snapshot {parent} is not a completed snapshot")

    def after_StartSnapshot(self, url, body, form, answer):
        request = json.loads(body or b"{}")
        started = json.loads(answer)
        with lock:
            state["snapshots"][started["SnapshotId"]] = {
                "volume_size": started["VolumeSize"],
                "parent": request.get("ParentSnapshotId"),
                "description": request.get("Description"),
                "tags": request.get("Tags", []),
                "blocks": {},
                "state": "pending",
                "polls_left": args.pending_polls,
            }
        started["BlockSize"] = BLOCK
        return json.dumps(started).encode()

    def check_PutSnapshotBlock(self, url, body, form):
        parts = url.path.split("/")
        snap_id, index = parts[2], int(parts[4])
        if args.delay_ms:
            threading.Event().wait(args.delay_ms / 1000)
        if index == args.corrupt_block:
            body = bytes([body[0] ^ 1]) + body[1:]
        with lock:
            snap = state["snapshots"].get(snap_id)
            if not snap or snap["state"] != "pending":
                return ebs_error(400, "ValidationException", f"snapshot {snap_id} is not pending")
            if index < 0 or index >= snap["volume_size"] * (1 << 30) // BLOCK:
                return ebs_error(400, "ValidationException", f"block index {index} is outside the volume")
        if len(body) != BLOCK or self.headers.get("x-amz-Data-Length") != str(BLOCK):
            return ebs_error(400, "ValidationException", f"blocks are {BLOCK} bytes, not {len(body)}")
        if self.headers.get("x-amz-Checksum-Algorithm") != "SHA256":
            return ebs_error(400, "ValidationException", "the checksum algorithm must be SHA256")
        digest = hashlib.sha256(body).digest()
        if base64.b64encode(digest).decode() != self.headers.get("x-amz-Checksum"):
            return ebs_error(400, "ValidationException", f"the checksum of block {index} does not match its data")
        with lock:
            snap["blocks"][str(index)] = digest.hex()

    def check_CompleteSnapshot(self, url, body, form):
        snap_id = url.path.split("/")[3]
        with lock:
            snap = state["snapshots"].get(snap_id)
            if not snap or snap["state"] != "pending":
                return ebs_error(400, "ValidationException", f"snapshot {snap_id} is not pending")
            blocks = sorted(snap["blocks"].items(), key=lambda kv: int(kv[0]))
            count = self.headers.get("x-amz-ChangedBlocksCount")
            if count != str(len(blocks)):
                snap["state"] = "error"
                return ebs_error(400, "ValidationException", f"ChangedBlocksCount {count} but {len(blocks)} blocks were written")
            aggregate = hashlib.sha256(b"".join(bytes.fromhex(h) for _, h in blocks)).digest()
            if (
                self.headers.get("x-amz-Checksum") != base64.b64encode(aggregate).decode()
                or self.headers.get("x-amz-Checksum-Algorithm") != "SHA256"
                or self.headers.get("x-amz-Checksum-Aggregation-Method") != "LINEAR"
            ):
                snap["state"] = "error"
                return ebs_error(400, "ValidationException", "the aggregate checksum does not match the blocks written")

    def after_CompleteSnapshot(self, url, body, form, answer):
        with lock:
            state["snapshots"][url.path.split("/")[3]]["state"] = "completed"
        return answer

    def after_ListSnapshotBlocks(self, url, body, form, answer):
        listed = json.loads(answer)
        listed["BlockSize"] = BLOCK
        return json.dumps(listed).encode()

    # EC2

    def after_DescribeSnapshots(self, url, body, form, answer):
        text = answer.decode()
        with lock:
            for snap_id, snap in state["snapshots"].items():
                shown = snap["state"]
                if shown == "completed" and snap["polls_left"] > 0:
                    snap["polls_left"] -= 1
                    shown = "pending"
                text = re.sub(
                    rf"(<snapshotId>{snap_id}</snapshotId>.*?<status>)[a-z]+(</status>)",
                    rf"\g<1>{shown}\g<2>",
                    text,
                    flags=re.S,
                )
        return text.encode()

    def check_RegisterImage(self, url, body, form):
        with lock:
            state["register_image"].append(form)


def ebs_operation(method, path):
    parts = path.strip("/").split("/")
    if method == "POST" and parts == ["snapshots"]:
        return "StartSnapshot"
    if method == "POST" and parts[:2] == ["snapshots", "completion"]:
        return "CompleteSnapshot"
    if method == "PUT" and len(parts) == 4 and parts[2] == "blocks":
        return "PutSnapshotBlock"
    if method == "GET" and len(parts) == 3 and parts[2] == "blocks":
        return "ListSnapshotBlocks"
    if method == "GET" and len(parts) == 4 and parts[2] == "blocks":
        return "GetSnapshotBlock"
    return "Other"


def main():
    global args
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--access-key", default="AKIDBLOCKIMGTEST")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corrupt-block", type=int, default=-1)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--pending-polls", type=int, default=2)
    args = parser.parse_args()
    rng.seed(args.seed)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os

    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
