"""The cluster page in a real browser (scripts/e2e-ui): headless Chromium driven over the Chrome
DevTools protocol (websocket-client), the swarm driven with the shoal CLI, the DOM checked.

usage: check.py CHROMIUM SHOAL DATA_DIR PAGE_URL WORKER_NODE_ID OUT_DIR

Checks (each failure exits 1 with what was wrong): the page shows both nodes as columns; a
scale shows its task cards; a drain shows on the node's column within 1 s of the command's
return (the write is committed when it returns) and its cards leave; a service no node can take
shows a pending card with the scheduler's reason; a rolling update under way shows within 1 s.
Prints the times it measured, and renders a synthetic view of 100 nodes and 2,000 tasks in the
same page to time a render of that size. Screenshots go to OUT_DIR.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

chromium, shoal, data_dir, page_url, worker_id, out_dir = sys.argv[1:7]
# `timeout` ends this with SIGTERM: run the `finally` below (the browser and its profile go).
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def fail(msg):
    print(f"e2e-ui: FAILED: {msg}", file=sys.stderr)
    try:
        shot("failure.png")
    except Exception:  # the browser may be what failed
        pass
    sys.exit(1)


def sh(*args):
    r = subprocess.run([shoal, "--data-dir", data_dir, *args], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        fail(f"shoal {' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


profile = tempfile.mkdtemp(prefix="shoal-ui-chromium.")
browser = subprocess.Popen(
    [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--remote-debugging-port=0",
     f"--user-data-dir={profile}", "--window-size=1400,900", "about:blank"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop_browser():
    # Debian's chromium-headless-shell is a shell script that runs the browser without exec:
    # killing the script alone left the browser running. It leads a session of its own, so
    # the whole group goes.
    try:
        os.killpg(browser.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    browser.wait()
    shutil.rmtree(profile, ignore_errors=True)


ws = None
next_id = 0


def cdp(method, **params):
    global next_id
    next_id += 1
    ws.send(json.dumps({"id": next_id, "method": method, "params": params}))
    while True:
        m = json.loads(ws.recv())
        if m.get("id") == next_id:
            if "error" in m:
                fail(f"{method}: {m['error']}")
            return m["result"]


def js(expr):
    r = cdp("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
    if "exceptionDetails" in r:
        fail(f"{expr}: {r['exceptionDetails'].get('text')} {r['exceptionDetails'].get('exception', {}).get('description', '')}")
    return r["result"].get("value")


def wait(expr, what, secs=30.0):
    """Polls `expr` in the page until it is true; returns the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < secs:
        if js(expr):
            return time.monotonic() - t0
        time.sleep(0.02)
    summary = js("document.getElementById('summary').textContent + ', ' + document.getElementById('conn').textContent")
    fail(f"{what}: not within {secs:.0f}s (the page shows: {summary})")


def shot(name):
    png = base64.b64decode(cdp("Page.captureScreenshot", format="png")["data"])
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(png)


try:
    # The port Chromium chose (port 0: never one another process holds) is in its profile.
    deadline = time.monotonic() + 30
    while True:
        try:
            with open(os.path.join(profile, "DevToolsActivePort")) as f:
                port = int(f.readline())
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2))
            page = next(t for t in targets if t.get("type") == "page")
            break
        except Exception as e:
            if time.monotonic() > deadline:
                fail(f"chromium's DevTools did not answer: {e}")
            time.sleep(0.2)
    ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
    cdp("Page.enable")
    cdp("Page.navigate", url=page_url)
    took = wait("document.querySelectorAll('.node').length === 2", "two node columns")
    first_ms = js("window.shoalFirstRenderMs")
    fcp = js("(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null")
    print(f"e2e-ui: the page shows 2 node columns ({took:.2f}s after navigating; first render at {first_ms:.0f} ms, first contentful paint at {fcp} ms)")
    if js("location.search") != "":
        fail("the token stayed in the address bar")
    if js("document.getElementById('conn').textContent") != "live":
        fail("the page does not say it is live")
    if js(f"document.querySelector('.node[data-id=\"{worker_id}\"]') === null"):
        fail("the worker has no column")

    cards = "document.querySelectorAll('.task[data-service=\"web\"][data-state=\"running\"]').length"
    sh("service", "create", "--name", "web", "--replicas", "4", "shoal-app:1")
    wait(f"{cards} === 4", "4 running cards of web after service create")
    sh("service", "scale", "web=6")
    t_commit = time.monotonic()
    shown = wait("document.querySelector('.service[data-name=\"web\"]').dataset.desired === '6'", "web's desired replicas 6 after the scale", 5)
    wait(f"{cards} === 6", "6 running cards of web after the scale")
    print(f"e2e-ui: scale to 6 shown {shown * 1000:.0f} ms after the command returned; 6 running cards after {time.monotonic() - t_commit:.1f}s")
    on_worker = f"document.querySelectorAll('.node[data-id=\"{worker_id}\"] .task').length"
    if js(on_worker) == 0:
        fail("no task of web on the worker before the drain (the spread put none there)")
    shot("scaled.png")

    sh("node", "update", "--availability", "drain", worker_id)
    drained = wait(f"document.querySelector('.node[data-id=\"{worker_id}\"]').dataset.availability === 'drain'", "the drain on the worker's column", 5)
    gone = wait(f"{on_worker} === 0", "the drained worker's cards gone", 60)
    wait(f"{cards} === 6", "6 running cards of web again, on the manager", 60)
    print(f"e2e-ui: drain shown {drained * 1000:.0f} ms after the command returned (target <= 1000 ms); the worker's cards gone after {gone:.1f}s")
    if drained > 1.0:
        fail(f"the drain showed {drained * 1000:.0f} ms after its commit, over 1 s")
    shot("drained.png")

    sh("service", "create", "-d", "--name", "nowhere", "--constraint", "node.labels.zone==nowhere", "shoal-app:1")
    wait("[...document.querySelectorAll('.pending[data-service=\"nowhere\"] .reason')].some(r => r.textContent.includes('no suitable node'))",
         "a pending card of nowhere with the scheduler's reason")
    reason = js("document.querySelector('.pending[data-service=\"nowhere\"] .reason').textContent")
    print(f"e2e-ui: pending card with its reason: {reason}")

    sh("service", "update", "-d", "--update-delay", "5s", "--image", "shoal-app:2", "web")
    updating = wait("document.querySelector('.service[data-name=\"web\"]').dataset.update === 'updating'", "web's update under way", 5)
    print(f"e2e-ui: an update under way shown {updating * 1000:.0f} ms after the command returned (target <= 1000 ms)")
    if updating > 1.0:
        fail(f"the update showed {updating * 1000:.0f} ms after its commit, over 1 s")
    shot("updating.png")

    # A render of 100 nodes and 2,000 tasks in the same page (what a page of that size draws
    # on each push), paused so the live pushes leave it on screen.
    js("document.getElementById('pause').click()")
    nodes = []
    for i in range(100):
        tasks = [{"id": f"t{i}-{j}", "name": f"svc{j % 10}.{i * 20 + j + 1}", "service": f"svc{j % 10}", "slot": i * 20 + j + 1,
                  "image": "registry.example/app:1.2.3", "state": "running", "desired": "running", "message": "started"} for j in range(20)]
        nodes.append({"id": f"node{i:03}", "hostname": f"worker-{i:03}", "role": "manager" if i < 3 else "worker", "state": "ready",
                      "availability": "active", "leader": i == 0, "reachability": "reachable" if i < 3 else None,
                      "nano_cpus_total": 8_000_000_000, "memory_bytes_total": 32 << 30, "nano_cpus_used": 2_000_000_000,
                      "memory_bytes_used": 4 << 30, "tasks": tasks})
    view = {"index": 1, "nodes": nodes, "pending": [], "pending_total": 0, "cards_hidden": 0, "events": [],
            "services": [{"id": f"s{k}", "name": f"svc{k}", "mode": "replicated", "image": "app", "running": 200, "desired": 200,
                          "update_state": None, "update_message": "", "updated": 200} for k in range(10)]}
    payload = json.dumps(view)
    ms = js("(() => { const t0 = performance.now(); const v = JSON.parse(" + json.dumps(payload) + "); window.shoalRender(v);"
            " document.body.getBoundingClientRect(); return performance.now() - t0; })()")
    n_cards = js("document.querySelectorAll('.task').length")
    if n_cards != 2000:
        fail(f"the synthetic view drew {n_cards} cards, want 2000")
    print(f"e2e-ui: a view of 100 nodes / 2,000 tasks ({len(payload) // 1024} KiB of JSON) parsed, rendered and laid out in {ms:.0f} ms (target: first paint <= 1 s)")
    shot("hundred-nodes.png")
finally:
    if ws is not None:
        ws.close()
    stop_browser()
print("e2e-ui: browser checks passed")
