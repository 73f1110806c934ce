"""Sends real CloudEvents to twincloud's HTTP endpoint with the Python `cloudevents` SDK (2.x),
in binary and in structured mode, and prints each response status and body as JSON lines.

usage: send_cloudevents.py URL STRUCTURED_FIXTURE"""
import datetime
import json
import sys

import requests
from cloudevents.core.bindings import http
from cloudevents.core.v1.event import CloudEvent

url, fixture = sys.argv[1], sys.argv[2]
doc = json.load(open(fixture))
attributes = {k: doc[k] for k in ("id", "source", "type", "subject", "datacontenttype") if k in doc}
attributes["specversion"] = "1.0"
if "time" in doc:
    attributes["time"] = datetime.datetime.fromisoformat(doc["time"].replace("Z", "+00:00"))
event = CloudEvent(attributes=attributes, data=doc["data"])
for mode, convert in (("binary", http.to_binary_event), ("structured", http.to_structured_event)):
    message = convert(event)
    r = requests.post(url, headers=message.headers, data=message.body, timeout=10)
    print(json.dumps({"mode": mode, "status": r.status_code, "body": r.json()}))
