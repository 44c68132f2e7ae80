"""The request loop of drum's `exec` scorer protocol (include/drum/exec_scorer.h), shared by
tools/lvlm_hf.py and tools/lvlm_openai.py: standard library only.

serve(open_backend) reads one JSON request a line from standard input and writes one reply a
line to standard output, which it keeps for replies alone (anything a library prints goes to
standard error); a reply echoes its request's "seq", so drum never takes it for another's. open_backend() runs at the first request (so a model that fails to load is
an error reply, not a dead process) and returns an object with `id`, `template` and any of

    score_pairs(pairs)                 -> [float]          one a {"query", "demo"} pair
    generate_prompts(prompts)          -> [str]            one a {"query", "demos"} prompt
    rank_prompts(prompts, choices)     -> [[float]]        one row a prompt, one number a choice

hello's reply lists those it has as "ops". Any exception becomes {"error": "<type>: <message>"} (a SystemExit its message alone) and
the loop goes on serving.
"""
import json
import math
import re
import sys

POSTPROCESS = ("first-line", "openflamingo")


def answer_text(text, task, style="first-line"):
    """A generation as the answer drum scores. "first-line": its first line, stripped.
    "openflamingo": as OpenFlamingo's evaluate.py post-processes it (mlfoundations/open_flamingo
    200a966): a "vqa" answer is cut at the first "Question", "Answer" or "Short", then at the
    first ", "; a "caption" at the first "Output", with double quotes removed; other tasks keep
    the whole text. (OK-VQA's stemmer, which needs nltk, is not applied.)"""
    if style == "openflamingo":
        if task == "vqa":
            return re.split(", ", re.split("Question|Answer|Short", text, maxsplit=1)[0],
                            maxsplit=1)[0]
        if task == "caption":
            return text.split("Output", 1)[0].replace('"', "")
        return text
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def scored_answer(answer, query_id):
    """answer, when there is something to score: an empty or blank gold response or choice has
    no tokens of its own (a chat template would score its end-of-turn tokens instead)."""
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError(f"({query_id}; answer {answer!r}): an empty answer has no tokens to score")
    return answer


def first_nonfinite(value, where="reply"):
    """The path of value's first float that is NaN or infinite ("reply.scores[3]"), or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else where
    if isinstance(value, dict):
        items = [(f"{where}.{k}", v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    else:
        return None
    for w, v in items:
        found = first_nonfinite(v, w)
        if found:
            return found
    return None


def reply_line(reply, op):
    """reply as one line of JSON, which has no NaN or Infinity: a reply holding one becomes
    an error naming it (json.dumps would write a bare NaN, which drum cannot read)."""
    where = first_nonfinite(reply)
    if where:
        reply = {"error": f"{op}: {where} is not a finite number (a half-precision overflow?)"}
    return json.dumps(reply, allow_nan=False)


def postprocess_id(style):
    """What a non-default post-processing adds to an adapter's id: answers made another way
    must not be served from the answer cache as this way's."""
    return "" if style == "first-line" else ":postprocess=" + style


# the ops of the protocol and the backend methods that serve them; hello lists those a backend
# has, so drum refuses a job that needs another before it asks anything
OPS = (("score", "score_pairs"), ("generate", "generate_prompts"), ("rank", "rank_prompts"))


def serve(open_backend):
    out = sys.stdout
    sys.stdout = sys.stderr
    backend = None
    for line in sys.stdin:
        op, seq = "request", None
        try:
            req = json.loads(line)
            seq = req.get("seq")
            op = req.get("op")
            if backend is None:
                backend = open_backend()
            if op == "hello":
                reply = {"id": backend.id, "template": backend.template,
                         "ops": [name for name, method in OPS if hasattr(backend, method)]}
            elif op == "score":
                reply = {"scores": backend.score_pairs(req["pairs"])}
            elif op == "generate":
                reply = {"answers": backend.generate_prompts(req["prompts"])}
            elif op == "rank":
                reply = {"scores": backend.rank_prompts(req["prompts"], req["choices"])}
            else:
                reply = {"error": f"unknown op {op!r}"}
        except SystemExit as e:
            reply = {"error": str(e)}
        except Exception as e:  # the message goes back to drum, which names the call
            reply = {"error": f"{type(e).__name__}: {e}"}
        if seq is not None:  # echoed: drum then never takes this reply for another request's
            reply["seq"] = seq
        out.write(reply_line(reply, op) + "\n")
        out.flush()
