import pytest
import torch


@pytest.fixture(autouse=True)
def _inference_mode():
    """Captured tensors are inference tensors; checking them against modules needs the same mode."""
    with torch.inference_mode():
        yield
