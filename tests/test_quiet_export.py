"""A first export shows phi3nb's lines and real warnings, not the libraries' known chatter.

Each check runs in a fresh process: the libraries print most of this noise once per process, and
pytest's own filterwarnings (pyproject.toml) hides TracerWarning here, so only a child shows what a user sees.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import phi3nb

# What a fresh export printed before phi3nb filtered it (transformers 5.5, nncf 3.4, torch 2.13).
NOISE = ("TracerWarning", "`torch_dtype` is deprecated", "`loss_type=None` was set in the config",
         "`cache_position` is deprecated", "INFO:nncf:Statistics of the bitwidth distribution", "━┯━")


def run_python(script, tmp_path):
    here = str(Path(phi3nb.__file__).parent.parent)  # the child imports the phi3nb under test
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "",
           "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout + run.stderr


def test_a_fresh_export_prints_progress_and_real_warnings_but_no_library_noise(tiny_phi3_hf, tmp_path):
    out = run_python(f"""
        import phi3nb
        phi3nb.export_model({str(tiny_phi3_hf)!r}, {str(tmp_path / 'int4')!r}, group_size=96)
    """, tmp_path)
    for noise in NOISE:
        assert noise not in out, (noise, out)
    for progress in ("[phi3nb] 1/3 converting", "[phi3nb] 2/3 saving the model", "[phi3nb] 3/3 saving the tokenizer",
                     "[phi3nb] export complete", "Applying Weight Compression"):  # the last: nncf's progress bar
        assert progress in out, (progress, out)
    assert "GroupSizeWarning: group size 96 does not divide" in out, out  # phi3nb's own warning stays


def test_inside_the_filter_only_the_known_lines_are_hidden(tmp_path):
    out = run_python("""
        import logging, warnings
        from torch.jit import TracerWarning
        from transformers.utils import logging as hf_logging
        from phi3nb.export.quiet import quiet_export

        hf = hf_logging.get_logger("transformers.modeling_utils")
        nncf = logging.getLogger("nncf")
        with quiet_export():
            warnings.warn("Converting a tensor to a Python boolean might cause the trace to be incorrect.", TracerWarning)
            hf.warning("`loss_type=None` was set in the config but it is unrecognized. (hidden)")
            nncf.info("Statistics of the bitwidth distribution:\\n(hidden table)")
            warnings.warn("an unknown warning inside", UserWarning)
            warnings.warn("an unknown deprecation inside", FutureWarning)
            hf.warning("another transformers warning inside")
            nncf.info("another nncf line inside")
            nncf.error("an nncf error inside")
            logging.getLogger("phi3nb.test").error("an error of another logger inside")
        hf.warning("`loss_type=None` was set in the config but it is unrecognized. (after)")
        warnings.warn("a TracerWarning after", TracerWarning)
    """, tmp_path)
    assert "(hidden" not in out and "might cause the trace" not in out, out
    for shown in ("UserWarning: an unknown warning inside", "FutureWarning: an unknown deprecation inside",
                  "another transformers warning inside", "INFO:nncf:another nncf line inside",
                  "ERROR:nncf:an nncf error inside", "an error of another logger inside",
                  "unrecognized. (after)", "TracerWarning: a TracerWarning after"):
        assert shown in out, (shown, out)


def test_a_longrope_model_loads_without_transformers_asking_for_a_config_field(tmp_path, capfd):
    """Phi-3.5-mini's and Phi-4-mini's published config.json make transformers 5 ask for a `factor` field
    that no user can add; loading the tokenizer and the cookbook's model shows nothing of it."""
    import logging

    from phi3nb import export_model, load_model, load_tokenizer
    from tiny_phi_family import build_tiny_phi35

    folder = export_model(build_tiny_phi35(tmp_path / "hf"), tmp_path / "ov", weight_format="fp16")
    capfd.readouterr()
    rope = logging.getLogger("transformers.modeling_rope_utils")
    for installed in list(rope.filters):  # the export's own filter, so the loads' is what is tried here
        rope.removeFilter(installed)
    logging.Logger.warning_once.cache_clear()  # transformers says it once per process
    load_tokenizer(folder)
    load_model(folder, device="CPU")
    err = capfd.readouterr().err
    assert "original_max_position_embeddings" not in err
