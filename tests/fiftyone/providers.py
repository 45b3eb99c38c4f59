"""Model provider for the FiftyOne tests and the App server they start
(``TAM_LABEL_MODEL_PROVIDER=tests.fiftyone.providers:color_models``): the
deterministic color doubles of tests/providers.py. Colors survive H.264 within
the doubles' tolerance, so they track the synthetic clips' objects."""

from tests.providers import color_models

__all__ = ["color_models"]
