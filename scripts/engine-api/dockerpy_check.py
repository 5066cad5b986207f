"""docker-py (the Docker SDK for Python) against a Shoal node's Engine API.

Usage: dockerpy_check.py unix:///PATH/docker.sock

Runs the SDK's swarm calls a script would make and asserts what they return; exits 1 with the
first mismatch. The service it makes is removed at the end, also on failure.
"""
import base64
import sys
import time

import docker
from docker.types import ServiceMode


def wait(what, pred, secs=30):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {secs}s")


def main(url):
    c = docker.DockerClient(base_url=url)
    info = c.info()
    assert info["Swarm"]["LocalNodeState"] == "active", info["Swarm"]
    assert info["Swarm"]["ControlAvailable"] is True, info["Swarm"]
    assert c.swarm.attrs["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 5, c.swarm.attrs
    nodes = c.nodes.list()
    assert len(nodes) == 1 and nodes[0].attrs["Status"]["State"] == "ready", [n.attrs for n in nodes]
    assert c.nodes.list(filters={"role": "manager"})[0].id == nodes[0].id

    svc = c.services.create("shoal-app:1", name="py", mode=ServiceMode("replicated", replicas=2), env=["A=1"], labels={"team": "py"})
    try:
        def running(n):
            return lambda: len([t for t in svc.tasks(filters={"desired-state": "running"}) if t["Status"]["State"] == "running"]) == n

        wait("docker-py: 2 tasks running", running(2))
        assert [s.name for s in c.services.list(filters={"name": "py"})] == ["py"]
        assert [s.name for s in c.services.list(filters={"label": "team=py"})] == ["py"]
        svc.reload()
        assert svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1"], svc.attrs["Spec"]
        svc.scale(3)
        wait("docker-py: scale to 3", running(3))
        svc.reload()
        svc.update(image="shoal-app:2")
        wait("docker-py: update to shoal-app:2", lambda: sorted(
            t["Spec"]["ContainerSpec"]["Image"] for t in svc.tasks(filters={"desired-state": "running"}) if t["Status"]["State"] == "running"
        ) == ["shoal-app:2"] * 3)
        secret = c.secrets.create(name="pysecret", data=b"s3cret")
        assert [s.name for s in c.secrets.list(filters={"name": "pysecret"})] == ["pysecret"]
        secret.remove()
        config = c.configs.create(name="pyconfig", data=b"listen 80\n")
        assert base64.b64decode(c.configs.get("pyconfig").attrs["Spec"]["Data"]) == b"listen 80\n"
        net = c.networks.create("pynet", driver="overlay", labels={"by": "py"})
        assert [n.name for n in c.networks.list(filters={"label": "by=py"})] == ["pynet"]
        on_net = c.services.create(
            "shoal-app:1", name="pyonnet", networks=["pynet"],
            configs=[docker.types.ConfigReference(config.id, "pyconfig", filename="/etc/py.conf")],
        )
        wait("docker-py: a task on pynet with an address", lambda: any(
            a["Network"]["Spec"]["Name"] == "pynet" and a["Addresses"]
            for t in on_net.tasks() for a in t.get("NetworksAttachments", [])
        ))
        on_net.remove()
        wait("docker-py: network and config removable", lambda: _removed(net) and _removed(config))
        try:
            c.services.get("nosuch")
            raise AssertionError("services.get of an unknown service succeeded")
        except docker.errors.NotFound:
            pass
        try:
            c.services.create("shoal-app:1", name="py")
            raise AssertionError("a duplicate name was accepted")
        except docker.errors.APIError as e:
            assert e.status_code == 409, e
    finally:
        svc.remove()
    wait("docker-py: service removed", lambda: c.services.list(filters={"name": "py"}) == [])
    print("docker-py: swarm, nodes, services (create, scale, update, rm), tasks, secrets, configs, networks: ok")


def _removed(obj):
    """Removes a network or config; False while the swarm still refuses (in use)."""
    try:
        obj.remove()
        return True
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError:
        return False


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except AssertionError as e:
        print(f"docker-py: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
