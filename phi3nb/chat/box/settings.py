"""The chat box's Advanced settings: sampling sliders, the system prompt and Reset, folded away like
openvino_notebooks' llm-chatbot."""

SAMPLING_DEFAULTS = {"temperature": 0.0, "top_p": 0.9, "top_k": 50, "repetition_penalty": 1.1}
SLIDERS = ("temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens")
NAMES = SLIDERS + ("system_prompt", "reset_settings")  # the widgets, as attributes of the chat box too


class Settings:
    """`widget` is the Advanced accordion; `sampling()` what the sliders say now; `reset()` the defaults."""

    def __init__(self, defaults, on_system):
        import ipywidgets as w

        d, self.defaults = defaults, defaults
        self.temperature = w.FloatSlider(d["temperature"], min=0.0, max=2.0, step=0.05, description="Temperature",
                                         tooltip="0 = greedy: always the likeliest token, the same reply each "
                                                 "time; higher = more varied")
        self.top_p = w.FloatSlider(d["top_p"], min=0.05, max=1.0, step=0.05, description="Top-p",
                                   tooltip="Sample from the likeliest tokens that together reach this probability "
                                           "(used when temperature > 0)")
        self.top_k = w.IntSlider(d["top_k"], min=0, max=200, description="Top-k",
                                 tooltip="Sample from the k likeliest tokens; 0 = all (used when temperature > 0)")
        self.repetition_penalty = w.FloatSlider(d["repetition_penalty"], min=1.0, max=2.0, step=0.05,
                                                description="Rep. penalty",
                                                tooltip="Above 1 makes repeating earlier tokens less likely")
        self.max_new_tokens = w.IntSlider(d["max_new_tokens"], min=1, max=max(4096, d["max_new_tokens"]),
                                          description="Max tokens", tooltip="The longest a reply may be, in tokens")
        self.system_prompt = w.Textarea(d["system"], description="System prompt", rows=2,
                                        tooltip="Sent before the conversation on every turn",
                                        layout=w.Layout(width="95%"))
        self.reset_settings = w.Button(description="Reset", icon="undo", tooltip="Back to the defaults",
                                       layout=w.Layout(width="auto", align_self="flex-start"))
        rows = [getattr(self, name) for name in SLIDERS] + [self.system_prompt]
        for r in rows:
            r.style = {"description_width": "110px"}
        self.temperature.observe(lambda _: self._sampling_enabled(), "value")
        self.system_prompt.observe(lambda c: on_system(c["new"]), "value")
        self.reset_settings.on_click(lambda _: self.reset())
        self._sampling_enabled()
        self.widget = w.Accordion([w.VBox(rows + [self.reset_settings])], titles=("Advanced",), selected_index=None)

    def _sampling_enabled(self):
        """Top-p and top-k only matter when sampling: greyed out at temperature 0."""
        self.top_p.disabled = self.top_k.disabled = self.temperature.value == 0

    def sampling(self) -> dict:
        return {name: getattr(self, name).value for name in SLIDERS}

    def reset(self):
        """Every setting back to what the box started with."""
        for name in SLIDERS:
            getattr(self, name).value = self.defaults[name]
        self.system_prompt.value = self.defaults["system"]
