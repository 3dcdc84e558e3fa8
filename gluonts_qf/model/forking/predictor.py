"""The predictor of the forking estimators: GluonTS's, plus its data and threads.

:class:`ForkingPredictor` is a ``PyTorchPredictor`` that also records the
frequency it was trained for (so a caller can refuse data of another
frequency) and the number of torch threads it predicts with.
:func:`torch_threads` sets torch's intra-op threads for a block and restores
them afterwards; training uses it too.
"""

import contextlib
from collections.abc import Iterator
from typing import List, Optional, Union

import torch
from gluonts.core.component import validated
from gluonts.dataset.common import Dataset
from gluonts.model.forecast import Forecast
from gluonts.model.forecast_generator import ForecastGenerator, SampleForecastGenerator
from gluonts.model.predictor import OutputTransform
from gluonts.torch.model.predictor import PyTorchPredictor
from gluonts.transform import Transformation
from torch import nn


@contextlib.contextmanager
def torch_threads(num_threads: Optional[int]) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(num_threads)``, then restore.

    ``None`` leaves torch's setting alone. Torch's intra-op threads wait for
    each other at every operation, so on a machine whose cores are busy with
    other work more threads can be far slower than one.
    """
    before = torch.get_num_threads()
    if num_threads is not None and num_threads != before:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class ForkingPredictor(PyTorchPredictor):
    """``PyTorchPredictor`` that knows its frequency and its torch threads.

    Parameters
    ----------
    freq
        Pandas frequency of the training data (``None``: unknown).
    num_threads
        Torch intra-op threads while forecasting (``None``: torch's setting).
    input_names, prediction_net, batch_size, prediction_length
        As for ``PyTorchPredictor``.
    input_transform, forecast_generator, output_transform, lead_time, device
        As for ``PyTorchPredictor``.
    """

    @validated()
    def __init__(
        self,
        input_names: List[str],
        prediction_net: nn.Module,
        batch_size: int,
        prediction_length: int,
        input_transform: Transformation,
        forecast_generator: ForecastGenerator = SampleForecastGenerator(),
        output_transform: Optional[OutputTransform] = None,
        lead_time: int = 0,
        device: Union[str, torch.device] = "auto",
        freq: Optional[str] = None,
        num_threads: Optional[int] = None,
    ) -> None:
        super().__init__(
            input_names=input_names,
            prediction_net=prediction_net,
            batch_size=batch_size,
            prediction_length=prediction_length,
            input_transform=input_transform,
            forecast_generator=forecast_generator,
            output_transform=output_transform,
            lead_time=lead_time,
            device=device,
        )
        self.freq = freq
        self.num_threads = num_threads

    def predict(  # type: ignore[override]
        self, dataset: Dataset, num_samples: Optional[int] = None
    ) -> Iterator[Forecast]:
        """GluonTS's forecasts, each computed with ``num_threads`` torch threads.

        The thread setting is changed only while a forecast is being computed,
        so code that runs between two forecasts sees its own setting.
        """
        forecasts = super().predict(dataset, num_samples=num_samples)
        while True:
            with torch_threads(self.num_threads):
                forecast = next(forecasts, None)
            if forecast is None:
                return
            yield forecast
