#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus (Fuzz/corpus/TARGET/) from the examples in docs/ and config/.

Run it again when the docs' examples change; the corpus is committed, so `make fuzz` and the
corpus replay of `make test` need nothing but this tree.
"""
import hashlib, json, os, re, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(root, "Fuzz", "corpus")
docs = {name: open(os.path.join(root, "docs", name), encoding="utf-8").read() for name in os.listdir(os.path.join(root, "docs"))}
config = {name: open(os.path.join(root, "config", name), "rb").read() for name in os.listdir(os.path.join(root, "config"))
          if os.path.isfile(os.path.join(root, "config", name))}
seeds = {"cron": set(), "duration": set(), "json": set(), "configuration": set()}

code = [span for text in docs.values() for span in re.findall(r"`([^`\n]+)`", text)]
for span in code:
    fields = span.split()
    if span.startswith("@") or (5 <= len(fields) <= 6 and all(re.fullmatch(r"[0-9A-Za-z*/,?LW#H()\-]+", f) for f in fields)):
        seeds["cron"].add(span.encode())
    if re.fullmatch(r"[0-9.]+(ms|s|m|h|d)([0-9.]+(ms|s|m|h|d))*", span):
        seeds["duration"].add(span.encode())
for expression in ["0 3 * * *", "*/15 * * * * *", "H H(0-5) * * *", "@every 90s", "0 0 L * *", "0 0 * * 5L", "0 0 15W * *",
                   "0 0 * * MON#2", "@daily", "0 30 2 * * *", "0 0 29 2 *"]:
    seeds["cron"].add(expression.encode())
for duration in ["500ms", "30s", "1h30m", "1.5h", "2d", "0s", "1d2h3m4s5ms"]:
    seeds["duration"].add(duration.encode())

blocks = [block for text in docs.values() for block in re.findall(r"```json\n(.*?)```", text, re.S)]
for block in blocks:
    seeds["json"].add(block.encode())
for data in config.values():
    seeds["json"].add(data)
daemon_files = [data for name, data in config.items() if name == "dcrond.json"]
daemon_files += [block.encode() for block in blocks if '"cluster"' in block]
job_files = [data for name, data in config.items() if name != "dcrond.json"]
job_files += [block.encode() for block in blocks if '"jobs"' in block and '"cluster"' not in block]
for daemon in daemon_files:
    # The fuzz target writes the jobs file itself, as jobs.json next to the daemon file.
    try:
        value = json.loads(daemon)
        value.pop("jobs", None)
        value.pop("redisPasswordFile", None)
        value.pop("sentinelPasswordFile", None)
        daemon = json.dumps(value, indent=2).encode()
    except ValueError:
        pass
    for jobs in job_files:
        seeds["configuration"].add(daemon + b"\0" + jobs)

for target, inputs in seeds.items():
    folder = os.path.join(corpus, target)
    os.makedirs(folder, exist_ok=True)
    for data in inputs:
        with open(os.path.join(folder, hashlib.sha1(data).hexdigest()[:16]), "wb") as file:
            file.write(data)
    print(f"{target}: {len(inputs)} seeds", file=sys.stderr)
