#!/usr/bin/env python3
"""drum's `exec` scorer over an OpenAI-compatible chat server that reports prompt
log-probabilities (vLLM's `vllm serve`): standard library only.

    vllm serve llava-hf/llava-1.5-7b-hf --port 8000
    scorer: {backend: exec, command: "python3 tools/lvlm_openai.py --url http://localhost:8000/v1"}

Speaks the protocol of include/drum/exec_scorer.h on standard input/output (logs go to
standard error). Every call is a POST to {url}/chat/completions with the conversation

    user: <demo image> <demo prompt>   assistant: <demo response>   ...
    user: <query image> <query prompt>

(images sent inline as base64 data URLs, so the server needs no access to drum's files):

  hello     id "openai:<model>@<url>:max_tokens=<N>" (the model: --model, else the first of
            GET {url}/models), template --template (default "server-chat"; name the server's
            chat template there, since both enter drum's score-cache keys); ops: all three
  generate  temperature 0, at most --max-tokens; the answer is the reply's first line,
            stripped, or with --postprocess openflamingo cut as OpenFlamingo's evaluation
            cuts it (tools/exec_protocol.py answer_text; the id then says so)
  score     the mean log-probability of the gold response's tokens after (demo, query):
  rank      the same for each choice after (demos, query). Both use vLLM's extension
            `prompt_logprobs: 0` (the log-probability of every prompt token): the
            conversation is sent once ending in the generation prompt
            (add_generation_prompt) and once ending in the answer as an assistant message
            that is continued, not closed (continue_final_message, so end-of-turn tokens are
            not counted); the answer's tokens are those after the first rendering, which must
            be a token prefix of the second (else the request fails rather than guess). The
            first rendering is sent once per prompt, however many choices it ranks.

Requests of one call run --parallel at a time (a server batches concurrent requests); the
replies keep drum's order. A server error is an {"error"} reply naming the HTTP status and the
server's message; the process keeps serving. tests/test_exec_scorer.c checks this adapter
against tests/fixtures/openai_server.py, a stand-in that follows vLLM's documented API; it
has not been run against vLLM here.
"""
import argparse
import base64
import json
import os
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

# vLLM renders continue_final_message with its own transformers: versions before 4.57 cut the
# answered conversation at the answer's last occurrence, which can take in a template's
# closing tokens (see lvlm_hf.py); serve with 4.57 or later
from exec_protocol import POSTPROCESS, answer_text, postprocess_id, scored_answer, serve

MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
        ".webp": "image/webp", ".gif": "image/gif", ".bmp": "image/bmp"}


def log(*a):
    print("lvlm_openai:", *a, file=sys.stderr, flush=True)


class ServerError(Exception):
    pass


class Client:
    def __init__(self, a):
        self.url = a.url.rstrip("/")
        self.key = a.api_key or os.environ.get("OPENAI_API_KEY", "")
        self.timeout = a.timeout
        self.max_tokens = a.max_tokens
        self.pool = ThreadPoolExecutor(max_workers=max(1, a.parallel))
        self.model = a.model or self.first_model()
        self.postprocess = a.postprocess
        self.id = (f"openai:{self.model}@{self.url}:max_tokens={self.max_tokens}"
                   + postprocess_id(a.postprocess))
        self.template = a.template
        self.images = {}  # path -> data URL, the 256 most recent; the pool's threads share it
        self.images_lock = threading.Lock()

    def http(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.key:
            req.add_header("Authorization", "Bearer " + self.key)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")[:400]
            raise ServerError(f"{method} {self.url}{path}: HTTP {e.code}: {text}") from None
        except urllib.error.URLError as e:
            raise ServerError(f"{method} {self.url}{path}: {e.reason}") from None

    def first_model(self):
        models = self.http("GET", "/models").get("data") or []
        if not models:
            raise ServerError(f"{self.url}/models lists no model; pass --model")
        return models[0]["id"]

    def image(self, path):
        with self.images_lock:
            url = self.images.get(path)
        if url is None:  # read outside the lock; another thread may read it too, harmlessly
            mime = MIME.get(os.path.splitext(path)[1].lower())
            if not mime:
                raise ValueError(f"{path}: not an image type the server takes ({', '.join(MIME)})")
            with open(path, "rb") as f:
                url = f"data:{mime};base64," + base64.b64encode(f.read()).decode()
            with self.images_lock:
                self.images[path] = url
                while len(self.images) > 256:
                    self.images.pop(next(iter(self.images)))
        return url

    def user(self, ex):
        return {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": self.image(ex["image"])}},
            {"type": "text", "text": ex["prompt"]}]}

    def conversation(self, demos, query):
        msgs = []
        for d in demos:
            msgs += [self.user(d), {"role": "assistant", "content": d["response"]}]
        return msgs + [self.user(query)]

    def chat(self, msgs, **kw):
        body = {"model": self.model, "messages": msgs, "temperature": 0.0}
        body.update(kw)
        return self.http("POST", "/chat/completions", body)

    def prompt_tokens(self, msgs, **kw):
        """[(token id, log-probability)] of the rendered conversation, first token excluded."""
        r = self.chat(msgs, max_tokens=1, prompt_logprobs=0, **kw)
        lp = r.get("prompt_logprobs")
        if not isinstance(lp, list):
            raise ServerError("the reply has no prompt_logprobs: the server must support vLLM's "
                              "prompt_logprobs extension")
        out = []
        for pos, entry in enumerate(lp[1:], 1):
            if not isinstance(entry, dict) or len(entry) != 1:
                raise ServerError(f"prompt_logprobs[{pos}]: expected one token (prompt_logprobs=0)")
            (tok, v), = entry.items()
            out.append((tok, float(v["logprob"] if isinstance(v, dict) else v)))
        return out

    def answer_logprobs(self, items):
        """For each (demos, query, answers): the mean log-probability of each answer's tokens.
        All requests of the call go through the pool at once, flat (no nested waits)."""
        convs = [self.conversation(demos, query) for demos, query, _ in items]
        prefixes = list(self.pool.map(
            lambda m: self.prompt_tokens(m, add_generation_prompt=True), convs))
        jobs = [(i, scored_answer(a, items[i][1]["id"])) for i, (_, _, answers) in enumerate(items)
                for a in answers]
        fulls = list(self.pool.map(
            lambda job: self.prompt_tokens(convs[job[0]] + [{"role": "assistant", "content": job[1]}],
                                           add_generation_prompt=False,
                                           continue_final_message=True), jobs))
        out = [[] for _ in items]
        for (i, a), full in zip(jobs, fulls):
            prefix = prefixes[i]
            if len(full) <= len(prefix) or [t for t, _ in full[:len(prefix)]] != [t for t, _ in prefix]:
                raise ValueError(f"({items[i][1]['id']}; answer {a!r}): the chat template does not "
                                 "render the generation prompt as a token prefix of the answered "
                                 "conversation")
            tail = [v for _, v in full[len(prefix):]]
            out[i].append(sum(tail) / len(tail))
        return out

    def score_pairs(self, pairs):
        return [row[0] for row in self.answer_logprobs(
            [([p["demo"]], p["query"], [p["query"]["response"]]) for p in pairs])]

    def generate_prompts(self, prompts):
        return list(self.pool.map(lambda p: self.generate(p["query"], p["demos"]), prompts))

    def rank_prompts(self, prompts, choices):
        return self.answer_logprobs([(p["demos"], p["query"], choices) for p in prompts])

    def generate(self, query, demos):
        r = self.chat(self.conversation(demos, query), max_tokens=self.max_tokens)
        text = (r.get("choices") or [{}])[0].get("message", {}).get("content") or ""
        return answer_text(text, query.get("task"), self.postprocess)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="the server's base URL, e.g. http://localhost:8000/v1")
    ap.add_argument("--model", help="the served model's name (default: the first of /models)")
    ap.add_argument("--api-key", help="bearer token (default: $OPENAI_API_KEY, none if unset)")
    ap.add_argument("--template", default="server-chat",
                    help="names the server's chat template in drum's score-cache keys")
    ap.add_argument("--max-tokens", type=int, default=20)
    ap.add_argument("--postprocess", choices=POSTPROCESS, default="first-line",
                    help="an answer from a generation: its first line (default), or as "
                    "OpenFlamingo's evaluation cuts it (exec_protocol.answer_text)")
    ap.add_argument("--parallel", type=int, default=8, help="requests in flight at once")
    ap.add_argument("--timeout", type=float, default=600, help="seconds a request may take")
    a = ap.parse_args()

    def open_client():
        client = Client(a)
        log("serving", client.id)
        return client

    serve(open_client)

if __name__ == "__main__":
    main()
