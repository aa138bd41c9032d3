"""The generation backends on a real (tiny) model: transformers in-process, and the OpenAI client
against a real HTTP server on loopback that serves that model."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

from atest.core.errors import InputError
from atest.core.generation import Completion, SamplingParams, make_generator

PROMPTS = [
    [{"role": "user", "content": "Write a test."}],
    [
        {"role": "system", "content": "You write unit tests for competitive programming problems."},
        {"role": "user", "content": "Problem: print the sum of two integers read from standard input."},
    ],
]


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    generator = make_generator("hf", str(tiny_model_dir), batch_size=3)
    yield generator
    generator.close()


def texts(results: list[list[Completion]]) -> list[list[str]]:
    return [[c.text for c in row] for row in results]


def test_hf_returns_n_completions_per_prompt_reproducibly(hf):
    params = SamplingParams(temperature=1.0, max_new_tokens=12, n=3, seed=7)
    first = hf.generate(PROMPTS, params)
    assert [len(row) for row in first] == [3, 3]
    for row in first:
        for c in row:
            assert c.ok and c.finish_reason in ("stop", "length")
            assert 1 <= c.n_tokens <= 12
            assert (c.finish_reason == "length") == (c.n_tokens == 12)
    assert texts(hf.generate(PROMPTS, params)) == texts(first)
    other = hf.generate(PROMPTS, SamplingParams(temperature=1.0, max_new_tokens=12, n=3, seed=8))
    assert texts(other) != texts(first)
    assert len({c.text for row in first for c in row}) > 1, "samples of one call should differ"


def test_hf_left_padding_does_not_change_greedy_outputs(tiny_model_dir, hf):
    greedy = SamplingParams(temperature=0.0, max_new_tokens=10)
    batched = texts(hf.generate(PROMPTS, greedy))
    one_by_one = [texts(hf.generate([p], greedy))[0] for p in PROMPTS]
    assert batched == one_by_one


def test_hf_counts_tokens_up_to_the_end_of_turn(hf):
    eos = hf.tokenizer.convert_tokens_to_ids("<|im_end|>")
    word = hf.tokenizer("def solve", add_special_tokens=False)["input_ids"]
    stopped = hf._completion([*word, eos, hf.tokenizer.pad_token_id])
    assert stopped == Completion("def solve", len(word) + 1, "stop", None)
    cut = hf._completion(word)
    assert (cut.text, cut.n_tokens, cut.finish_reason) == ("def solve", len(word), "length")


def test_chat_template_gets_enable_thinking_only_when_asked(hf):
    from atest.core.generation.hf import render_chat

    plain = render_chat(hf.tokenizer, PROMPTS[0])
    assert plain.endswith("<|im_start|>assistant\n")
    assert render_chat(hf.tokenizer, PROMPTS[0], thinking=False).endswith("<think>\n\n</think>\n\n")
    assert render_chat(hf.tokenizer, PROMPTS[0], thinking=True) == plain


def test_hf_applies_a_lora_adapter(tiny_model_dir, tmp_path, hf):
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(tmp_path / "adapter")

    greedy = SamplingParams(temperature=0.0, max_new_tokens=8)
    tuned = make_generator("hf", str(tiny_model_dir), adapter=str(tmp_path / "adapter"))
    try:
        got = tuned.generate(PROMPTS[:1], greedy)[0][0]
    finally:
        tuned.close()
    reference = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), tmp_path / "adapter"
    )
    ids = hf.tokenizer.apply_chat_template(
        PROMPTS[0], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        out = reference.generate(
            **ids, max_new_tokens=8, do_sample=False, pad_token_id=hf.tokenizer.pad_token_id
        )
    new = out[0, ids["input_ids"].shape[1] :].tolist()
    assert got.text == hf._completion(new).text
    assert got.text != hf.generate(PROMPTS[:1], greedy)[0][0].text


def test_bad_backend_options_and_values_are_input_errors(tiny_model_dir, tmp_path):
    with pytest.raises(InputError, match="unknown backend"):
        make_generator("tgi", str(tiny_model_dir))
    with pytest.raises(InputError, match="unexpected keyword"):
        make_generator("hf", str(tiny_model_dir), temprature=0.5)
    with pytest.raises(InputError, match="not a PEFT adapter"):
        make_generator("hf", str(tiny_model_dir), adapter=str(tmp_path))
    with pytest.raises(InputError, match="top_p"):
        SamplingParams(top_p=0)
    with pytest.raises(InputError, match="n 0"):
        SamplingParams(n=0)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_backend_without_vllm_names_the_extra(tiny_model_dir):
    with pytest.raises(InputError, match=r"install atest\[vllm\]"):
        make_generator("vllm", str(tiny_model_dir))


# --- the OpenAI-compatible backend against a real server ------------------------------------


@pytest.fixture
def server(hf):
    from chat_server import ChatServer

    srv = ChatServer(hf, model_name="tiny").start()
    yield srv
    srv.stop()


def client(server, **opts):
    opts.setdefault("backoff_s", 0.01)
    opts.setdefault("max_backoff_s", 0.05)
    return make_generator("openai", "tiny", base_url=server.base_url, **opts)


def test_vllm_env_gives_its_sockets_a_folder_removed_at_exit(monkeypatch, tmp_path):
    """vLLM leaves its engine's socket files behind; atest points them at a folder of its own,
    unless the user chose one or the temp folder is too deep for a socket's 107-byte path.
    On a machine without a GPU, vLLM's engine waits an hour for a forward pass, in this process."""
    from atest.core.generation.vllm_backend import prepare_vllm_env

    # A copy of the environment for this test alone: what the function sets must not reach the
    # later tests' engines (a deleted folder there fails their socket binds).
    names = (
        "VLLM_RPC_BASE_PATH", "VLLM_LOGGING_STREAM", "VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS",
        "VLLM_ENABLE_V1_MULTIPROCESSING",
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in names}
    monkeypatch.setattr(os, "environ", env)
    shallow = Path(tempfile.mkdtemp(prefix="vt-"))  # the system temp folder, not pytest's deep one
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(shallow))
        prepare_vllm_env()
        [folder] = shallow.iterdir()
        assert os.environ["VLLM_RPC_BASE_PATH"] == str(folder) and folder.name.startswith("atest-vllm-")
        assert os.environ["VLLM_LOGGING_STREAM"] == "ext://sys.stderr"
        # no GPU here: a starved CPU engine gets an hour per forward pass, not vLLM's 300 s
        assert os.environ["VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS"] == "3600"
        # ...and runs in the command's own process, not in two more that import vLLM again
        assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
        prepare_vllm_env()
        assert list(shallow.iterdir()) == [folder], "the user's (or an earlier) choice is kept"
    finally:
        shutil.rmtree(shallow)
    del env["VLLM_RPC_BASE_PATH"]
    deep = tmp_path / ("d" * 80)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    prepare_vllm_env()
    assert "VLLM_RPC_BASE_PATH" not in os.environ and list(deep.iterdir()) == []


def test_openai_backend_returns_the_served_models_completions(server, hf, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    greedy = SamplingParams(temperature=0.0, max_new_tokens=10, n=2)
    gen = client(server, concurrency=4)
    try:
        got = gen.generate(PROMPTS, greedy)
    finally:
        gen.close()
    direct = hf.generate(PROMPTS, greedy)
    assert texts(got) == texts(direct)
    assert [[c.n_tokens for c in row] for row in got] == [[c.n_tokens for c in row] for row in direct]
    assert server.requests == 4  # one request per sample


def test_openai_backend_retries_throttling_and_server_errors(server):
    server.fail_next(2, status=429)
    server.fail_next(1, status=503)
    gen = client(server, max_retries=3)
    try:
        [[c]] = gen.generate(PROMPTS[:1], SamplingParams(max_new_tokens=4, seed=1))
    finally:
        gen.close()
    assert c.ok and c.text is not None and c.n_tokens > 0
    assert server.requests == 4


def test_openai_backend_honours_retry_after(server):
    server.fail_next(1, status=429, retry_after=0.4)
    gen = client(server, max_retries=2, max_backoff_s=5.0)
    try:
        start = time.perf_counter()
        [[c]] = gen.generate(PROMPTS[:1], SamplingParams(max_new_tokens=2))
        elapsed = time.perf_counter() - start
    finally:
        gen.close()
    assert c.ok and elapsed >= 0.4


def test_openai_failures_after_retries_are_recorded_as_errors(server):
    server.fail_next(10, status=500)
    gen = client(server, max_retries=2)
    try:
        [[c]] = gen.generate(PROMPTS[:1], SamplingParams(max_new_tokens=4))
    finally:
        gen.close()
    assert (c.text, c.n_tokens, c.finish_reason) == ("", 0, "error")
    assert "500" in c.error and "3 attempts" in c.error
    assert server.requests == 3


def test_openai_client_errors_are_not_retried(server):
    gen = make_generator("openai", "no-such-model", base_url=server.base_url, backoff_s=0.01)
    try:
        [[c]] = gen.generate(PROMPTS[:1], SamplingParams(max_new_tokens=4))
    finally:
        gen.close()
    assert not c.ok and "404" in c.error
    assert server.requests == 1


def test_openai_unreachable_server_becomes_error_completions():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gen = make_generator(
        "openai", "tiny", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff_s=0.01, timeout_s=2
    )
    try:
        results = gen.generate(PROMPTS, SamplingParams(max_new_tokens=4, n=2))
    finally:
        gen.close()
    assert [len(row) for row in results] == [2, 2]
    assert all(c.finish_reason == "error" and "Connection" in c.error for row in results for c in row)


def test_openai_rate_limit_spaces_requests(server):
    gen = client(server, concurrency=8, requests_per_second=20)
    try:
        start = time.perf_counter()
        gen.generate(PROMPTS[:1], SamplingParams(max_new_tokens=1, n=6))
        elapsed = time.perf_counter() - start
    finally:
        gen.close()
    assert elapsed >= 5 / 20 - 0.01


def test_openai_needs_a_key_for_the_hosted_api(monkeypatch):
    monkeypatch.delenv("ATEST_TEST_NO_KEY", raising=False)
    with pytest.raises(InputError, match=r"\$ATEST_TEST_NO_KEY is not set"):
        make_generator("openai", "gpt-4o", api_key_env="ATEST_TEST_NO_KEY")
    with pytest.raises(InputError, match="LoRA"):
        make_generator("openai", "gpt-4o", adapter="x", base_url="http://127.0.0.1:1/v1")


def test_seed_none_sends_no_seed_to_an_openai_server():
    """`--seed none` is for servers that cannot honour a seed (vLLM's CPU engine with chunked
    prefill): the request body then has no `seed` at all, and sample k of a seeded call has seed + k."""
    import typer

    from atest.commands._options import parse_seed
    from atest.core.generation.openai_backend import OpenAIGenerator

    assert parse_seed("none") is None and parse_seed("None") is None and parse_seed("7") == 7
    with pytest.raises(typer.BadParameter, match="neither an integer nor 'none'"):
        parse_seed("seven")
    generator = OpenAIGenerator("m", base_url="http://127.0.0.1:9/v1")
    try:
        params = SamplingParams(temperature=1.0, n=2, seed=None)
        assert "seed" not in generator._body([{"role": "user", "content": "x"}], params, None)
        assert generator._body([{"role": "user", "content": "x"}], params, 4)["seed"] == 4
    finally:
        generator.close()


def test_hf_threads_follow_the_flag_the_environment_then_the_idle_cores(monkeypatch):
    """gen-tests' hf backend takes --threads, else OMP_NUM_THREADS, else the idle cores' share:
    torch's thread per core ran the tiny model 100 times slower beside another job."""
    from atest.core import cpu
    from atest.core.gentests import BackendChoice

    asked = BackendChoice("hf", "m", threads=3)
    assert asked.hf_threads == cpu.ThreadShare(3, "--threads") and asked.options()["threads"] == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert BackendChoice("hf", "m").hf_threads == cpu.ThreadShare(2, "OMP_NUM_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(cpu, "owned_cores", lambda: 4)
    monkeypatch.setattr(cpu.os, "getloadavg", lambda: (3.0, 0.0, 0.0))  # two cores busy elsewhere
    busy = BackendChoice("hf", "m")
    assert busy.hf_threads.threads == 2 and busy.options()["threads"] == 2
    assert (
        busy.describe() == "hf, 2 thread(s): 4 core(s) owned, 2 idle (load 3.0), 1 process(es) on this node"
    )
    monkeypatch.setattr(cpu.os, "getloadavg", lambda: (0.5, 0.0, 0.0))
    assert BackendChoice("hf", "m").hf_threads.threads == 4
    served = BackendChoice("openai", "m", base_url="http://127.0.0.1:9/v1")
    assert served.hf_threads is None and served.describe() == "openai" and "threads" not in served.options()
    with pytest.raises(InputError, match="--threads only applies to --backend hf"):
        BackendChoice("vllm", "m", threads=1).check()
