"""The bench's fast == naive comparison: a difference anywhere fails it and is printed by path (issue 18)."""

from __future__ import annotations

import copy

from bench.feature_usage import _same

ANSWER = {
    "totals": {"events": 3, "uniqueLicenses": 2},
    "topFeatures": [
        {"name": "search", "licenses": 2, "domains": 2, "notUsedBy": 1},
        {"name": "bulk_edit", "licenses": 1, "domains": 1, "notUsedBy": 2},
    ],
}


def test_equal_answers_pass_silently(capsys):
    assert _same(ANSWER, copy.deepcopy(ANSWER))
    assert capsys.readouterr().out == ""


def test_one_license_fewer_fails_and_names_the_field(capsys):
    fast = copy.deepcopy(ANSWER)
    fast["topFeatures"][1]["licenses"] = 0  # the undercount of issue 18
    assert not _same(fast, ANSWER)
    assert capsys.readouterr().out.strip() == "MISMATCH at answer.topFeatures[1].licenses: fast 0, naive 1"


def test_a_field_only_one_side_has_is_a_difference(capsys):
    naive = copy.deepcopy(ANSWER)
    del naive["topFeatures"][0]["notUsedBy"]
    assert not _same(ANSWER, naive)
    assert 'answer.topFeatures[0].notUsedBy: fast 1, naive "(absent)"' in capsys.readouterr().out


def test_lists_of_different_lengths_are_printed_whole(capsys):
    fast = copy.deepcopy(ANSWER)
    fast["topFeatures"].pop()
    assert not _same(fast, ANSWER)
    assert "MISMATCH at answer.topFeatures: fast [" in capsys.readouterr().out
