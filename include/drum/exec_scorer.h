/* exec_scorer.h — the `exec` scorer: any LVLM behind a subprocess speaking JSON lines.
 *
 * drum starts `command` with /bin/sh -c (as "exec command" when it is one plain program: a
 * first word that is an executable file, no ; & | ( ) < > or backquote, so the shell holds no
 * copy of its output), writes one request a line to its standard input and reads one reply a
 * line from its standard output (its standard error passes through to drum's). Requests, in
 * this order of use:
 *
 *   {"op":"hello","protocol":1}
 *       -> {"id":"<model and its settings>"}   optional "template":"<prompt template name>";
 *          both become part of every score-cache key (score_cache.h); optional
 *          "ops":["score","generate","rank"], the requests below that the process serves
 *          (without it: all three). A job checks them against what it will ask before it
 *          asks anything (job.h): a process that only generates can run `drum eval`, and a
 *          `drum train` that needs scores is refused at its start, not after its evaluations
 *   {"op":"score","pairs":[{"query":EX,"demo":EX}, ...]}
 *       -> {"scores":[s_1, ...]}   one finite number a pair: the length-normalised
 *          log-likelihood of the query's gold response given the demonstration then the query
 *   {"op":"generate","prompts":[{"query":EX,"demos":[EX, ...]}, ...]}
 *       -> {"answers":["...", ...]}   one string a prompt; demos in prompt order, the last
 *          nearest the query; an empty list asks for a zero-shot answer
 *   {"op":"rank","prompts":[{"query":EX,"demos":[EX, ...]}, ...],"choices":["...", ...]}
 *       -> {"scores":[[s_11, ...], ...]}   a list a prompt, one finite number a choice: the
 *          length-normalised log-likelihood of that choice as the answer to the prompt
 *          (evaluation of classification by class name, and of yes/no tasks); a subprocess
 *          that does not rank leaves it out of hello's "ops"
 *
 * Every request also carries "seq": its number, from 0 for hello. A reply may echo it
 * ("seq": N, as tools/exec_protocol.py does); a reply that carries another number is an
 * error (a reply written twice, or one that came after its request's time ran out), so a
 * program that echoes it can never have one request's reply taken as another's.
 *
 * EX = {"id","image","prompt","response","task"}: "image" is the path drum resolved (the
 * dataset file's directory joined with the example's image); "response" is the gold response,
 * which a score needs; generate's and rank's queries carry no "response". Any reply may instead be
 * {"error":"message"}: the call fails with that message. When the scorer is destroyed drum
 * closes the process's standard input and waits up to 5 s for it to exit, then ends it
 * (its process group) with SIGKILL. The process leads a process group of its own and starts
 * with SIGINT, SIGTERM, SIGUSR1 and SIGTTOU ignored (a program may set its own handlers): a
 * Ctrl-C to the terminal's foreground group, or a launcher's SIGTERM or SIGUSR1 to every
 * process, is drum's to act on; it stops between requests (job.h), so the request in flight is answered and
 * cached rather than lost with a killed process.
 *
 * Standard output carries replies only: a line of anything else (a library's "Loading model…")
 * is an error that quotes it, so log to standard error. A reply is one JSON object on one
 * line, nothing after it; output beyond a request's reply found when the next request is
 * sent is an error (it would have been taken as that request's reply); NaN and Infinity, which
 * JSON has not, \u0000 and bytes that are not UTF-8 are errors naming the reply. An id or
 * template longer than the key fields (127 and 63 bytes) keeps its head and a digest of the
 * whole, so settings that differ only at the end of a long id stay apart in the caches.
 * Calls are synchronous (one request in flight), so a scorer must not be used by two threads
 * at once. A request has no time limit unless `timeout` (scorer.timeout, seconds) is set:
 * then a request not read and answered within it, hello included (and with it the model's
 * loading, in tools/lvlm_hf.py), is an error, and drum ends the process's group at once (a
 * reply coming later would answer the next request); the scorer then refuses every call.
 * Opening one makes the process ignore SIGPIPE (when it was at its default), so a subprocess
 * that dies mid-request (or mid-reply) is an error naming its exit status or signal, not a
 * crash.
 * tests/fixtures/exec_lvlm.py is a small stand-in that speaks the protocol; tools/lvlm_hf.py
 * serves a real vision-language model through transformers, tools/lvlm_openai.py one behind
 * an OpenAI-compatible server with vLLM's prompt_logprobs (vllm serve).
 */
#ifndef DRUM_EXEC_SCORER_H
#define DRUM_EXEC_SCORER_H

#include <stddef.h>

#include "drum/score.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Starts `command` and says hello. *out's id is "exec:" + the reply's id. timeout: the
 * seconds each request may take (hello's too), 0 for no limit. Returns 0, or -1 with a
 * message naming the command (and its exit status when it already ended). */
int drum_exec_open(drum_scorer **out, const char *command, double timeout, char *err,
                   size_t errlen);

/* Sends sig to every LVLM process group the open exec scorers run; async-signal-safe, for a
 * handler that ends drum at once (a second Ctrl-C) and must not leave them computing. */
void drum_exec_signal_children(int sig);

#ifdef __cplusplus
}
#endif
#endif
