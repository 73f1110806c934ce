"""Cold start of one function process handling one event, twincloud's notifier against its
Python peer, side by side: wall time and peak memory (max RSS) per process, median of N runs,
each in a fresh state directory (so every run takes the full path: decode, plan, claim, send
to the outbox, record).

usage: .venv/bin/python bench/cold_start.py NOTIFIER_BINARY [RUNS]
The binary is the Lambda build: `cargo lambda build --release --bin notifier --x86-64`
(target/lambda/notifier/bootstrap); scripts/bench-cold-start.sh builds it and runs this."""
import os
import statistics
import subprocess
import sys
import tempfile
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = os.path.abspath(sys.argv[1])
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
event = os.path.join(root, "events/aws/eventbridge-alarm-state-change.json")
peer = os.path.join(root, "bench/python_peer_notifier.py")


def measure(make_cmd, env=None):
    walls, rss = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            cmd, cwd = make_cmd(d)
            # GNU time reports the child's own peak RSS; measuring from this (larger) Python
            # process would count the forked parent's pages in the child's peak.
            t = time.perf_counter()
            p = subprocess.run(["/usr/bin/time", "-f", "maxrss-kib %M", *cmd], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            walls.append((time.perf_counter() - t) * 1000)
            err = p.stderr.decode()
            if p.returncode != 0:
                sys.exit(f"{cmd[0]} failed: {err}")
            rss.append(int(err.strip().splitlines()[-1].split()[-1]) / 1024)
    return statistics.median(walls), statistics.median(rss)


env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LAMBDA", "TWINCLOUD_CONFIG", "PORT"))}
rows = [
    ("twincloud notifier (Rust)", *measure(lambda d: ([binary, "--event", event], d), env)),
    ("Python peer, stdlib only", *measure(lambda d: ([sys.executable, peer, event, d], d), env)),
    ("Python peer, importing boto3", *measure(lambda d: ([sys.executable, peer, event, d, "--boto3"], d), env)),
]
print(f"Cold start, one EventBridge alarm to the local outbox; median of {runs} runs\n")
print("| process | wall time (ms) | peak memory (MiB) |")
print("|---|---:|---:|")
for name, wall, mem in rows:
    print(f"| {name} | {wall:.1f} | {mem:.1f} |")
