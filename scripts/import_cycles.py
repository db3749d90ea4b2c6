#!/usr/bin/env python3
"""Lists import cycles of more than one file inside each crate of the workspace.

An edge A -> B is a module-level `use crate::…`/`super::…`/`self::…` in file A, or a `crate::…`/`super::…`
path in A's code, that names an item of file B. `#[cfg(test)]` items are ignored, and so are plain
re-exports (`pub use`) in lib.rs and mod.rs: a path through a re-export is followed to the file that
defines the item. Binaries (main.rs, src/bin/) are their own crates and are not scanned.

Usage: scripts/import_cycles.py [CRATE_DIR ...]   (default: every workspace member but vendor)
Exit status 1 when a cycle is found.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CRATES = ["cli", "testkit", "tuner", "server", "deploy", "resp", "benches", "top"]


def strip_comments_and_strings(text):
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            out.append('""')
            i = n if j < 0 else j + len(end)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^'\\])'", text[i:])
            if m:
                out.append("' '")
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def skip_item(text, i):
    """Index just past the item starting at i: up to the first `;` or a balanced `{…}`."""
    n = len(text)
    while i < n and text[i] not in ";{":
        i += 1
    if i < n and text[i] == ";":
        return i + 1
    depth = 0
    while i < n:
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def strip_cfg_test(text):
    out, i = [], 0
    pat = re.compile(r"#\[cfg\(\s*test\s*\)\]")
    while True:
        m = pat.search(text, i)
        if not m:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:m.start()])
        j = m.end()
        while True:  # further attributes on the same item
            k = re.match(r"\s*#\[", text[j:])
            if not k:
                break
            depth, j = 1, j + k.end()
            while depth:
                depth += {"[": 1, "]": -1}.get(text[j], 0)
                j += 1
        i = skip_item(text, j)


def expand_use_tree(tree):
    """'crate::{a::B, c::{D, E as F}}' -> [['crate','a','B'], ['crate','c','D'], ['crate','c','E']]"""
    tree = re.sub(r"\s+", "", tree)

    def parse(s, prefix):
        results, depth, start, parts = [], 0, 0, []
        for idx, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:idx])
                start = idx + 1
        parts.append(s[start:])
        for part in parts:
            if not part:
                continue
            if "{" in part:
                head, rest = part.split("{", 1)
                rest = rest[: rest.rfind("}")]
                head_segs = [x for x in head.split("::") if x]
                results += parse(rest, prefix + head_segs)
            else:
                part = part.split("as")[0] if re.search(r"[A-Za-z_0-9]as[A-Za-z_]", part) is None else re.split(r"(?<=\w)as(?=\w)", part)[0]
                segs = [x for x in part.split("::") if x]
                results.append(prefix + segs)
        return results

    return parse(tree, [])


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}  # module path tuple -> file path
        for dirpath, dirs, files in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            if rel.split(os.sep)[0] == "bin":
                continue
            for f in files:
                if not f.endswith(".rs"):
                    continue
                path = os.path.join(dirpath, f)
                parts = [] if rel == "." else rel.split(os.sep)
                if f == "lib.rs" and rel == ".":
                    mod = ()
                elif f == "main.rs" and rel == ".":
                    continue
                elif f == "mod.rs":
                    mod = tuple(parts)
                else:
                    mod = tuple(parts + [f[:-3]])
                self.files[mod] = path
        self.text = {}
        self.uses = {}
        self.reexports = {}
        for mod, path in self.files.items():
            with open(path, encoding="utf-8") as fh:
                text = strip_cfg_test(strip_comments_and_strings(fh.read()))
            uses = []
            for m in re.finditer(r"(?m)^\s*(pub(\([^)]*\))?\s+)?use\s+([^;]+);", text):
                uses.append((bool(m.group(1)), expand_use_tree(m.group(3))))
            self.uses[mod] = uses
            self.text[mod] = re.sub(r"(?m)^\s*(pub(\([^)]*\))?\s+)?use\s+[^;]+;", "", text)
            is_root = path.endswith("lib.rs") or path.endswith("mod.rs")
            rex = {}
            if is_root:
                for public, paths in uses:
                    if public:
                        for p in paths:
                            if p and p[-1] not in ("*", "self"):
                                rex[p[-1]] = p
            self.reexports[mod] = rex

    def absolute(self, mod, segs):
        """A use path as seen from `mod` → absolute segments, or None for other crates."""
        is_dir_mod = self.files[mod].endswith(("mod.rs", "lib.rs"))
        here = list(mod)
        if not segs:
            return None
        if segs[0] == "crate":
            return segs[1:]
        base = here
        i = 0
        if segs[0] == "self":
            i = 1
        while i < len(segs) and segs[i] == "super":
            base = base[:-1]
            i += 1
        if i == 0:
            # relative to the current module: only child modules count (std, other crates are skipped)
            if tuple(here + [segs[0]]) in self.files and is_dir_mod:
                return here + segs
            return None
        return base + segs[i:]

    def resolve(self, segs, seen=None):
        """Absolute segments → the file defining the item."""
        seen = seen or set()
        mod = ()
        i = 0
        while i < len(segs) and mod + (segs[i],) in self.files:
            mod = mod + (segs[i],)
            i += 1
        if i < len(segs):
            name = segs[i]
            target = self.reexports.get(mod, {}).get(name)
            key = (mod, name)
            if target is not None and key not in seen:
                seen.add(key)
                absolute = self.absolute(mod, target)
                if absolute is not None:
                    return self.resolve(absolute + segs[i + 1:], seen)
        return mod

    def edges(self):
        result = {}
        for mod in self.files:
            targets = set()
            is_root = self.files[mod].endswith(("lib.rs", "mod.rs"))
            for public, paths in self.uses[mod]:
                if public and is_root:
                    continue  # plain re-export
                for p in paths:
                    if p[0] not in ("crate", "super", "self"):
                        continue
                    a = self.absolute(mod, [x for x in p if x != "*"])
                    if a is not None:
                        targets.add(self.resolve(a))
            for m in re.finditer(r"(?<![\w:])((?:crate|super|self)(?:::[A-Za-z_]\w*)+)", self.text[mod]):
                segs = m.group(1).split("::")
                a = self.absolute(mod, segs)
                if a is not None:
                    targets.add(self.resolve(a))
            targets.discard(mod)
            result[mod] = targets
        return result

    def name(self, mod):
        return os.path.relpath(self.files[mod], os.path.dirname(self.src))


def cycles(edges):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in edges:
        if v not in index:
            visit(v)
    return out


def main():
    crates = sys.argv[1:] or DEFAULT_CRATES
    found = 0
    for c in crates:
        src = os.path.join(ROOT, c, "src")
        if not os.path.isdir(src):
            continue
        crate = Crate(src)
        edges = crate.edges()
        for comp in cycles(edges):
            found += 1
            members = set(comp)
            print(f"{c}: cycle of {len(comp)} files")
            for v in sorted(comp, key=crate.name):
                inner = sorted(crate.name(w) for w in edges[v] if w in members)
                print(f"  {crate.name(v)} -> {', '.join(inner)}")
    if not found:
        print("no import cycles of more than one file")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
