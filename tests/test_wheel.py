"""The package as a user gets it: a wheel built from this tree, installed in a fresh virtual
environment outside the checkout, serves the API, Swagger UI and the spec it carries."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from bench.server import running_server

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_installs_one_package_and_serves_outside_the_checkout(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    [wheel] = tmp_path.glob("rasa_messaging-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"rasa_messaging", wheel.name.split("-py3")[0] + ".dist-info"}
    assert {"rasa_messaging/openapi/openapi.yaml", "rasa_messaging/static/index.html",
            "rasa_messaging/static/js/app.js", "rasa_messaging/static/style.css"} <= set(names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    with open(elsewhere / "server.log", "wb") as log, running_server(
            "--db", "mine.db", command=[str(venv / "bin" / "rasa-messaging")], cwd=elsewhere, env=env, log=log,
            seconds=60) as (base, _):
        for path in ("/core/openapi.json", "/core/ui/", "/core/conversations", "/", "/static/js/app.js"):
            assert httpx.get(f"{base}{path}").status_code == 200, path
        assert httpx.get(f"{base}/core/conversations").json() == []
    assert (elsewhere / "mine.db").is_file()
