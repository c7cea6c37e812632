"""phi3nb: the Phi-3 Cookbook's OpenVINO chat sample, step by step, with every step tested.

Importing is cheap: torch, transformers and OpenVINO load inside the functions that need them.
"""

from .run.devices import available_devices, device_widget, resolve_device
from .errors import Phi3nbError
from .export.convert import export_model
from .export.options import command_that_made, export_command
from .run.generation import generate_answer, stop_token_ids
from .run.loading import load_model, load_tokenizer
from .export.folder.model_dir import check_model_dir
from .run.prompts import build_prompt, chat_messages, encode_chat, phi3_prompt
from .cookbook import (OV_CONFIG, COOKBOOK_MAX_NEW_TOKENS, COOKBOOK_MODEL_DIR, COOKBOOK_MODEL_ID, COOKBOOK_PROMPT,
                   COOKBOOK_QUESTION, COOKBOOK_SYSTEM, TOKENIZER_KWARGS)

_LAZY = {"prepare_embedded_model": "export.embedded", "ChatBox": "chat.box.widget", "load_genai": "run.genai",
         "chat_turn": "chat.turn", "RemoteChat": "chat.server_client",
         "load_genai_in_background": "run.background"}


def __getattr__(name):
    """Load the heavier parts (embedded model, chat widget) on first use."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'phi3nb' has no attribute {name!r}")


__all__ = [
    "OV_CONFIG", "RemoteChat", "COOKBOOK_MAX_NEW_TOKENS", "COOKBOOK_MODEL_DIR", "COOKBOOK_MODEL_ID", "COOKBOOK_PROMPT", "COOKBOOK_QUESTION",
    "COOKBOOK_SYSTEM", "TOKENIZER_KWARGS", "ChatBox", "Phi3nbError", "available_devices", "build_prompt",
    "chat_messages", "chat_turn", "check_model_dir", "device_widget", "encode_chat", "command_that_made", "export_command", "export_model",
    "generate_answer", "load_genai", "load_genai_in_background", "load_model", "load_tokenizer", "phi3_prompt",
    "prepare_embedded_model",
    "resolve_device", "stop_token_ids",
]
