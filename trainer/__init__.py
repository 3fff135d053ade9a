"""PIPELINE's reference LoRA trainer: what a GPU cluster runs for one job (`python -m trainer`).

Needs the optional extra: `pip install -e '.[trainer]'` (torch, transformers, peft). The modules that
parse the spec, fetch the dataset and report status import no torch, so failures there are fast.
"""
