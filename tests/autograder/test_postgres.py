"""The gradebook on a real PostgreSQL server that this test starts (Debian's postgresql).

Skipped with the reason when the server binaries are missing (`apt-get install -y postgresql`).
"""

from __future__ import annotations

import time

import pytest

from autograder.grading.worker import wait_idle

from .conftest import Service
from .servers import INITDB, PG_CTL, Postgres

pytestmark = pytest.mark.skipif(not (INITDB and PG_CTL),
                                reason="PostgreSQL server binaries not found (apt-get install -y postgresql)")


@pytest.fixture(scope="module")
def postgres_url():
    pg = Postgres()
    try:
        yield pg.url
    finally:
        pg.close()


def test_the_service_on_postgresql(postgres_url, course_root, tmp_path, grader, sub):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from autograder.gradebook.models import Base
    from autograder.grading.worker import Worker

    from .conftest import make_settings

    settings = make_settings(course_root, tmp_path / "data", database_url=postgres_url)
    svc = Service(settings)  # runs the Alembic migrations against the server
    with svc.db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    w = Worker(settings, svc.db, grader)
    import threading

    threads = [threading.Thread(target=w._loop, args=(slot,), daemon=True) for slot in range(2)]
    for t in threads:
        t.start()
    try:
        ids = [svc.submit(who, sub().solve().bytes()).json()["id"] for who in ("lea", "leo", "lia") * 4]
        assert len(set(ids)) == 12
        assert wait_idle(svc.db, 120)
        scores = [svc.client.get(f"/api/submissions/{i}", headers=svc.h("ines")).json()["score"] for i in ids]
        assert scores == [5.0] * 12
        assert svc.client.get(f"/api/submissions/{ids[0]}", headers=svc.h("leo")).status_code == 404
    finally:
        w.stopping.set()
        for t in threads:
            t.join(15)
        svc.db.dispose()
    time.sleep(0.1)
