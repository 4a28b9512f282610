from __future__ import annotations

from pathlib import Path

import pytest

from firstline.errors import CorpusFormatError
from firstline.knowledge.evaluation import load_qrels, load_queries, mrr_at, ndcg_at, recall_at


def test_metrics_by_hand() -> None:
    relevant = {"a": 1, "b": 2}
    assert ndcg_at(["b", "a"], relevant) == pytest.approx(1.0)
    # a at rank 1 (gain 1), b at rank 3 (gain 2): dcg = 1 + 2/2 = 2; idcg = 2 + 1/log2(3)
    assert ndcg_at(["a", "x", "b"], relevant) == pytest.approx(2 / (2 + 1 / 1.5849625), rel=1e-6)
    assert mrr_at(["x", "y", "a"], relevant) == pytest.approx(1 / 3)
    assert mrr_at(["x"] * 10 + ["a"], relevant) == 0.0
    assert recall_at(["a", "x"], relevant, 10) == 0.5
    assert ndcg_at(["x"], {}) == 0.0


def test_qrels_csv_tsv_and_header(tmp_path: Path) -> None:
    csv_file = tmp_path / "q.csv"
    csv_file.write_text("query-id,corpus-id,score\nq1,d1,1\nq1,d2,2\nq2,d3,1\n")
    tsv_file = tmp_path / "q.tsv"
    tsv_file.write_text("q1\td1\t1\n")
    assert load_qrels(csv_file) == {"q1": {"d1": 1, "d2": 2}, "q2": {"d3": 1}}
    assert load_qrels(tsv_file) == {"q1": {"d1": 1}}


@pytest.mark.parametrize("content", ["q1,d1\n", "query-id,corpus-id,score\n", "h,h,h\nq1,d1,high\n"])
def test_bad_qrels(tmp_path: Path, content: str) -> None:
    path = tmp_path / "q.csv"
    path.write_text(content)
    with pytest.raises(CorpusFormatError):
        load_qrels(path)


def test_queries(tmp_path: Path) -> None:
    path = tmp_path / "queries.jsonl"
    path.write_text('{"_id": "q1", "text": "vpn"}\n\n{"_id": 2, "text": "printer", "extra": 1}\n')
    assert load_queries(path) == {"q1": "vpn", "2": "printer"}
    path.write_text('{"id": "q1"}\n')
    with pytest.raises(CorpusFormatError, match="line 1"):
        load_queries(path)
