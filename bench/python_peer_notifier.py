"""The Python peer of twincloud's notifier, for the cold-start benchmark: what a small team's
Python Lambda does for the same job on the same local backend. It decodes an EventBridge
CloudWatch alarm, skips a state already reported (a JSON record under a file lock), and
appends the message to an outbox file. With --boto3 it also imports boto3, as a Python
function that publishes to SNS or SES must.

usage: python_peer_notifier.py EVENT_FILE STATE_DIR [--boto3]"""
import fcntl
import json
import os
import sys

if "--boto3" in sys.argv:
    import boto3  # noqa: F401  (the import is the cost being measured)

event_path, state = sys.argv[1], sys.argv[2]
event = json.load(open(event_path))
if event.get("detail-type") != "CloudWatch Alarm State Change":
    sys.exit(f"unknown event shape: {event.get('detail-type')}")
detail = event["detail"]
name, value = detail["alarmName"], detail["state"]["value"]
os.makedirs(os.path.join(state, "outbox"), exist_ok=True)
with open(os.path.join(state, "state.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    record = os.path.join(state, f"last-{name}.json")
    last = json.load(open(record)) if os.path.exists(record) else {}
    if last.get("state") == value:
        sys.exit(0)
    message = {
        "title": f"Alarm {name} is {'in ALARM' if value == 'ALARM' else value}",
        "summary": detail["state"].get("reason", ""),
        "region": event["region"],
        "event_id": event["id"],
    }
    with open(os.path.join(state, "outbox", "outbox.jsonl"), "a") as out:
        out.write(json.dumps(message) + "\n")
    json.dump({"state": value, "event_id": event["id"]}, open(record, "w"))
