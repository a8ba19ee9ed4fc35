#!/usr/bin/env python3
"""The FIELDS section of linegate-policy(5) from docs/policy.md's field tables ("Fields",
"Metadata"), so that the installed page and the reference cannot drift apart.

Usage: policy_fields.py SOURCE_DIR [--check]
  rewrites docs/man/linegate-policy.5.scd's FIELDS section; with --check, only says
  whether it is up to date (exit 1 when not: run it without --check).
"""
import re
import sys

TABLES = ("## Fields", "## Metadata")


def esc(s):
    return s.replace("\\", "\\\\").replace("_", "\\_").replace("*", "\\*")


def text(md):
    """Markdown cell text as scdoc: `code` bold, links as their text."""
    md = md.replace("\\|", "|")
    md = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", md)
    out, parts = [], re.split(r"(`[^`]*`)", md)
    for p in parts:
        if p.startswith("`") and p.endswith("`") and len(p) > 1:
            out.append("*" + esc(p[1:-1]) + "*")
        else:
            out.append(esc(p))
    return "".join(out).strip()


def rows(md):
    cur, got = None, []
    for line in md.splitlines():
        if line.startswith("## ") or line.startswith("### "):
            cur = line.strip()
        if cur in TABLES and line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if len(cells) == 5:
                got.append(cells)
    return got


def entry(cells):
    field, typ, default, live, meaning = cells
    name = ", ".join(esc(f) for f in re.findall(r"`([^`]*)`", field)) or esc(field)
    m = text(meaning)
    if m:
        m = m[0].upper() + m[1:]
        if not m.endswith("."):
            m += "."
    cls = {"live": "Live.", "start-only": "Start-only."}.get(live.strip(), text(live) + ".")
    return f"*{name}*\n\t{text(typ)}. Default: {text(default)}. {cls} {m}\n"


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(sys.argv) > 1 else 2
    src = sys.argv[1]
    md = open(f"{src}/docs/policy.md").read()
    page_path = f"{src}/docs/man/linegate-policy.5.scd"
    page = open(page_path).read()
    start = page.index("# FIELDS\n") + len("# FIELDS\n")
    end = page.index("# KEY FILES")
    body = "\n" + "\n".join(entry(c) for c in rows(md)) + "\n"
    new = page[:start] + body + page[end:]
    if "--check" in sys.argv[2:]:
        if new != page:
            print("linegate-policy.5.scd: FIELDS is not docs/policy.md's: run "
                  "docs/man/policy_fields.py SOURCE_DIR", file=sys.stderr)
            return 1
        print(f"ok: {len(rows(md))} fields of docs/policy.md in linegate-policy.5.scd")
        return 0
    open(page_path, "w").write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
