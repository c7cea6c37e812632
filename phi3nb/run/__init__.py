"""Steps 2-10: load an exported folder and generate, on the cookbook's backend (loading.py, OVModelForCausalLM)
or the chat's (genai.py, openvino_genai), with the device, prompt, context and streaming rules they share."""
