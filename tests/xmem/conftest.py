from pathlib import Path

import pytest
import torch

DATA = Path(__file__).resolve().parents[1] / "data" / "xmem"


@pytest.fixture(scope="session")
def xmem_data() -> Path:
    return DATA


@pytest.fixture(scope="session")
def seed1_weights(tmp_path_factory) -> Path:
    """Seeded XMem weights (seed 1) written once per test session (~250 MB in tmp)."""
    from tam_core.trackers.xmem.seeded_weights import xmem_seeded_state_dict

    path = tmp_path_factory.mktemp("xmem_weights") / "seed1.pth"
    torch.save(xmem_seeded_state_dict(1), path)
    return path


@pytest.fixture(scope="session")
def seed1_network(seed1_weights):
    from tam_core.trackers.xmem import load_xmem

    return load_xmem(seed1_weights, "cpu")
