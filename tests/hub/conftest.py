"""One real hub for the hub's tests (started once for tests/hub/, about 20 s, and stopped after
them), with a local LTI 1.3 platform registered in it (tests/hub/lti_platform.py)."""

from __future__ import annotations

import json

import pytest

from autograder.hub import launch

from .lti_platform import Platform


@pytest.fixture(scope="package")
def hub_and_platform(tmp_path_factory):
    why = launch.missing()
    if why:
        pytest.skip(why)
    h = launch.Hub(tmp_path_factory.mktemp("hub"), groups={"mentors": ["mentor"], "cohort-a": ["mentor", "ada"]})
    platform = Platform(h.url)
    (h.dir / "lti").mkdir(parents=True, exist_ok=True)
    (h.dir / "lti" / "platforms.json").write_text(json.dumps(platform.registration()))
    h.start()
    yield h, platform
    h.stop()
    platform.close()


@pytest.fixture(scope="package")
def hub(hub_and_platform):
    return hub_and_platform[0]


@pytest.fixture(scope="package")
def platform(hub_and_platform):
    return hub_and_platform[1]
