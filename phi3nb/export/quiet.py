"""Hide the lines an export prints that no user can act on, and only those.

Converting a model, the libraries underneath print internals: torch warns that tracing
turns Python values into constants (optimum traces the model on purpose, and its patches
exist for that), transformers flags arguments that optimum, not the user, passes, and nncf
logs a table of bit widths after the fact. Each is matched by its warning category or by its
logger and message; every other warning and log line still shows, and so do nncf's progress
bars (rich, not logging).
"""

import contextlib
import logging
import warnings

# logger -> starts of the messages it may drop (seen with transformers 5.5 and nncf 3.4)
KNOWN_NOISE = {
    "transformers.configuration_utils": ("`torch_dtype` is deprecated! Use `dtype` instead!",),
    "transformers.modeling_utils": ("`torch_dtype` is deprecated! Use `dtype` instead!",
                                    "`loss_type=None` was set in the config but it is unrecognized."),
    "transformers.masking_utils": ("`cache_position` is deprecated as an arg",),
    "nncf": ("Statistics of the bitwidth distribution:",),
}
# Shown whenever transformers 5 reads a LongRoPE config.json (Phi-3.5-mini, Phi-4-mini, Phi-3-mini-128k): it asks
# whoever wrote the config for a field the published configs do not have; the model reads them as they are.
CONFIG_NOISE = {"transformers.modeling_rope_utils": (
    "This model config has set a `rope_parameters['original_max_position_embeddings']` field",)}


class DropKnown(logging.Filter):
    """Drop a logger's records whose message starts with one of `starts`."""

    def __init__(self, starts):
        super().__init__()
        self.starts = tuple(starts)

    def filter(self, record):
        return not record.getMessage().startswith(self.starts)


def drop_config_noise():
    """Hide CONFIG_NOISE for good (once per process): loading a tokenizer or a model reads config.json too."""
    for name, starts in CONFIG_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropKnown) and f.starts == starts for f in logger.filters):
            logger.addFilter(DropKnown(starts))


@contextlib.contextmanager
def quiet_export():
    """Inside: torch's TracerWarnings and KNOWN_NOISE are not shown; everything else is."""
    import nncf  # noqa: F401  (nncf must create its logger first: it is an NNCFLogger, with info_once)
    from torch.jit import TracerWarning

    drop_config_noise()
    filters = [(logging.getLogger(name), DropKnown(starts)) for name, starts in KNOWN_NOISE.items()]
    for logger, drop in filters:
        logger.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=TracerWarning)
            yield
    finally:
        for logger, drop in filters:
            logger.removeFilter(drop)
