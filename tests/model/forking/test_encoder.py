"""Pure tensor helpers of the shared encoder."""

import torch

from gluonts_qf.model.forking.encoder import fill_leading


def test_fill_leading_hand_values():
    # rows: left padding then data; a missing value after the first observation
    # (already imputed upstream, kept); nothing observed (unchanged)
    target = torch.tensor(
        [[0.0, 0.0, 5.0, 6.0], [3.0, 3.0, 4.0, 2.0], [0.0, 0.0, 0.0, 0.0]]
    )
    observed = torch.tensor(
        [[0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
    )
    expected = torch.tensor(
        [[5.0, 5.0, 5.0, 6.0], [3.0, 3.0, 4.0, 2.0], [0.0, 0.0, 0.0, 0.0]]
    )
    torch.testing.assert_close(fill_leading(target, observed), expected)
