"""The source model's config, read before an export: whether it needs its repository's code, and the int4
group sizes its layer widths allow.

Only config.json is read until trust is settled, so a refusal comes before any weights are downloaded and
before any of the repository's Python is imported.
"""

import math
import warnings
from pathlib import Path

from ..errors import Phi3nbError
from .trust import refuses_remote_code, remote_code_error


class GroupSizeWarning(UserWarning):
    """The requested int4 group size does not divide the model's layer widths."""


def layer_widths(config) -> set:
    """Input widths of the model's linear layers: an int4 group must divide each of them."""
    hidden = config.hidden_size
    heads = getattr(config, "num_attention_heads", None)
    head_dim = getattr(config, "head_dim", None) or (hidden // heads if heads else hidden)
    widths = {hidden, getattr(config, "intermediate_size", hidden)}
    if heads:
        widths.add(heads * head_dim)
    return widths


def valid_group_sizes(config) -> list:
    """Group sizes that divide every layer width (largest first), plus -1 (per channel)."""
    g = math.gcd(*layer_widths(config))
    return [s for s in (256, 128, 64, 32, 16) if g % s == 0] + [-1]


def effective_group_size(config, group_size) -> int:
    """`group_size` if it fits the model, else the largest valid one below it, with a warning."""
    valid = valid_group_sizes(config)
    if group_size in valid:
        return group_size
    fallback = next((s for s in valid if 0 < s < group_size), -1)
    warnings.warn(
        f"group size {group_size} does not divide this model's layer widths "
        f"{sorted(layer_widths(config))}; using {fallback} instead (valid: {valid}).",
        GroupSizeWarning, stacklevel=3)
    return fallback


def load_source_config(model_id, trust_remote_code):
    """The source model's config; without trust_remote_code=True, a model that needs its repository's
    Python ends in a Phi3nbError before any of it is imported. Unreadable: a Phi3nbError on working offline."""
    from transformers import AutoConfig

    if not trust_remote_code and needs_remote_code(model_id):
        raise remote_code_error(model_id)
    try:
        return AutoConfig.from_pretrained(model_id, trust_remote_code=bool(trust_remote_code))
    except (OSError, ValueError) as e:
        if refuses_remote_code(e):
            raise remote_code_error(model_id) from None
        raise _unreadable(model_id, e) from None


def _unreadable(model_id, error) -> Phi3nbError:
    return Phi3nbError(
        f"Cannot read the model {model_id!r}: {str(error).splitlines()[0]}\n"
        "Check the name and your internet connection (or HF_ENDPOINT), or pass a local folder. "
        "Offline, use the embedded model: PHI3NB_MODEL_ID=embedded (or phi3nb.prepare_embedded_model())."
    )


def needs_remote_code(model_id) -> bool:
    """True when transformers cannot build the model's config itself and would run the repository's
    configuration code (auto_map), as transformers decides it; reads config.json only, imports nothing.

    Phi-3 is native in transformers >= 4.40, so the cookbook's --trust-remote-code is no longer
    needed for it.
    """
    from transformers import CONFIG_MAPPING, PretrainedConfig

    try:
        raw, _ = PretrainedConfig.get_config_dict(model_id)
    except (OSError, ValueError) as e:
        raise _unreadable(model_id, e) from None
    return raw.get("model_type") not in CONFIG_MAPPING and "AutoConfig" in (raw.get("auto_map") or {})


def source_name(model_id) -> str:
    """A local folder as its absolute path (so two spellings are one source), else the model id."""
    local = Path(str(model_id)).expanduser()
    return str(local.resolve()) if local.exists() else str(model_id)


def longrope_switch(config) -> int | None:
    """The length past which a model (its config.json as a dict) uses its long rotary factors; None
    for a model without LongRoPE."""
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if (rope.get("rope_type") or rope.get("type")) != "longrope":
        return None
    switch = rope.get("original_max_position_embeddings") or config.get("original_max_position_embeddings")
    return int(switch) if switch else None
