"""The real-server check (tests/cvat/real_server_check.py) as a test: skipped
unless CVAT_REAL_URL names a running CVAT server (CI keeps the fake)."""

import os

import pytest


@pytest.mark.skipif(not os.environ.get("CVAT_REAL_URL"), reason="set CVAT_REAL_URL (and CVAT_REAL_USER/CVAT_REAL_PASSWORD) to run against a real CVAT")
def test_track_and_fix_against_a_real_cvat_server(tmp_path):
    from real_server_check import Check

    check = Check(os.environ["CVAT_REAL_URL"], os.environ.get("CVAT_REAL_USER", "admin"),
                  os.environ.get("CVAT_REAL_PASSWORD", "admin12345"), tmp_path)
    assert check.run() == 0, check.failures


@pytest.mark.skipif(not os.environ.get("CVAT_REAL_URL"), reason="set CVAT_REAL_URL (and CVAT_REAL_USER/CVAT_REAL_PASSWORD) to run against a real CVAT")
def test_concept_preannotation_against_a_real_cvat_server(tmp_path):
    from real_concepts_check import ConceptCheck

    check = ConceptCheck(os.environ["CVAT_REAL_URL"], os.environ.get("CVAT_REAL_USER", "admin"),
                         os.environ.get("CVAT_REAL_PASSWORD", "admin12345"), tmp_path)
    assert check.run() == 0, check.failures
