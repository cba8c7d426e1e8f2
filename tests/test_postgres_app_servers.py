"""Two app server processes on one PostgreSQL (issue #20), a small run of ``python -m rag.bench.app_servers``:
8 clients ask 60 questions through ``/ask``, half on each server; meanwhile an article is added through one
server's page, and both must answer its question citing it. One server reads from the primary, the other
through the multi-host URL, i.e. from the hot standby, so the article reaches the second one by replication.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pytest
from test_postgres_pipeline import fresh_database

from rag.bench.app_servers import NEW_ARTICLE, copy_to_postgres, demo_jobs, load_with_ingest, start_servers
from rag.bench.ask_load import cycle_list, problems

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.model,
              pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

CLIENTS = 8
QUESTIONS = 60


def test_two_app_servers_on_one_postgres_answer_well_and_both_see_an_added_article(
        pg_cluster, demo_index_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    primary = fresh_database(pg_cluster)
    copy_to_postgres(demo_index_dir, primary, lambda _: None)
    standby_first = pg_cluster.multi_url.rsplit("/", 1)[0] + "/" + primary.rsplit("/", 1)[1]
    article_file = tmp_path / "new.jsonl"
    article_file.write_text(json.dumps(NEW_ARTICLE) + "\n", encoding="utf-8")
    with ExitStack() as stack:
        servers = start_servers([primary, standby_first], tmp_path, stack, lambda _: None, "app")
        load, ingest = load_with_ingest(servers, cycle_list(demo_jobs(), QUESTIONS), CLIENTS, article_file)
        logs = "\n".join(s.log_tail() for s in servers)
    found = problems(load)
    assert not found, f"{len(found)} bad answers of {len(load.outcomes)}:\n" + "\n".join(found[:20])
    assert len(load.outcomes) == QUESTIONS
    assert {o.server for o in load.outcomes} == {0, 1}  # both servers answered
    assert not ingest["error"], ingest["error"]
    assert None not in ingest["cited_after_s"], (ingest, logs)  # both answered from the new article
    assert all(not s.popen or s.popen.returncode is not None for s in servers)  # stopped
    from rag.pipeline import NewsIndex

    index = NewsIndex.open(primary)
    try:
        assert index.stats()["articles"] == 45  # the 44 demo articles and the one added through the page
    finally:
        index.close()
    print(f"\napp servers: {load.summary()}, article cited after {ingest['cited_after_s']} s")
