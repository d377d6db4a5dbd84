#!/usr/bin/env python3
"""A soak of the real binary: one large campaign through `pregon simulate` with server
errors, throttling and latency, while `pregon serve` is SIGKILLed again and again.

    scripts/soak.py                      # 50,000 messages, 20 kills (about 12 minutes on 2 cores)
    scripts/soak.py --messages 5000 --kills 5

The run takes much longer than 50,000 / 250 msg/s = 200 s: each `130429` the simulator
answers (1 % of sends) holds the sender for about a second, as pregon does with Meta's
throttling, and ~500 such holds add up to more than the sending itself.

It checks what pregon promises:
  - the simulator saw 0 duplicates (the same message to the same recipient twice);
  - sent + failed + unknown + skipped (and the other final states) = total, nothing left
    queued or in flight;
  - every `unknown` message was in flight (`sending`) when a kill struck: the database is
    read right after each kill, before the restart, to know exactly which were;
  - each restart resumes sending within 2 s (from the new process's start to the next send
    the simulator accepts).

Needs only Python's standard library and a built pregon (`cargo build --release -p pregon`,
or PREGON_BIN). Not part of CI's default run; its figures go in BENCHMARKS.md.
"""

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

KEY = "pgn_soak_owner"
FINAL = ("sent", "delivered", "read", "failed", "unknown", "skipped", "expired", "cancelled")
IN_FLIGHT = ("queued", "claimed", "sending")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None, key=KEY, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_for(what, check, limit=30.0, every=0.05):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(every)
    sys.exit(f"soak: {what} did not happen within {limit} s")


class Pregon:
    def __init__(self, binary, db, port, log):
        self.binary, self.db, self.port, self.log = binary, db, port, log
        self.proc = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREGON_")}
        env.update({
            "PREGON_DATABASE_URL": f"sqlite://{self.db}",
            "PREGON_LISTEN": f"127.0.0.1:{self.port}",
            "PREGON_BOOTSTRAP_API_KEY": KEY,
            "PREGON_LOG": "warn",
            "PREGON_API_RATE_LIMIT": "100000",
        })
        self.proc = subprocess.Popen([self.binary, "serve"], env=env, stdout=self.log, stderr=self.log)
        started = time.monotonic()
        wait_for("pregon answering /health", lambda: call("GET", f"{self.base}/health")[0] == 200)
        return started

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def in_flight_at_kill(db):
    """The messages the database had in flight when the process died."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {row[0] for row in con.execute("select message_id from message where status = 'sending'")}
    finally:
        con.close()


def unknown_now(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {row[0] for row in con.execute("select message_id from message where status = 'unknown'")}
    finally:
        con.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=50_000)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--rate", type=float, default=250, help="the sender's messages per second")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--bin", default=os.environ.get("PREGON_BIN", "target/release/pregon"))
    args = p.parse_args()
    rng = random.Random(args.seed)

    work = tempfile.mkdtemp(prefix="pregon-soak-")
    db = os.path.join(work, "soak.db")
    log = open(os.path.join(work, "pregon.log"), "ab")
    pregon_port, sim_port = free_port(), free_port()
    sim = subprocess.Popen(
        [args.bin, "simulate", "--listen", f"127.0.0.1:{sim_port}",
         "--access-tokens", "sim-token", "--app-secret", "sim-secret",
         "--webhook-url", f"http://127.0.0.1:{pregon_port}/webhooks/meta",
         "--latency-ms", "100", "--latency-jitter-ms", "30",
         "--error-rate-5xx", "0.02", "--throttle-rate", "0.01",
         "--mps", str(int(args.rate * 4)), "--pair-gap-ms", "0", "--seed", str(args.seed)],
        stdout=log, stderr=log)
    sim_base = f"http://127.0.0.1:{sim_port}"
    pregon = Pregon(args.bin, db, pregon_port, log)
    try:
        wait_for("the simulator answering", lambda: call("GET", f"{sim_base}/stats")[0] == 200)
        pregon.start()
        status, sender = call("POST", f"{pregon.base}/api/v1/senders", {
            "name": "soak", "provider": "meta", "phone_number": "+593995683452",
            "credentials": {"access_token": "sim-token", "phone_number_id": "1142",
                            "waba_id": "100000000000001", "app_secret": "sim-secret"},
            "base_url": f"{sim_base}/v21.0", "messages_per_second": args.rate, "is_default": True})
        assert status == 201, sender
        status, template = call("POST", f"{pregon.base}/api/v1/templates",
                                {"name": "soak", "language": "es", "body": "Hola {{nombre}}", "category": "utility"})
        assert status == 201, template
        contacts = [{"phone": f"+58412{1_000_000 + i:07d}", "nombre": f"Cliente {i}"} for i in range(args.messages)]
        started_at = time.monotonic()
        status, campaign = call("POST", f"{pregon.base}/api/v1/campaigns", {
            "name": "soak", "sender_id": sender["id"], "template_id": template["id"], "contacts": contacts,
            # Short backoff, so the run's length is the sending, not the wait for the last retry.
            "retry": {"max_attempts": 5, "backoff_seconds": [2, 5, 10, 20]}},
            timeout=300)
        assert status == 201, campaign
        cid = campaign["id"]
        total = campaign["total"]
        assert total == args.messages, campaign["import"]

        in_flight_sets, resume_times, kills = [], [], 0
        while kills < args.kills:
            time.sleep(rng.uniform(1.5, 6.0))
            _, c = call("GET", f"{pregon.base}/api/v1/campaigns/{cid}")
            if c["status"] != "running":
                break
            pregon.kill()
            kills += 1
            flying = in_flight_at_kill(db)
            in_flight_sets.append(flying)
            accepted_before = call("GET", f"{sim_base}/stats")[1]["accepted"]
            spawned = time.monotonic()
            pregon.start()
            wait_for("sending to resume after a restart",
                     lambda: call("GET", f"{sim_base}/stats")[1]["accepted"] > accepted_before, limit=60, every=0.02)
            resume_times.append(time.monotonic() - spawned)
            print(f"kill {kills:2}: {len(flying):4} in flight, resumed in {resume_times[-1]:.2f} s", flush=True)

        def finished():
            _, c = call("GET", f"{pregon.base}/api/v1/campaigns/{cid}")
            return c if c["status"] in ("completed", "failed", "cancelled") else None

        final = wait_for("the campaign finishing", finished, limit=1800, every=0.5)
        elapsed = time.monotonic() - started_at
        stats = call("GET", f"{sim_base}/stats")[1]
        counts = final["counts"]
        finals = sum(counts.get(s, 0) for s in FINAL)
        left = {s: counts.get(s, 0) for s in IN_FLIGHT if counts.get(s, 0)}
        unknown = unknown_now(db)
        flown = set().union(*in_flight_sets) if in_flight_sets else set()
        unexplained = unknown - flown

        print()
        print(f"messages {total}, kills {kills}, took {elapsed:.0f} s ({total / elapsed:.0f} msg/s overall)")
        print("counts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v))
        print(f"simulator: {stats['requests']} requests, {stats['accepted']} accepted, "
              f"{stats['rejected']['total']} rejected {stats['rejected']['by_code']}, {stats['duplicates']} duplicates")
        if resume_times:
            print(f"resume after restart: median {statistics.median(resume_times):.2f} s, max {max(resume_times):.2f} s")
        print(f"in flight at the kills: {len(flown)} messages; unknown {len(unknown)}, "
              f"all in flight at a kill: {not unexplained}")

        problems = []
        if stats["duplicates"]:
            problems.append(f"{stats['duplicates']} duplicates at the provider")
        if finals != total or left:
            problems.append(f"final states add to {finals} of {total}; left in flight: {left}")
        if unexplained:
            problems.append(f"{len(unexplained)} unknown messages were not in flight at any kill")
        if resume_times and max(resume_times) > 2.0:
            problems.append(f"a restart took {max(resume_times):.2f} s to resume sending")
        if kills < args.kills:
            problems.append(f"the campaign ended after {kills} of {args.kills} kills: use more messages or a lower --rate")
        if problems:
            print("\nsoak FAILED:\n  - " + "\n  - ".join(problems))
            print(f"(logs and database in {work})")
            return 1
        print("\nsoak passed")
        return 0
    finally:
        pregon.stop()
        sim.terminate()
        sim.wait()


if __name__ == "__main__":
    sys.exit(main())
