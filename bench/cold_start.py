"""Cold start of every function: one process handling one event on the local backend, wall
time and peak memory (max RSS) per process, median of N runs, each in a fresh state directory
(so every run takes the full path: configuration, decode, plan, act, record). The notifier is
set beside its Python peer doing the same job; every function beside the floor of a Python
Lambda that only imports boto3.

usage: .venv/bin/python bench/cold_start.py BUILD_DIR [RUNS]
BUILD_DIR holds each function's Lambda binary: `target/sam/<Name>Function/bootstrap` (what
scripts/package.sh builds with sam) or `target/lambda/<name>/bootstrap` (cargo lambda build).
scripts/bench-cold-start.sh builds them and runs this."""
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = os.path.abspath(sys.argv[1])
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
events = os.path.join(root, "events")
peer = os.path.join(root, "bench/python_peer_notifier.py")
tick = os.path.join(events, "aws/eventbridge-scheduled-event.json")
alarm = os.path.join(events, "aws/eventbridge-alarm-state-change.json")

# function -> the event it handles in the bench
FUNCTIONS = [
    ("notifier", alarm),
    ("bucket-sync", tick),
    ("backup", tick),
    ("failover", tick),
    ("scaling", tick),
    ("deploy", tick),
    ("budget-guard", tick),
]


class Healthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
threading.Thread(target=server.serve_forever, daemon=True).start()
health = f"http://127.0.0.1:{server.server_address[1]}"


def binary(fn):
    resource = "".join(p.capitalize() for p in fn.split("-")) + "Function"
    for p in (os.path.join(build, resource, "bootstrap"), os.path.join(build, fn, "bootstrap")):
        if os.path.exists(p):
            return p
    sys.exit(f"no binary for {fn} under {build}")


def prepare(fn, d):
    """Writes the function's configuration into the state directory; returns its path."""
    if fn == "notifier":
        return None
    text = open(os.path.join(root, "bench/cold-start", f"{fn}.toml")).read()
    text = text.replace("{state}", d).replace("{health}", health)
    path = os.path.join(d, "twincloud.toml")
    open(path, "w").write(text)
    # Local simulated services (what `LocalCompute` reads) for the functions that scale them.
    services = {"scaling": ["worker"], "budget-guard": ["worker"],
                "failover": ["app-gcp", "app-aws"]}.get(fn, [])
    if services:
        os.makedirs(os.path.join(d, "sim/services"))
        for name in services:
            open(os.path.join(d, f"sim/services/{name}.json"), "w").write('{"desired": 2, "ready": 2, "max": 10}')
    if fn == "bucket-sync":
        os.makedirs(os.path.join(d, "uploads/docs"))
        os.makedirs(os.path.join(d, "replica"))
        for i in range(20):
            open(os.path.join(d, f"uploads/docs/f{i:02d}.txt"), "wb").write(os.urandom(2048))
    return path


def measure(make_cmd, env=None, ok=(0,)):
    walls, rss = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            cmd, cwd = make_cmd(d)
            # GNU time reports the child's own peak RSS; measuring from this (larger) Python
            # process would count the forked parent's pages in the child's peak.
            t = time.perf_counter()
            p = subprocess.run(["/usr/bin/time", "-f", "maxrss-kib %M", *cmd], cwd=cwd, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            walls.append((time.perf_counter() - t) * 1000)
            err = p.stderr.decode()
            if p.returncode not in ok:
                sys.exit(f"{cmd[0]} failed ({p.returncode}): {p.stdout.decode()}{err}")
            rss.append(int(err.strip().splitlines()[-1].split()[-1]) / 1024)
    return statistics.median(walls), statistics.median(rss)


base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LAMBDA", "TWINCLOUD_", "PORT"))}


def function_cmd(fn, event):
    def make(d):
        cmd = [binary(fn), "--event", event]
        cfg = prepare(fn, d)
        if cfg:
            cmd += ["--config", cfg]
        return cmd, d
    return make


rows = []
for fn, event in FUNCTIONS:
    rows.append((f"twincloud {fn}", os.path.basename(event), *measure(function_cmd(fn, event), base_env)))
rows.append(("Python peer notifier, stdlib only", os.path.basename(alarm),
             *measure(lambda d: ([sys.executable, peer, alarm, d], d), base_env)))
rows.append(("Python peer notifier, importing boto3", os.path.basename(alarm),
             *measure(lambda d: ([sys.executable, peer, alarm, d, "--boto3"], d), base_env)))
print(f"Cold start, one event on the local backend per process; median of {runs} runs\n")
print("| process | event | wall time (ms) | peak memory (MiB) |")
print("|---|---|---:|---:|")
for name, ev, wall, mem in rows:
    print(f"| {name} | {ev} | {wall:.1f} | {mem:.1f} |")
