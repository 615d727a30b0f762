import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def _one_thread():
    """The tiny models run fastest on one thread; on a shared CPU several threads fight."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
