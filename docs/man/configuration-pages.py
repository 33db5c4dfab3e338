#!/usr/bin/env python3
"""Writes dcrond.json(5) and dcrond-jobs.json(5) from docs/configuration.md, so that the manual
pages say what the reference says: each key of its two tables, with type, default and meaning.

    configuration-pages.py docs/configuration.md OUTPUT_DIRECTORY DATE
"""
import re
import sys


def inline(text):
    """Markdown inline to man(7): `code` in bold, links as their text, escapes for roff."""
    text = text.replace("\\|", "|")
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    text = text.replace("\\", "\\e")
    text = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    text = text.replace("—", "\\(em").replace("–", "\\(en")
    return text


def line(text):
    # A line may not start with a roff control character.
    return "\\&" + text if text.startswith((".", "'")) else text


def section(markdown, heading):
    start = markdown.index(heading)
    end = markdown.find("\n## ", start + len(heading))
    return markdown[start:end if end >= 0 else len(markdown)]


def rows(part):
    out = []
    for raw in part.splitlines():
        if not raw.startswith("| `"):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", raw.strip())[1:-1]]
        out.append(cells)
    return out


def page(name, title, summary, rows, files, see_also, date):
    lines = [
        '.\\" Generated from docs/configuration.md by docs/man/configuration-pages.py; edit those.',
        f'.TH {name.upper()} 5 "{date}" "dcrond" "File Formats"',
        ".SH NAME", f"{name} \\- {title}",
        ".SH DESCRIPTION",
    ]
    for paragraph in summary:
        lines += [".PP", line(inline(paragraph))]
    lines.append(".SH KEYS")
    for key, kind, default, meaning in rows:
        lines += [".TP", f"{inline(key)} ({inline(kind)}; default: {inline(default)})", line(inline(meaning))]
    lines += [".SH FILES", ".TP", files[0], files[1],
              ".SH SEE ALSO", see_also,
              ".PP", "The full reference: /usr/share/doc/dcrond/configuration.md."]
    return "\n".join(lines) + "\n"


def main():
    source, output, date = sys.argv[1], sys.argv[2], sys.argv[3]
    markdown = open(source, encoding="utf-8").read()
    intro = [" ".join(p.split()) for p in markdown.split("## Who may own the files")[0].split("\n\n")[1:3]]
    daemon = section(markdown, "## The daemon file")
    jobs = section(markdown, "## The jobs file")
    reload_part = section(markdown, "### What a reload changes").split("\n\n")[1:]
    open(f"{output}/dcrond.json.5", "w").write(page(
        "dcrond.json", "settings of the dcrond daemon",
        intro + ["Strict JSON: unknown keys, keys given twice and values of the wrong type are errors."]
        + [" ".join(p.split()) for p in reload_part if p.strip() and not p.startswith("#")],
        rows(daemon), ("/etc/dcrond/dcrond.json", "The daemon's settings (dcrond run --config FILE)."),
        "dcrond(8), dcrond-jobs.json(5), systemctl(1), journalctl(1)", date))
    open(f"{output}/dcrond-jobs.json.5", "w").write(page(
        "dcrond-jobs.json", "the jobs table of dcrond",
        ['An object with one key, "jobs": an array of jobs. Every node of a cluster should have the same '
         'file; "dcrond check" validates it and prints its fingerprint. A job:'],
        rows(jobs), ("/etc/dcrond/jobs.json", 'The jobs file, named by "jobs" in dcrond.json(5).'),
        "dcrond(8), dcrond.json(5), crontab(5)", date))


if __name__ == "__main__":
    main()
