"""Models that are already OpenVINO are used as they are: no torch, no conversion, no copy.

openvino_notebooks' llm-chatbot offers such "preconverted" repositories (for instance
OpenVINO/Phi-3-mini-4k-instruct-int4-ov), and a workshop host may share an exported folder.
Like optimum-intel's own check, a source counts as converted when it holds openvino_model.xml.
"""

from pathlib import Path

from ..errors import Phi3nbError
from .folder.model_dir import check_model_dir

OV_XML = "openvino_model.xml"
PHI3_PRECONVERTED = "OpenVINO/Phi-3-mini-4k-instruct-int4-ov"  # the cookbook's model, already in OpenVINO int4


def openvino_source(model_id):
    """The folder to load if `model_id` already holds an OpenVINO model (downloaded once), else None."""
    local = Path(str(model_id)).expanduser()
    if local.is_dir():
        return check_model_dir(local.resolve()) if (local / OV_XML).exists() else None
    repo = str(model_id)
    if not _hub_has_openvino(repo):
        return None
    from huggingface_hub import snapshot_download

    print(f"[phi3nb] {repo} is already an OpenVINO model: downloading it as it is (no conversion)...", flush=True)
    try:
        folder = Path(snapshot_download(repo))  # resumes a cut download; offline, the cached snapshot
    except Exception as e:  # network, disk and hub errors all end the same way for the user
        raise Phi3nbError(f"Could not download {repo} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). "
                          "Check the network (or HF_ENDPOINT) and run again: the download resumes.") from None
    try:
        return check_model_dir(folder)
    except Phi3nbError as e:
        raise Phi3nbError(f"The download of {repo} in {folder} is incomplete ({e}) Run again with network "
                          "access to finish it.") from None


def _hub_has_openvino(repo) -> bool:
    """True if the Hugging Face repository `repo` holds an OpenVINO model (cached, or asked online)."""
    from huggingface_hub import constants, file_exists, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo)
    except HFValidationError:
        return False
    if isinstance(try_to_load_from_cache(repo, OV_XML), str):
        return True
    if constants.HF_HUB_OFFLINE:
        return False
    try:
        return file_exists(repo, OV_XML)
    except Exception:  # offline, gated, unknown: the export path then says what to do
        return False
