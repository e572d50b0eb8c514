#!/usr/bin/env python3
"""The official `openai` Python client against `precis serve` on loopback.

Optional (CI does not depend on it): it skips, exit status 0, when `openai` is not importable.
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install openai
    /tmp/venv/bin/python tests/integration/openai_client_check.py [path/to/precis]
Makes a tiny random model, starts the server on a free port with an API key, runs the client's
completions, chat (streamed and not, with usage and logprobs) and models calls, then stops the
server with SIGTERM and expects exit status 0. Prints "N passed, N failed".
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

try:
    import openai
except ImportError:
    print("openai is not installed: skipped")
    sys.exit(0)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_binary():
    if len(sys.argv) > 1:
        return sys.argv[1]
    for d in ("build-s", "build"):
        p = os.path.join(ROOT, d, "precis")
        if os.path.exists(p):
            return p
    sys.exit("precis binary not found; pass its path")


passed = failed = 0


def check(name, cond):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAILED:", name)


def main():
    precis = find_binary()
    tmp = tempfile.mkdtemp(prefix="precis-openai-")
    model = os.path.join(tmp, "model")
    subprocess.run([precis, "make-model", "--out", model, "--seed", "4"], check=True,
                   stdout=subprocess.DEVNULL, timeout=120)
    server = subprocess.Popen([precis, "serve", "--model", model, "--port", "0", "--kv-cache-mb",
                               "32", "--api-key", "sk-test", "--model-name", "tiny"],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        port = int(line.strip().rsplit(":", 1)[1])
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test",
                               timeout=60, max_retries=0)

        models = client.models.list()
        check("models", [m.id for m in models.data] == ["tiny"])
        model_id = models.data[0].id

        c = client.completions.create(model=model_id, prompt="Once upon a time", max_tokens=8,
                                      seed=3, logprobs=2, n=2, temperature=1.0)
        check("completions choices", sorted(ch.index for ch in c.choices) == [0, 1])
        check("completions logprobs", len(c.choices[0].logprobs.tokens) == 8)
        check("completions usage", c.usage.completion_tokens == 16)

        chat = client.chat.completions.create(
            model=model_id, messages=[{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "Who was Naomi?"}],
            max_tokens=6, seed=5, logprobs=True, top_logprobs=2)
        check("chat message", chat.choices[0].message.role == "assistant")
        check("chat logprobs", len(chat.choices[0].logprobs.content) == 6)
        check("chat logprobs top", len(chat.choices[0].logprobs.content[0].top_logprobs) == 2)

        stream = client.chat.completions.create(
            model=model_id, messages=[{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "Who was Naomi?"}],
            max_tokens=6, seed=5, stream=True, stream_options={"include_usage": True})
        text, finish, usage = "", None, None
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for ch in chunk.choices:
                text += ch.delta.content or ""
                finish = ch.finish_reason or finish
        check("chat stream text", text == chat.choices[0].message.content)
        check("chat stream finish", finish == "length")
        check("chat stream usage", usage is not None and usage.completion_tokens == 6)

        try:
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong",
                          max_retries=0).models.list()
            check("401", False)
        except openai.AuthenticationError:
            check("401", True)
        try:
            client.completions.create(model=model_id, prompt="x", extra_body={"bogus": 1})
            check("400", False)
        except openai.BadRequestError as e:
            check("400 names the field", "/bogus" in str(e))

        # What vLLM answers for a model it does not serve.
        try:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
                                           max_tokens=2)
            check("404 unknown model", False)
        except openai.NotFoundError as e:
            check("404 unknown model", e.code == "model_not_found")
        # Fields current clients send and precis has no use for are accepted and ignored.
        ignored = client.chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": "Who was Naomi?"}], max_tokens=3,
            seed=5, store=False, metadata={"app": "check"}, service_tier="auto", user="u-1",
            parallel_tool_calls=None)
        check("ignored fields", ignored.usage.completion_tokens == 3)
        # Tool calls are not supported: a plain 400 that says so.
        try:
            client.chat.completions.create(
                model=model_id, messages=[{"role": "user", "content": "weather?"}], max_tokens=2,
                tools=[{"type": "function", "function": {"name": "weather", "parameters": {}}}])
            check("tools 400", False)
        except openai.BadRequestError as e:
            check("tools 400 says tool calls", "tool" in str(e).lower())
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            rc = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            rc = None
        check("exit 0 on SIGTERM", rc == 0)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
