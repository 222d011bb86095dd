"""A stand-in for ``python -m genhmr serve`` that misbehaves on purpose (tests only).

It is started exactly like the real backend (as the configured "python", with the arguments
``-m genhmr serve``, which it ignores). $FAKE_BACKEND_MODE picks the behaviour:

* crash   - hello, accepts the job, one progress event, a traceback on stderr, exit code 3
* error   - hello, then an ``error`` event for the job ("no person found"), waits for shutdown
* result  - writes $FAKE_BACKEND_RESULT as the job's result, records the request in
            $FAKE_BACKEND_RECORD, sends progress and done, waits for shutdown
"""

import json
import os
import shutil
import sys

from genhmr_core.protocol import PROTOCOL_VERSION  # on the backend's path, as for the real one


def send(**message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


mode = os.environ.get("FAKE_BACKEND_MODE", "crash")
send(type="hello", protocol=PROTOCOL_VERSION, backend_version="fake")
for line in sys.stdin:
    request = json.loads(line)
    if request["type"] == "shutdown":
        send(type="bye")
        break
    if request["type"] != "start":
        continue
    job = request["job_id"]
    send(type="accepted", job_id=job)
    if mode == "crash":
        send(type="progress", job_id=job, stage="detect", done=1, total=8, elapsed_s=0.1)
        sys.stderr.write("Traceback (most recent call last):\nMemoryError: out of memory\n")
        sys.stderr.flush()
        sys.exit(3)
    if mode == "error":
        send(type="error", job_id=job, kind="no_person",
             message="no person found in video frames 3-10")
        continue
    with open(os.environ["FAKE_BACKEND_RECORD"], "w") as fh:
        json.dump(request, fh)
    target = os.path.join(request["out_dir"], "result.npz")
    shutil.copy(os.environ["FAKE_BACKEND_RESULT"], target)
    for stage in ("load", "detect", "track", "fit", "save"):
        send(type="progress", job_id=job, stage=stage, done=1, total=1, elapsed_s=0.01)
    send(type="person", job_id=job, track_id=3, frames=8)
    send(type="done", job_id=job, result_path=target, num_people=2, elapsed_s=0.05,
         stage_seconds={"detect": 0.01})
