"""Splitting the grading: `--shard i/n` runs merged with `--merge` write the same files as one
run, and `--dask ADDRESS` on a LocalCluster of two worker processes grades like a local run.

A small class (three learners × two practice notebooks) keeps this quick.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from grading_class import build_plain

from tutor.grade import cli, session

pytestmark = pytest.mark.timeout(300)

SAME = ["gradebook.csv", "grades.csv", "report.html"]


def run(submissions: Path | None, out: Path, *options: str) -> int:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    argv = ([str(submissions)] if submissions else []) + ["--out", str(out), "-j", "1",
                                                           "--quiet", *options]
    return cli.main(parser.parse_args(argv))


def files(out: Path) -> dict[str, bytes]:
    """What a run writes for the instructor (the log's timings differ from run to run)."""
    found = {name: (out / name).read_bytes() for name in SAME}
    found.update({f"feedback/{p.name}": p.read_bytes() for p in out.glob("feedback/*")})
    return found


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    build_plain(base / "class", 3, ["01_logits", "02_softmax"])
    (base / "class" / "learner02").rename(base / "class" / "learner05")  # one in each shard
    assert run(base / "class", base / "single") == 0
    yield base
    session.close_zygote()


def test_shards_split_the_class_and_merge_into_the_single_run(single):
    assert run(single / "class", single / "shard1", "--shard", "1/2") == 0
    assert run(single / "class", single / "shard2", "--shard", "2/2") == 0
    one = {k for k in files(single / "shard1") if k.startswith("feedback/")}
    two = {k for k in files(single / "shard2") if k.startswith("feedback/")}
    assert one and two and one.isdisjoint(two)
    assert run(None, single / "merged", "--merge", str(single / "shard1"),
               str(single / "shard2")) == 0
    assert files(single / "merged") == files(single / "single")


def test_a_bad_shard_is_refused(single, capsys):
    assert run(single / "class", single / "bad", "--shard", "3/2") == 2
    assert "--shard takes i/n" in capsys.readouterr().err


def test_a_dask_cluster_grades_like_a_local_run(single):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        assert run(single / "class", single / "dask", "--dask", cluster.scheduler_address) == 0
    assert files(single / "dask") == files(single / "single")
