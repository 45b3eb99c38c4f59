"""Evaluation: DAVIS J, F and J&F (``metrics``)."""
