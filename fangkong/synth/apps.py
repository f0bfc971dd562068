from django.apps import AppConfig


class SynthConfig(AppConfig):
    """No models: the synthetic city generator and the `demo`/`loadcity`/`bench` commands."""

    name = "fangkong.synth"
    verbose_name = "Synthetic city"
