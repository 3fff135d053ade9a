"""The model and tokenizer a job trains, with LoRA applied.

Two sources: `--tiny` builds a ~1M-parameter Llama from a config with random weights and a byte-level
BPE tokenizer trained on the job's own text (no downloads; for tests and demos), and anything else is
`from_pretrained(base_model)`: a local directory, or a hub name where the cluster has access.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging as hf_logging

from catalog.base_models import find_base_model
from trainer.spec import Hyperparameters

# Progress bars and library deprecation notices on stderr are noise in a cluster job's log, where
# a real traceback must stand out; the reporter says what is happening.
hf_logging.disable_progress_bar()
warnings.filterwarnings(
    "ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning
)

TINY_VOCAB = 512
# Attention and MLP projections of Llama-family models; peft skips names a model does not have.
LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>"]


@dataclass
class LoadedModel:
    model: Any  # a peft PeftModel wrapping a causal LM
    tokenizer: PreTrainedTokenizerBase
    base_is_random: bool
    trainable_parameters: int
    total_parameters: int


def train_tiny_tokenizer(texts: list[str], vocab_size: int = TINY_VOCAB) -> PreTrainedTokenizerFast:
    """A byte-level BPE fitted to the dataset: every byte is representable, merges follow the data."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )


def tiny_llama(vocab_size: int, seed: int) -> LlamaForCausalLM:
    """Hidden 128, MLP 512, 4 layers, 4 heads: about 1.2M parameters with a 512-token vocabulary."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config)


def load_model(
    hp: Hyperparameters, *, tiny: bool, texts: list[str], output_dir: Path, source: str | None = None
) -> LoadedModel:
    """The base model with LoRA adapters on it, and its tokenizer (with a pad token).

    `source` is where `from_pretrained` reads `hp.base_model` (a local copy, trainer/spec.py
    `model_source`); LoRA targets come from the base-model catalogue when it knows the model.

    A random tiny base is saved to `output_dir/base` first (it is frozen, so its weights never
    change): an adapter is only usable together with the exact base it was trained on.
    """
    if tiny:
        tokenizer: PreTrainedTokenizerBase = train_tiny_tokenizer(texts)
        base: Any = tiny_llama(len(tokenizer), hp.seed)
        base.save_pretrained(output_dir / "base", safe_serialization=True)
        tokenizer.save_pretrained(output_dir / "base")
        # A frozen random output head cannot be steered by adapters below it: adapt lm_head as well.
        targets = [*LLAMA_TARGETS, "lm_head"]
    else:
        tokenizer = AutoTokenizer.from_pretrained(source or hp.base_model)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        base = AutoModelForCausalLM.from_pretrained(source or hp.base_model, dtype=torch.float32)
        known = find_base_model(hp.base_model)
        if known is not None:
            targets = list(known.lora_target_modules)
        else:
            targets = [name for name in LLAMA_TARGETS if _has_module(base, name)] or ["c_attn", "c_proj"]
    lora = LoraConfig(
        r=hp.rank,
        lora_alpha=hp.alpha,
        lora_dropout=hp.dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, lora)
    # One device: the first GPU when the cluster gave us one (fp32; multi-GPU is not handled here).
    model.to(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return LoadedModel(model, tokenizer, tiny, trainable, total)


def _has_module(model: torch.nn.Module, suffix: str) -> bool:
    return any(name.endswith(suffix) for name, _ in model.named_modules())


def save_outputs(loaded: LoadedModel, output_dir: Path) -> Path:
    """Save the adapter (safetensors) and tokenizer; returns the weights file, the job's artifact."""
    adapter_dir = output_dir / "adapter"
    # The base (incl. lm_head) is saved on its own when random, or is a named model: adapter only.
    loaded.model.save_pretrained(adapter_dir, safe_serialization=True, save_embedding_layers=False)
    loaded.tokenizer.save_pretrained(adapter_dir)
    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.is_file():
        raise RuntimeError(f"peft did not write {weights}")
    return weights
