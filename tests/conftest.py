"""Fixtures more than one test file uses."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Tiny networks: more threads only spin against each other on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
