#!/usr/bin/env python3
"""LangChain's ChatOpenAI (PyPI langchain-openai) against `precis serve` on loopback.

Skips, exit status 0, when langchain_openai is not importable; tests/integration/run.sh makes a
venv with it. Makes a tiny random model, serves it with an API key, and runs what LangChain
applications do: invoke, stream, batch, a prompt | model | parser chain, per-call options, and
an error for an unknown model. Prints "N passed, N failed".
    python tests/integration/langchain_client_check.py [path/to/precis]
"""
import os
import signal
import subprocess
import sys
import tempfile

try:
    import openai
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI
except ImportError:
    print("langchain-openai is not installed: skipped")
    sys.exit(0)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
passed = failed = 0


def check(name, cond):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAILED:", name)


def find_binary():
    if len(sys.argv) > 1:
        return sys.argv[1]
    p = os.path.join(ROOT, "build", "precis")
    if os.path.exists(p):
        return p
    sys.exit("precis binary not found; pass its path")


def main():
    precis = find_binary()
    tmp = tempfile.mkdtemp(prefix="precis-langchain-")
    model = os.path.join(tmp, "model")
    subprocess.run([precis, "make-model", "--out", model, "--seed", "4"], check=True,
                   stdout=subprocess.DEVNULL, timeout=120)
    server = subprocess.Popen([precis, "serve", "--model", model, "--port", "0", "--kv-cache-mb",
                               "32", "--api-key", "sk-test", "--model-name", "tiny"],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
        base = f"http://127.0.0.1:{port}/v1"
        llm = ChatOpenAI(base_url=base, api_key="sk-test", model="tiny", max_tokens=6,
                         temperature=0, max_retries=0, timeout=60)
        messages = [SystemMessage("Be brief."), HumanMessage("Who was Naomi?")]

        reply = llm.invoke(messages)
        check("invoke text", isinstance(reply.content, str) and len(reply.content) > 0)
        usage = reply.usage_metadata or {}
        check("invoke usage", usage.get("output_tokens") == 6 and usage.get("input_tokens", 0) > 0)
        check("invoke finish", reply.response_metadata.get("finish_reason") == "length")

        streamed = "".join(chunk.content for chunk in llm.stream(messages))
        check("stream = invoke (greedy)", streamed == reply.content)

        batch = llm.batch([[HumanMessage("Who was Ruth?")], [HumanMessage("Who was Boaz?")]])
        check("batch", len(batch) == 2 and all(isinstance(m.content, str) for m in batch))

        chain = (ChatPromptTemplate.from_messages([("system", "Answer in one word."),
                                                   ("user", "{question}")])
                 | llm | StrOutputParser())
        out = chain.invoke({"question": "Who was Naomi's daughter-in-law?"})
        check("chain", isinstance(out, str))

        short = llm.bind(max_tokens=2, stop=["\n"]).invoke(messages)
        check("bound options", (short.usage_metadata or {}).get("output_tokens", 99) <= 2)

        try:
            ChatOpenAI(base_url=base, api_key="sk-test", model="gpt-4o", max_retries=0,
                       max_tokens=2).invoke(messages)
            check("unknown model", False)
        except openai.NotFoundError:
            check("unknown model", True)
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
