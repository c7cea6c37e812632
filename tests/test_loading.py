"""Loading an exported folder offline shows no false alarm from optimum-intel, and keeps real warnings."""

import logging

import phi3nb  # installs the filter (phi3nb.run.loading)

LOGGER = "optimum.intel.openvino.modeling_base"


def test_cookbook_load_of_a_local_folder_offline_warns_nothing(member_ov, caplog):
    import huggingface_hub.constants
    from optimum.intel.openvino import OVModelForCausalLM
    from transformers import AutoConfig

    assert huggingface_hub.constants.HF_HUB_OFFLINE  # the case the filter is for (conftest sets it)
    with caplog.at_level(logging.INFO):
        model = OVModelForCausalLM.from_pretrained(str(member_ov), device="CPU", ov_config=phi3nb.OV_CONFIG,
                                                   config=AutoConfig.from_pretrained(member_ov))
    assert model.generation_config is not None
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not any("Could not infer" in m or "Errno" in m for m in warned), warned


def test_the_filter_drops_only_the_hub_cache_lookup():
    logger = logging.getLogger(LOGGER)

    def kept(message):
        record = logger.makeRecord(LOGGER, logging.WARNING, __file__, 1, message, (), None)
        return all(f.filter(record) for f in logger.filters)

    assert not kept("Could not infer whether the model was already converted or not to the OpenVINO IR, keeping "
                    "`export=False`.\n[Errno 2] No such file or directory: '/h/models----tmp--m/refs/main'")
    assert kept("Could not infer whether the model was already converted or not to the OpenVINO IR, keeping "
                "`export=False`.\nPermission denied")
    assert kept("No OpenVINO files were found for m, setting `export=True` to convert the model to the OpenVINO IR.")
