"""Prints what a stack made in a swarm, through the docker CLI (DOCKER_HOST), as one sorted
JSON document: the services' specs (network targets as names, secret and config ids
dropped: ids differ between two deploys), the stack's networks, secrets and configs. Two
deploys of one compose file (by `shoal stack deploy` and by `docker stack deploy`) must print
the same (scripts/e2e-stack).

    python3 stack_dump.py STACK
"""
import json
import subprocess
import sys

stack = sys.argv[1]
label = f"label=com.docker.stack.namespace={stack}"


def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


def inspect(kind, ids):
    return json.loads(docker(kind, "inspect", *ids)) if ids else []


def ids(kind):
    return docker(kind, "ls", "-q", "--filter", label).split()


networks = inspect("network", ids("network"))
# The allocator's VXLAN ids, like subnets, follow creation order, which docker's CLI does not fix.
for n in networks:
    (n.get("Options") or {}).pop("com.docker.network.driver.overlay.vxlanid_list", None)
names = {n["Id"]: n["Name"] for n in json.loads(docker("network", "inspect", *docker("network", "ls", "-q").split()))}
services = []
for s in inspect("service", ids("service")):
    spec = s["Spec"]
    for n in spec.get("TaskTemplate", {}).get("Networks", []):
        n["Target"] = names.get(n["Target"], n["Target"])
    cs = spec.get("TaskTemplate", {}).get("ContainerSpec", {})
    for r in cs.get("Secrets", []):
        r.pop("SecretID", None)
    for r in cs.get("Configs", []):
        r.pop("ConfigID", None)
    services.append(spec)
out = {
    "services": sorted(services, key=lambda s: s["Name"]),
    # Subnets are left out: the allocator gives them in creation order, which docker's CLI
    # does not fix.
    "networks": sorted(
        ({k: n.get(k) for k in ("Name", "Driver", "Labels", "Options", "Attachable", "Internal", "Scope")} for n in networks),
        key=lambda n: n["Name"],
    ),
    "secrets": sorted(({"Name": x["Spec"]["Name"], "Labels": x["Spec"].get("Labels")} for x in inspect("secret", ids("secret"))), key=lambda x: x["Name"]),
    "configs": sorted(
        ({"Name": x["Spec"]["Name"], "Labels": x["Spec"].get("Labels"), "Data": x["Spec"].get("Data")} for x in inspect("config", ids("config"))),
        key=lambda x: x["Name"],
    ),
}
print(json.dumps(out, indent=1, sort_keys=True))
