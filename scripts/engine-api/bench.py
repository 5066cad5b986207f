"""Engine API list latency at scale, as docker clients see it.

Usage: bench.py unix:///PATH/docker.sock SERVICES REPLICAS SAMPLES

Creates SERVICES services of REPLICAS replicas each, constrained to a node label no node has
(so every task stays pending: no containers, the store holds SERVICES x REPLICAS tasks), then
times the calls behind `docker service ls` (GET /services?status=true), `docker service ps
NAME` (GET /tasks?filters={"service":…}) and `docker node ls`, SAMPLES times each, and prints
p50/p99/max in ms. Removes its services at the end.
"""
import json
import sys
import time

import docker


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def timed(samples, f):
    out = []
    for _ in range(samples):
        t = time.perf_counter()
        f()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main(url, services, replicas, samples):
    api = docker.APIClient(base_url=url, version="1.47", timeout=120)
    spec = lambda i: {
        "Name": f"bench{i:04d}",
        "Labels": {"bench": "1"},
        "TaskTemplate": {
            "ContainerSpec": {"Image": "shoal-app:1"},
            "Placement": {"Constraints": ["node.labels.bench==nowhere"]},
        },
        "Mode": {"Replicated": {"Replicas": replicas}},
    }
    t = time.perf_counter()
    for i in range(services):
        api._result(api._post_json(api._url("/services/create"), data=spec(i)), True)
    create_s = time.perf_counter() - t
    want = services * replicas
    deadline = time.time() + 300
    while True:
        n = len(api.tasks(filters={"label": "bench=1"}))
        if n >= want:
            break
        if time.time() > deadline:
            raise SystemExit(f"bench: only {n} of {want} tasks after 300 s")
        time.sleep(0.5)
    made_s = time.perf_counter() - t
    print(f"bench engine-api: {services} services x {replicas} replicas created in {create_s:.1f} s "
          f"({services / create_s:.0f} creates/s through POST /services/create), {want} tasks in the store after {made_s:.1f} s")
    rows = [
        ("GET /services?status=true        (docker service ls)", lambda: api.services(status=True)),
        ("GET /tasks?filters=service       (docker service ps)", lambda: api.tasks(filters={"service": f"bench{services // 2:04d}"})),
        ("GET /nodes                       (docker node ls)", lambda: api.nodes()),
        ("GET /tasks                       (all tasks)", lambda: api.tasks()),
    ]
    sizes = {}
    for name, f in rows:
        r = f()
        sizes[name] = (len(r), len(json.dumps(r)))
        ms = timed(samples, f)
        print(f"bench engine-api: {name}: {sizes[name][0]:>6} objects {sizes[name][1] / 1e6:5.1f} MB  "
              f"p50 {pct(ms, 50):6.1f} ms  p99 {pct(ms, 99):6.1f} ms  max {max(ms):6.1f} ms  ({samples} calls)")
    for i in range(services):
        api.remove_service(f"bench{i:04d}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
