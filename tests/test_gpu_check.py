"""The GPU check reads the probe's answer, and says SKIPPED (exit 77) when there is no GPU."""
import nbformat
import pytest
import torch

import gpu_check


def test_probe_result_is_read_from_the_last_cell():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(gpu_check.PROBE)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text='{"device": "cuda", "gpu_peak_mib": 12.5}\n')]
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), cell]
    assert gpu_check.probe_result(nb) == {"device": "cuda", "gpu_peak_mib": 12.5}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the check runs for real")
def test_without_gpu_the_check_is_skipped_not_passed(capsys):
    assert gpu_check.main([]) == gpu_check.SKIPPED != 0
    assert "SKIPPED" in capsys.readouterr().out
