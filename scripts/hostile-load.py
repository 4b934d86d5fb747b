#!/usr/bin/env python3
"""Hostile-load run against a kvc-local cluster (loopback only, bounded in time).

Starts `kvc-local up` (CPU engine, kvc-tiny), keeps a small stream of normal chat
requests running the whole time, and runs one attack per phase beside it:

  baseline       nothing else
  idle_http      1000 idle TCP connections held open on the HTTP port
  idle_transfer  1000 idle TCP connections held open on the decode node's transfer port
  slowloris      200 clients sending a request header one byte per second
  streams_500    500 concurrent streaming chat requests
  disconnect_50  50 clients at a time that close after the first chunk (repeated)
  mutated        a fixed number of random mutations of valid request bodies

For each phase it reports the normal requests' success rate and p99 TTFT, the
status codes the attack got, and after it whether every process is alive and its
RSS; at the end, the decode node's free KV blocks once the cluster is idle (a
leak shows as free < total). Idle HTTP connections and slow-loris clients are
held 35 s, past the conductor's 30 s http_read_timeout_ms.

    scripts/hostile-load.py [--bin-dir build/bin] [--phase-seconds 15] [--json OUT]

Exit 0 when no process died, every 5xx among the mutated bodies is absent, and
the KV blocks all came back; 1 otherwise. Python 3 standard library only.
"""
import argparse
import asyncio
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time

MODEL = "kvc-tiny"


def chat_body(text, max_tokens=8, stream=True):
    return json.dumps({"model": MODEL, "stream": stream, "max_tokens": max_tokens,
                       "messages": [{"role": "user", "content": text}]})


def http_request(body, path="/v1/chat/completions"):
    data = body.encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode() + data


async def one_request(port, body, timeout=30.0, close_after_first=False,
                      path="/v1/chat/completions"):
    """Sends one request; returns (status, ttft_s or None, complete)."""
    start = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    except (OSError, asyncio.TimeoutError):
        return ("connect_failed", None, False)
    try:
        writer.write(http_request(body, path))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        status = int(m.group(1)) if m else "bad_status_line"
        ttft, complete, seen = None, False, b""
        deadline = start + timeout
        while time.monotonic() < deadline:
            chunk = await asyncio.wait_for(reader.read(65536), max(0.1, deadline - time.monotonic()))
            if not chunk:
                break
            if ttft is None and b"data:" in chunk:
                ttft = time.monotonic() - start
                if close_after_first:
                    break
            seen = (seen + chunk)[-64:]
            if b"[DONE]" in seen:
                complete = True
                break
        if status != 200:
            complete = False
        return (status, ttft, complete)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return ("cut", None, False)
    finally:
        writer.close()


class Normal:
    """Two clients sending short streamed chats back to back."""

    def __init__(self, port):
        self.port, self.results, self.stop = port, [], False

    async def run(self):
        async def client(i):
            n = 0
            while not self.stop:
                n += 1
                self.results.append(await one_request(self.port, chat_body(f"hello {i} {n}")))
        await asyncio.gather(client(0), client(1))

    def take(self):
        r, self.results = self.results, []
        ok = [x for x in r if x[0] == 200 and x[2]]
        ttfts = sorted(x[1] for x in ok if x[1] is not None)
        p99 = ttfts[min(len(ttfts) - 1, int(0.99 * len(ttfts)))] if ttfts else None
        return {"normal_requests": len(r), "normal_success_rate": len(ok) / len(r) if r else None,
                "normal_p99_ttft_s": p99}


async def hold_idle(port, count, seconds):
    conns = []
    for _ in range(count):
        try:
            conns.append(await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2))
        except (OSError, asyncio.TimeoutError):
            pass
    opened = len(conns)
    await asyncio.sleep(seconds)  # the attack: hold them
    closed_by_server = 0
    for reader, writer in conns:
        try:
            if await asyncio.wait_for(reader.read(1 << 16), 0.01) == b"" or reader.at_eof():
                closed_by_server += 1
        except asyncio.TimeoutError:
            pass
        except OSError:
            closed_by_server += 1
        writer.close()
    return {"opened": opened, "closed_by_server": closed_by_server}


async def slowloris(port, count, seconds):
    async def one():
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
        except (OSError, asyncio.TimeoutError):
            return "connect_failed"
        line = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096
        end = time.monotonic() + seconds
        try:
            for b in line:
                if time.monotonic() > end:
                    return "still_open"
                writer.write(bytes([b]))
                await writer.drain()
                try:
                    got = await asyncio.wait_for(reader.read(4096), 1.0)
                    if got:
                        m = re.match(rb"HTTP/1\.[01] (\d{3})", got)
                        return int(m.group(1)) if m else "data"
                    return "closed"
                except asyncio.TimeoutError:
                    pass
            return "sent_all"
        except OSError:
            return "closed"
        finally:
            writer.close()
    return await asyncio.gather(*[one() for _ in range(count)])


def mutate(rng, body):
    b = bytearray(body.encode())
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        i = rng.randrange(len(b)) if b else 0
        if op < 0.4 and b:
            b[i] = rng.randrange(256)
        elif op < 0.6 and b:
            del b[i:i + rng.randint(1, 8)]
        elif op < 0.8:
            b[i:i] = rng.choice([b'"', b"{", b"]", b"\xff", b"\\u0000", b"-1", b"1e309", b"null",
                                 b'"role":"system"', b"\x00", b"[[[[[[[[", b'"n":100'])
        else:
            b += b[: rng.randint(0, len(b))]
    return b.decode("latin-1")


async def mutated(port, count, seed):
    rng = random.Random(seed)
    valid = [chat_body("hi", 4, stream=rng.random() < 0.5) for _ in range(8)]
    valid.append(json.dumps({"model": MODEL, "prompt": "Say", "max_tokens": 4}))
    statuses = []
    for _ in range(count):
        original = rng.choice(valid)
        path = "/v1/completions" if '"prompt"' in original else "/v1/chat/completions"
        status, _, _ = await one_request(port, mutate(rng, original), timeout=20, path=path)
        statuses.append(status)
    return statuses


def counts(values):
    out = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items()))


class Cluster:
    def __init__(self, bin_dir, run_dir, kv_blocks):
        self.bin_dir, self.run_dir = bin_dir, run_dir
        subprocess.run([f"{bin_dir}/kvc-local", "up", "--run-dir", run_dir, "--prefill", "1",
                        "--decode", "1", "--http-port", "0", "--kv-blocks", str(kv_blocks)],
                       check=True, stdout=subprocess.DEVNULL)
        self.status = json.loads(subprocess.run(
            [f"{bin_dir}/kvc-local", "status", "--run-dir", run_dir, "--json"],
            check=True, capture_output=True, text=True).stdout)
        self.http_port = int(self.status["base_url"].rsplit(":", 1)[1])
        self.pids = {p["name"]: p["pid"] for p in self.status["processes"]}
        log = open(os.path.join(run_dir, "decode-0.log")).read()
        self.transfer_port = int(re.search(r"transfer segment [\d.]+:(\d+)", log).group(1))

    def alive(self):
        return {n: os.path.exists(f"/proc/{p}") for n, p in self.pids.items()}

    def rss_mib(self):
        out = {}
        for n, p in self.pids.items():
            try:
                for line in open(f"/proc/{p}/status"):
                    if line.startswith("VmRSS:"):
                        out[n] = round(int(line.split()[1]) / 1024, 1)
            except OSError:
                out[n] = None
        return out

    def decode_blocks(self):
        r = subprocess.run([f"{self.bin_dir}/kvcctl", "--target", self.status["conductor_address"],
                            "--admin-token", open(os.path.join(self.run_dir, "admin.token")).read()
                            .strip(), "--json", "nodes"], capture_output=True, text=True)
        for n in json.loads(r.stdout).get("nodes", []):
            if n["role"] == "NODE_ROLE_DECODE":
                load = n["load"]
                return int(load["free_kv_blocks"]), int(load["total_kv_blocks"])
        return None, None

    def wait_idle_blocks(self, timeout=30):
        deadline = time.monotonic() + timeout
        free, total = self.decode_blocks()
        while free != total and time.monotonic() < deadline:
            time.sleep(0.5)
            free, total = self.decode_blocks()
        return free, total

    def down(self):
        subprocess.run([f"{self.bin_dir}/kvc-local", "down", "--run-dir", self.run_dir],
                       stdout=subprocess.DEVNULL)


async def run_phases(cluster, seconds, mutations, seed):
    port = cluster.http_port
    normal = Normal(port)
    normal_task = asyncio.create_task(normal.run())
    phases = []

    async def phase(name, attack):
        t0 = time.monotonic()
        result = await attack
        normal_stats = normal.take()
        # A snapshot: the normal clients hold a few blocks at any time. The leak
        # check is at the end, once they stopped.
        free, total = await asyncio.get_running_loop().run_in_executor(None, cluster.decode_blocks)
        entry = {"phase": name, "seconds": round(time.monotonic() - t0, 1), **normal_stats,
                 "attack": result, "alive": cluster.alive(), "rss_mib": cluster.rss_mib(),
                 "decode_free_kv_blocks": free, "decode_total_kv_blocks": total}
        phases.append(entry)
        print(json.dumps(entry), flush=True)

    async def streams(n):
        rs = await asyncio.gather(*[one_request(port, chat_body(f"stream {i}", 32), 120)
                                    for i in range(n)])
        return {"status": counts(r[0] for r in rs), "complete": sum(1 for r in rs if r[2])}

    async def disconnects(batch, seconds):
        end, statuses = time.monotonic() + seconds, []
        while time.monotonic() < end:
            rs = await asyncio.gather(*[one_request(port, chat_body(f"bye {i}", 64), 30, True)
                                        for i in range(batch)])
            statuses += [r[0] for r in rs]
        return {"status": counts(statuses)}

    async def baseline():
        await asyncio.sleep(seconds)
        return {}

    rss_before = cluster.rss_mib()
    await phase("baseline", baseline())
    # Held past the servers' deadlines (HTTP read 30 s, transfer handshake 2 s),
    # so the report shows whether the servers close them.
    hold = max(seconds, 35)
    await phase("idle_http", hold_idle(port, 1000, hold))
    await phase("idle_transfer", hold_idle(cluster.transfer_port, 1000, seconds))
    await phase("slowloris", slowloris_summary(port, 200, hold))
    await phase("streams_500", streams(500))
    await phase("disconnect_50", disconnects(50, seconds))
    await phase("mutated", mutated_summary(port, mutations, seed))
    normal.stop = True
    await normal_task
    idle = await asyncio.get_running_loop().run_in_executor(None, cluster.wait_idle_blocks, 60)
    return rss_before, phases, idle


async def slowloris_summary(port, count, seconds):
    return {"outcome": counts(await slowloris(port, count, seconds))}


async def mutated_summary(port, count, seed):
    statuses = await mutated(port, count, seed)
    return {"status": counts(statuses), "requests": count}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin-dir", default="build/bin")
    ap.add_argument("--phase-seconds", type=float, default=15)
    ap.add_argument("--mutations", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kv-blocks", type=int, default=4096)
    ap.add_argument("--json", help="write the whole report here")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))  # the cluster inherits it
    run_dir = tempfile.mkdtemp(prefix="kvc-hostile-")
    cluster = Cluster(os.path.abspath(args.bin_dir), run_dir, args.kv_blocks)
    try:
        rss_before, phases, idle = asyncio.run(run_phases(cluster, args.phase_seconds, args.mutations,
                                                    args.seed))
    finally:
        alive_at_end = cluster.alive()
        rss_after = cluster.rss_mib()
        cluster.down()
    five_xx = sum(v for k, v in phases[-1]["attack"]["status"].items() if k.startswith("5"))
    leaked = idle[0] != idle[1]
    report = {"phases": phases, "rss_mib_before": rss_before, "rss_mib_after": rss_after,
              "alive_at_end": alive_at_end, "mutated_5xx": five_xx, "kv_leak": leaked,
              "decode_kv_blocks_free_at_end": idle[0], "decode_kv_blocks_total": idle[1],
              "run_dir": run_dir}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print(json.dumps({k: report[k] for k in ("rss_mib_before", "rss_mib_after", "alive_at_end",
                                              "mutated_5xx", "kv_leak",
                                              "decode_kv_blocks_free_at_end")}))
    ok = all(alive_at_end.values()) and five_xx == 0 and not leaked
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
