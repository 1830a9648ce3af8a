#!/usr/bin/env python3
"""Which top-level modules of src/ name which others (`crate::x`, comments
skipped), and whether any two reach each other: the check that
dependencies run one way (issue 33). Run from the repository root."""
import collections, glob, re, sys

edges = collections.defaultdict(set)
for f in glob.glob("src/**/*.rs", recursive=True):
    if f.startswith("src/bin/") or f == "src/lib.rs":
        continue
    top = f[4:].split("/")[0].removesuffix(".rs")
    for line in open(f, encoding="utf-8"):
        code = line.split("//")[0]
        for m in re.findall(r"crate::([A-Za-z_]+)", code):
            m = {"Error": "error", "Result": "error", "PhoneNumber": "phone"}.get(m, m)
            if m != top:
                edges[top].add(m)

def reaches(a, b, seen):
    for n in edges.get(a, ()):
        if n == b or (n not in seen and not seen.add(n) and reaches(n, b, seen)):
            return True
    return False

for top in sorted(edges):
    print(f"{top:13} -> {', '.join(sorted(edges[top]))}")
cycles = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if reaches(b, a, set())})
print("cycles:", cycles or "none")
sys.exit(1 if cycles else 0)
