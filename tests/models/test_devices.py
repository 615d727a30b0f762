"""Device strings: their form checked where a request is made, their availability where it runs."""

from __future__ import annotations

import pytest
import torch

from babellens.errors import InvalidInputError
from babellens.models.devices import available_device, parse_device


@pytest.mark.parametrize("text", ["cpu", "cuda", "cuda:1", "mps"])
def test_known_device_forms_parse(text):
    assert parse_device(text) == torch.device(text)


@pytest.mark.parametrize("text", ["banana", "gpu", "cuda:x", "meta", ""])
def test_other_forms_are_one_line_errors_naming_the_choices(text):
    with pytest.raises(InvalidInputError, match="use cpu, cuda, cuda:N or mps"):
        parse_device(text)


def test_availability_follows_what_torch_reports(monkeypatch):
    assert available_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InvalidInputError, match="no CUDA device on this machine"):
        available_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert available_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(InvalidInputError, match=r"CUDA devices 0\.\.1"):
        available_device("cuda:2")


def test_the_training_parameters_refuse_an_unknown_device():
    from pydantic import ValidationError

    from babellens.dictionaries.config import DictTrainParams

    assert DictTrainParams(device="cuda:0").device == "cuda:0"
    with pytest.raises(ValidationError, match="unknown device 'tpu'"):
        DictTrainParams(device="tpu")
