# docker-py (PyPI `docker`) and websocket-client (the Chrome DevTools protocol of
# scripts/ui/check.py; docker-py depends on it too) in one venv, target/docker-py-venv, made
# here when missing. Sourced from the repository's root: sets $venv.
ensure_docker_py() {
  venv="$PWD/target/docker-py-venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import docker, websocket' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check docker websocket-client
  fi
}
