"""The seeds' backup runbook as a script (the peer of twincloud's backup function): for each
database, a snapshot named after the date, wait until it is available, copy it to the DR
region, then list and delete snapshots older than the retention. Sequential, as the runbook
is. boto3 against AWS_ENDPOINT_URL.

usage: backup_peer.py PREFIX RUN_TIME DR_REGION
"""
import datetime
import sys

import boto3

prefix, run_time, dr_region = sys.argv[1], sys.argv[2], sys.argv[3]
stamp = datetime.datetime.fromisoformat(run_time.replace("Z", "+00:00")).strftime("%Y%m%d-%H%M%S")
rds = boto3.client("rds")
dr = boto3.client("rds", region_name=dr_region)
cutoff = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)

dbs = [
    d["DBInstanceIdentifier"]
    for page in rds.get_paginator("describe_db_instances").paginate()
    for d in page["DBInstances"]
    if d["DBInstanceIdentifier"].startswith(prefix)
]
for db in dbs:
    snap = f"{db}-{stamp}"
    existing = rds.describe_db_snapshots(DBInstanceIdentifier=db, SnapshotType="manual")["DBSnapshots"]
    if not any(s["DBSnapshotIdentifier"] == snap for s in existing):
        rds.create_db_snapshot(
            DBInstanceIdentifier=db,
            DBSnapshotIdentifier=snap,
            Tags=[{"Key": "twincloud:managed", "Value": "true"}],
        )
    rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier=snap)
    arn = rds.describe_db_snapshots(DBSnapshotIdentifier=snap)["DBSnapshots"][0]["DBSnapshotArn"]
    copies = dr.describe_db_snapshots(DBInstanceIdentifier=db, SnapshotType="manual")["DBSnapshots"]
    if not any(c["DBSnapshotIdentifier"] == snap for c in copies):
        dr.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier=snap)
    for s in rds.describe_db_snapshots(DBInstanceIdentifier=db, SnapshotType="manual")["DBSnapshots"]:
        if s["SnapshotCreateTime"] < cutoff:
            rds.delete_db_snapshot(DBSnapshotIdentifier=s["DBSnapshotIdentifier"])
print(f"{len(dbs)} databases")
