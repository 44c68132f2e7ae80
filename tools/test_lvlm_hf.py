#!/usr/bin/env python3
"""Checks tools/lvlm_hf.py (drum's exec scorer over transformers) against a tiny random LLaVA
built offline (no download), then runs a whole `drum demo` of a small config through it.

    python tools/test_lvlm_hf.py [--drum build/drum]

Checks: hello's id, template and ops; each score equals the mean log-probability of the gold
response's tokens computed here independently (text rendered with tokenize=False, processed,
one forward pass, a loop over the response positions), and moves when the response changes;
generate equals the model's own greedy decoding; rank gives, for a choice after the same
one-demonstration prompt, the score of that response, and one number per choice and prompt;
a missing image is an error reply and the process keeps serving; `drum demo` with
`scorer: {backend: exec, command: ...lvlm_hf.py...}` and `eval.classify: rank` finishes and
writes DRUM rows with classification scores. Needs torch, transformers, pillow (not run by drum's CI).
Prints "N passed, N failed".
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL", what, flush=True)


def tiny_llava(path):
    """A 2-layer LLaVA (CLIP vision tower, Llama text model) over a 25-word vocabulary."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor,
                              PreTrainedTokenizerFast)
    torch.manual_seed(0)
    words = ["<unk>", "<s>", "</s>", "<image>", "<pad>", "USER:", "ASSISTANT:", "what", "color",
             "is", "the", "circle", "?", "red", "blue", "green", "a", "describe", "image", ".",
             "shape", "square", "0", "1", "2"]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", bos_token="<s>",
                                  eos_token="</s>", pad_token="<pad>")
    tok.add_tokens(["<image>"], special_tokens=True)
    template = ("{% for m in messages %}{% if m['role'] == 'user' %}USER: {% for c in m['content'] %}"
                "{% if c['type'] == 'image' %}<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}"
                "{% else %}ASSISTANT: {% for c in m['content'] %}{{ c['text'] }}{% endfor %}"
                "{% if not (loop.last and continue_final_message) %} </s> {% endif %}{% endif %}"
                "{% endfor %}{% if add_generation_prompt %}ASSISTANT: {% endif %}")
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, image_size=32, patch_size=8)
    text = LlamaConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64,
                       num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                       max_position_embeddings=4096, bos_token_id=1, eos_token_id=2,
                       pad_token_id=4)
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_index=3,
                      vision_feature_select_strategy="default", vision_feature_layer=-1)
    proc = LlavaProcessor(image_processor=CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}), tokenizer=tok,
        chat_template=template, patch_size=8, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, image_token="<image>")
    LlavaForConditionalGeneration(cfg).save_pretrained(path)
    proc.save_pretrained(path)


class Server:
    def __init__(self, model, *extra):
        self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "lvlm_hf.py"), "--model",
                                   model, "--max-new-tokens", "4", "--device", "cpu", *extra],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)

    def ask(self, req):
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def close(self):
        self.p.stdin.close()
        return self.p.wait(timeout=60)


def reference_score(model, proc, query, demo, images):
    """Mean log-probability of the query's response tokens, computed the long way."""
    import torch

    def conv(answer):
        msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": demo["prompt"]}]},
                {"role": "assistant", "content": [{"type": "text", "text": demo["response"]}]},
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": query["prompt"]}]}]
        if answer is None:
            return proc.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
        return proc.apply_chat_template(msgs, tokenize=False, continue_final_message=True)
    ims = [images[demo["image"]], images[query["image"]]]
    prompt = proc(text=conv(None), images=ims, return_tensors="pt")
    full = proc(text=conv(query["response"]), images=ims, return_tensors="pt")
    n, ids = prompt["input_ids"].shape[1], full["input_ids"][0]
    with torch.no_grad():
        logits = model(**full).logits[0].double()
    total = 0.0
    for t in range(n, len(ids)):
        total += float(torch.log_softmax(logits[t - 1], -1)[ids[t]])
    return total / (len(ids) - n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--drum", default=os.path.join(HERE, "..", "build", "drum"))
    a = ap.parse_args()
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = os.path.join(tmp, "tiny-llava")
        tiny_llava(model_dir)
        images = {}
        for name, rgb in (("red.png", (255, 0, 0)), ("blue.png", (0, 0, 255))):
            path = os.path.join(tmp, name)
            Image.new("RGB", (32, 32), rgb).save(path)
            images[path] = Image.open(path).convert("RGB")
        red, blue = sorted(images)[1], sorted(images)[0]
        q = {"id": "q", "image": red, "prompt": "what color is the circle ?", "response": "red",
             "task": "vqa"}
        d = {"id": "d", "image": blue, "prompt": "what color is the square ?", "response": "blue",
             "task": "vqa"}
        s = Server(model_dir)
        hello = s.ask({"op": "hello", "protocol": 1})
        check(hello.get("id", "").startswith("hf:" + model_dir) and
              len(hello.get("template", "")) == len("chat:") + 12 and
              hello.get("ops") == ["score", "generate", "rank"], f"hello: {hello}")
        # several-token answers too: rank reuses the prompt's KV cache across its choices
        answers = ["red", "green", "a dark blue circle", "light green square ."]
        r = s.ask({"op": "score", "pairs": [{"query": dict(q, response=a), "demo": d}
                                            for a in answers]})
        scores = r.get("scores", [])
        model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
        proc = AutoProcessor.from_pretrained(model_dir)
        want = reference_score(model, proc, q, d, images)
        check(len(scores) == 4 and abs(scores[0] - want) < 1e-4 and scores[0] < 0,
              f"score {scores[:1]} vs the reference {want:.6f}")
        check(len(scores) == 4 and abs(scores[0] - scores[1]) > 1e-6,
              "the score does not depend on the response")
        g = s.ask({"op": "generate", "prompts": [{"query": {k: v for k, v in q.items() if k != "response"},
                                                  "demos": [d]}]})
        msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": d["prompt"]}]},
                {"role": "assistant", "content": [{"type": "text", "text": d["response"]}]},
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q["prompt"]}]}]
        enc = proc(text=proc.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True),
                   images=[images[blue], images[red]], return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=4, do_sample=False)
        text = proc.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)
        want_answer = (text.strip().splitlines() or [""])[0].strip()
        check(g.get("answers") == [want_answer], f"generate {g} vs {want_answer!r}")
        # rank: a choice after the same one-demonstration prompt is what score computes
        qn = {k: v for k, v in q.items() if k != "response"}
        order = [2, 0, 3, 1]  # a several-token choice first, then one after another
        rk = s.ask({"op": "rank", "prompts": [{"query": qn, "demos": [d]}, {"query": qn, "demos": []}],
                    "choices": [answers[i] for i in order]}).get("scores", [])
        check(len(rk) == 2 and all(len(row) == 4 for row in rk), f"rank: {rk}")
        if len(rk) == 2 and all(len(row) == 4 for row in rk) and len(scores) == 4:
            check(all(abs(rk[0][j] - scores[i]) < 1e-5 for j, i in enumerate(order)),
                  f"rank {rk[0]} vs score {[scores[i] for i in order]}")
            check(len({round(v, 6) for v in rk[0] + rk[1]}) == 8,
                  f"rank: every choice and prompt scores differently: {rk}")
        e = s.ask({"op": "score", "pairs": [{"query": dict(q, image="/nonexistent.png"), "demo": d}]})
        check("/nonexistent.png" in e.get("error", ""), f"missing image: {e}")
        again = s.ask({"op": "hello", "protocol": 1})
        check(again == hello, "the server stopped serving after an error")
        check(s.close() == 0, "the server did not exit cleanly")

        # --batch: pairs of different lengths (answers of 1-4 tokens, two demonstrations, a
        # query with none) padded into forward passes of 3 give the one-at-a-time scores
        d2 = dict(d, id="d2", prompt="describe the image .", response="a red circle .")
        pairs = [{"query": dict(q, response=a), "demo": demo} for a in answers for demo in (d, d2)]
        b = Server(model_dir, "--batch", "3")
        batched = b.ask({"op": "score", "pairs": pairs}).get("scores", [])
        bad = b.ask({"op": "score", "pairs": [pairs[0], {"query": dict(q, image="/nonexistent.png"),
                                                         "demo": d}]})
        check("/nonexistent.png" in bad.get("error", ""), f"--batch, a missing image: {bad}")
        check(b.close() == 0, "the --batch server did not exit cleanly")
        s = Server(model_dir)
        single = s.ask({"op": "score", "pairs": pairs}).get("scores", [])
        s.close()
        check(len(batched) == len(pairs) == len(single) and
              max(abs(x - y) for x, y in zip(batched, single)) < 1e-5 and
              batched[0] == batched[0] and abs(batched[0] - scores[0]) < 1e-5,
              f"--batch 3 {batched} vs one at a time {single}")

        # the whole method through it: a small demo whose LVLM is the tiny LLaVA
        run = os.path.join(tmp, "run")
        cfg = os.path.join(tmp, "demo.yaml")
        with open(cfg, "w") as f:
            f.write(f"seed: 5\ndata: {{dir: {tmp}/data}}\n"
                    "synth: {n_train: 100, n_eval: 45, image_size: 32, seed: 3}\n"
                    "model:\n  pretrain: {epochs: 1, batch: 32}\n"
                    "train: {rounds: 1, candidates_k: 8, scored_per_round: 4, epochs: 1,\n"
                    f"        batch_queries: 8, list_size: 6, out: {run}}}\n"
                    f"scorer: {{backend: exec, command: \"{sys.executable} {HERE}/lvlm_hf.py "
                    f"--model {model_dir} --device cpu --max-new-tokens 4\"}}\n"
                    "eval: {shots: [1, 2], strategies: [RS, SIT, DRUM], classify: rank}\n")
        r = subprocess.run([a.drum, "demo", cfg], capture_output=True, text=True)
        check(r.returncode == 0, f"drum demo through lvlm_hf.py: exit {r.returncode}: {r.stderr[-2000:]}")
        res = open(os.path.join(run, "results.jsonl")).read() if r.returncode == 0 else ""
        check('"strategy": "DRUM"' in res and '"cls": ' in res and
              ("exec:hf:" + model_dir) in r.stderr + r.stdout,
              "results.jsonl has DRUM rows with ranked classification and the log names the model")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
