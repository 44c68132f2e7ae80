#!/usr/bin/env python3
"""drum's `exec` scorer over a Hugging Face vision-language model (transformers).

    scorer: {backend: exec, command: "python3 tools/lvlm_hf.py --model llava-hf/llava-1.5-7b-hf"}

Speaks the protocol of include/drum/exec_scorer.h on standard input/output (logs go to
standard error) for any model that `AutoModelForImageTextToText` and `AutoProcessor` load and
whose processor has a chat template (LLaVA, Idefics, Qwen2-VL, ...):

  hello     id "hf:<model>:<dtype>:max_new_tokens=<N>", template "chat:<first 12 hex of the
            SHA-1 of the chat template>" — both enter drum's score-cache keys; ops: all three
  score     for each (query, demo): the conversation
                user: <demo image> <demo prompt>   assistant: <demo response>
                user: <query image> <query prompt> assistant: <query gold response>
            rendered by the chat template; the score is the mean log-probability of the gold
            response's tokens: the tokens after the same conversation rendered up to the
            generation prompt (the final message is continued, not closed, so end-of-turn
            tokens are not counted). If the shorter rendering is not a token prefix of the
            longer one the request fails rather than guess.
  generate  greedy decoding (at most --max-new-tokens) after the demonstrations as
            user/assistant turns and the query as the last user turn; the answer is the
            decoded text's first line, stripped, or with --postprocess openflamingo cut as
            OpenFlamingo's evaluation cuts it (tools/exec_protocol.py answer_text).
  rank      for each prompt (demonstrations, query) and each choice (a class name, yes/no):
            the mean log-probability of the choice's tokens as the assistant's answer, as
            score computes it, with the prompt (images included) run once and its KV cache
            reused: each further choice costs a pass over its own few tokens, so ranking
            ImageNet's 1000 class names is one prompt pass and 1000 short ones a query.

By default pairs and prompts run one at a time (no padding across examples), so a score does
not depend on what else is in the request. `--batch N` scores N pairs per forward pass, padded
on the right: several times the throughput for mining on a GPU. A score can then differ in its
last bits with the batch's other pairs, in reduced precision more than in float32. The score
cache keeps the first value, so a resumed run stays consistent, but two fresh runs with
different rank counts may differ slightly. Needs torch, transformers (4.57 or later: earlier
versions cut continue_final_message at the answer's last occurrence) and pillow; not run by
drum's CI. An empty gold response or choice is an error (it has no tokens to score).
tools/test_lvlm_hf.py checks it against a tiny random LLaVA built offline.
"""
import argparse
import hashlib
import json
import os
import sys
from collections import OrderedDict

from exec_protocol import POSTPROCESS, answer_text, postprocess_id, scored_answer, serve


def log(*a):
    print("lvlm_hf:", *a, file=sys.stderr, flush=True)


class Model:
    def __init__(self, a):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.torch = torch
        device = a.device or default_device(torch)
        dtype = a.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
        self.device, self.max_new_tokens, self.batch = device, a.max_new_tokens, a.batch
        self.processor = AutoProcessor.from_pretrained(a.model)
        template = getattr(self.processor, "chat_template", None)
        if not template:
            raise SystemExit(f"{a.model}: the processor has no chat template")
        import transformers
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        if (major, minor) < (4, 57):
            # before 4.57, continue_final_message cut the rendering at the answer's last
            # occurrence (rindex): an answer that the template's closing also holds (".")
            # took the closing's tokens in with it, and scored them
            raise SystemExit(f"transformers {transformers.__version__}: lvlm_hf needs 4.57 or "
                             "later (earlier ones can cut an answered conversation in the wrong "
                             "place)")
        self.model = AutoModelForImageTextToText.from_pretrained(
            a.model, dtype=getattr(torch, dtype)).to(device).eval()
        self.postprocess = a.postprocess
        self.id = f"hf:{a.model}:{dtype}:max_new_tokens={a.max_new_tokens}" + postprocess_id(
            a.postprocess)
        self.template = "chat:" + hashlib.sha1(
            (template if isinstance(template, str) else json.dumps(template)).encode()).hexdigest()[:12]
        self.images = OrderedDict()

    def image(self, path):
        from PIL import Image

        if path not in self.images:
            with Image.open(path) as im:
                self.images[path] = im.convert("RGB")
            if len(self.images) > 256:
                self.images.popitem(last=False)
        self.images.move_to_end(path)
        return self.images[path]

    def user(self, ex):
        return {"role": "user", "content": [{"type": "image", "image": self.image(ex["image"])},
                                            {"type": "text", "text": ex["prompt"]}]}

    @staticmethod
    def assistant(text):
        return {"role": "assistant", "content": [{"type": "text", "text": text}]}

    def conversation(self, demos, query):
        msgs = []
        for d in demos:
            msgs += [self.user(d), self.assistant(d["response"])]
        return msgs + [self.user(query)]

    def encode(self, msgs, **kw):
        enc = self.processor.apply_chat_template(msgs, tokenize=True, return_dict=True,
                                                 return_tensors="pt", **kw)
        return {k: v.to(self.device) for k, v in enc.items()}

    def answer_logprobs(self, items):
        """The mean log-probability of each answer's tokens after its demonstrations and query,
        for items (demos, query, answer), in one forward pass: the answered conversations are
        processed as one batch, padded on the right (a causal model's logits at a token do not
        depend on the padding after it). Each prompt is encoded alone for its length, and must
        be a prefix of its answered row."""
        torch = self.torch
        convs, prompts = [], []
        for demos, query, answer in items:
            msgs = self.conversation(demos, query)
            prompts.append(self.encode(msgs, add_generation_prompt=True)["input_ids"][0])
            convs.append(msgs + [self.assistant(answer)])
        tok = self.processor.tokenizer
        side, tok.padding_side = tok.padding_side, "right"
        try:
            full = self.encode(convs, continue_final_message=True, padding=len(convs) > 1)
        finally:
            tok.padding_side = side
        mask = full.get("attention_mask")
        with torch.no_grad():
            logits = self.model(**full).logits.float()
        out = []
        for i, (demos, query, answer) in enumerate(items):
            p = prompts[i]
            n = int(mask[i].sum()) if mask is not None else full["input_ids"].shape[1]
            f = full["input_ids"][i, :n]
            if n <= len(p) or not torch.equal(f[:len(p)], p):
                ids = ", ".join([query["id"]] + [d["id"] for d in demos])
                raise ValueError(f"({ids}; answer {answer!r}): the chat template does not render "
                                 "the generation prompt as a prefix of the answered conversation")
            logp = torch.log_softmax(logits[i, len(p) - 1:n - 1], dim=-1)
            out.append(float(logp.gather(1, f[len(p):, None]).mean()))
        return out

    def rank(self, query, demos, choices):
        """answer_logprobs for every choice, the prompt run once: its KV cache is kept and cut
        back to the prompt after each choice's tokens. A choice's tokens are those after the
        prompt in the tokenized text of the answered conversation (the prompt's text tokens
        must be a prefix of it); images only add tokens inside the prompt."""
        torch = self.torch
        msgs = self.conversation(demos, query)
        prompt = self.encode(msgs, add_generation_prompt=True)
        n_prompt = prompt["input_ids"].shape[1]
        tok = self.processor.tokenizer
        render = self.processor.apply_chat_template
        ids_p = tok(render(msgs, tokenize=False, add_generation_prompt=True),
                    add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = self.model(**prompt, use_cache=True)
            cache, last = out.past_key_values, out.logits[0, -1].float()
            scores = []
            for c in choices:
                scored_answer(c, query["id"])
                text = render(msgs + [self.assistant(c)], tokenize=False,
                              continue_final_message=True)
                ids_f = tok(text, add_special_tokens=False)["input_ids"]
                if len(ids_f) <= len(ids_p) or ids_f[:len(ids_p)] != ids_p:
                    raise ValueError(f"({query['id']}; answer {c!r}): the chat template does not "
                                     "render the generation prompt as a prefix of the answered "
                                     "conversation")
                tail = torch.tensor([ids_f[len(ids_p):]], device=self.device)
                logits = self.model(input_ids=tail, past_key_values=cache,
                                    use_cache=True).logits[0].float()
                cache.crop(-tail.shape[1])  # back to the prompt (both APIs: negative = drop)
                if cache.get_seq_length() != n_prompt:
                    raise RuntimeError(f"the KV cache holds {cache.get_seq_length()} tokens "
                                       f"after a choice, not the prompt's {n_prompt}")
                steps = torch.cat([last[None], logits[:-1]])
                logp = torch.log_softmax(steps, dim=-1)
                scores.append(float(logp.gather(1, tail[0][:, None]).mean()))
        return scores

    def score_pairs(self, pairs):
        """score(query, demo) = the query's gold response after [demo, query], --batch pairs a
        forward pass."""
        items = [([p["demo"]], p["query"], scored_answer(p["query"]["response"], p["query"]["id"]))
                 for p in pairs]
        return [s for i in range(0, len(items), self.batch)
                for s in self.answer_logprobs(items[i:i + self.batch])]

    def generate_prompts(self, prompts):
        return [self.generate(p["query"], p["demos"]) for p in prompts]

    def rank_prompts(self, prompts, choices):
        return [self.rank(p["query"], p["demos"], choices) for p in prompts]

    def generate(self, query, demos):
        enc = self.encode(self.conversation(demos, query), add_generation_prompt=True)
        with self.torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False)
        text = self.processor.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)
        return answer_text(text, query.get("task"), self.postprocess)


def default_device(torch):
    """cuda when a GPU is visible: under `mpirun drum ...` each rank's LVLM takes the GPU of
    its node-local rank (as drum's cuda backend does), else cuda:0; cpu without a GPU."""
    if not torch.cuda.is_available():
        return "cpu"
    for var in ("OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return "cuda:%d" % (int(os.environ[var]) % torch.cuda.device_count())
    return "cuda"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a Hugging Face model id or directory")
    ap.add_argument("--device", help="cuda, cuda:1, cpu (default: cuda when available, the "
                    "GPU of this MPI rank's node-local rank under mpirun)")
    ap.add_argument("--dtype", choices=["bfloat16", "float16", "float32"],
                    help="default bfloat16 on cuda, float32 on cpu")
    ap.add_argument("--max-new-tokens", type=int, default=20)
    ap.add_argument("--postprocess", choices=POSTPROCESS, default="first-line",
                    help="an answer from a generation: its first line (default), or as "
                    "OpenFlamingo's evaluation cuts it (exec_protocol.answer_text)")
    ap.add_argument("--batch", type=int, default=1,
                    help="score pairs per forward pass (padded on the right; default 1: one at "
                    "a time, so a score never depends on the other pairs of a request)")
    a = ap.parse_args()
    if a.batch < 1:
        ap.error("--batch must be at least 1")

    def open_model():
        model = Model(a)
        log("loaded", model.id, "on", model.device)
        return model

    serve(open_model)

if __name__ == "__main__":
    main()
