"""The predictor of the forking estimators: GluonTS's, plus its data and threads.

:class:`ForkingPredictor` is a ``PyTorchPredictor`` that also records the
frequency it was trained for (so a caller can refuse data of another
frequency) and the number of torch threads it predicts with
(:func:`gluonts_qf.threads.torch_threads`).
"""

from collections.abc import Iterator
from typing import Any, Dict, List, Optional, Union

import torch
from gluonts.core.component import validated
from gluonts.dataset.common import Dataset
from gluonts.model.forecast import Forecast
from gluonts.model.forecast_generator import ForecastGenerator, SampleForecastGenerator
from gluonts.model.predictor import OutputTransform
from gluonts.torch.model.predictor import PyTorchPredictor
from gluonts.transform import Transformation
from torch import nn

from ...threads import torch_threads


class ForkingPredictor(PyTorchPredictor):
    """``PyTorchPredictor`` that knows its frequency and its torch threads.

    Parameters
    ----------
    freq
        Pandas frequency of the training data (``None``: unknown).
    num_threads
        Torch intra-op threads while forecasting (``None``: torch's setting).
    choices
        What training chose from the data, and why (e.g. ``"adaptive"``: the
        anchor, season, context and lags ``anchor="auto"`` picked and their
        backtest scores; ``"calibration"``: the level map fitted); ``None``
        for a predictor saved before predictors recorded it.
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
        choices: Optional[Dict[str, Any]] = None,
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
        self.choices = choices

    def with_choices(self, **entries: Any) -> "ForkingPredictor":
        """A copy (sharing the network) whose ``choices`` also hold ``entries``."""
        choices = {**(self.choices or {}), **entries}
        return type(self)(**{**self.__init_args__, "choices": choices})

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
