#!/usr/bin/env python3
# Finds import cycles between the file modules of each workspace crate.
#
# A module is one file: src/lib.rs (or src/main.rs) is `crate`, src/a.rs or
# src/a/mod.rs is `a`, src/a/b.rs is `a::b`. Modules are found by following
# `mod x;` declarations from the crate root; a file declared `#[cfg(test)] mod x;`
# and every `#[cfg(test)] mod x { ... }` block are skipped. After comments and
# string/char literals are blanked out, every path in `use` declarations
# (grouped and multi-line included) and in code that starts with `crate::`,
# `$crate::`, `self::`, `super::` (repeatable) or the name of a child module
# declared in the same file gives an edge to the deepest file module it names.
# Edges to the module itself or to one of its ancestors (a child using its
# parent's items) are ignored, and so are paths into other crates. Strongly
# connected components of more than one module are cycles: for each the script
# prints a shortest cycle, one `path:line` per edge, and the component's members.
#
# Usage: scripts/check-cycles.py [--crate NAME] [--dot] [WORKSPACE_ROOT]
#   --crate NAME  check one crate (directory or package name)
#   --dot         print the module graph as Graphviz instead (cycle members red)
# Exit status: 0 no cycle, 1 some cycle, 2 usage error. Standard library only.
import argparse
import bisect
import collections
import re
import sys
import textwrap
import tomllib
from pathlib import Path

RAW_STR = re.compile(r'[bc]?r(#*)"')
MOD_DECL = re.compile(r'((?:#\[[^\]]*\]\s*)*)(?:\bpub(?:\s*\([^)]*\))?\s+)?\bmod\s+(\w+)\s*([;{])')
CFG_TEST = re.compile(r'\bcfg\(\s*(?:all\(\s*)?test\b')
USE_DECL = re.compile(r'\buse\s+([^;]*);')
USE_TOKEN = re.compile(r'\$?\w+|::|[{},*]')
PATH = re.compile(r'(?<![\w$])(?<!::)(\$?\w+(?:\s*::\s*\w+)+)')

def spaces(text):
    """text with every character but newlines made a space: line numbers stay."""
    return re.sub(r'[^\n]', ' ', text)

def strip(src):
    """Blank out comments, string and char literals; keep lifetimes and labels."""
    out, i, keep, n = [], 0, 0, len(src)  # src[keep:i] is code, copied as is
    while i < n:
        c, j = src[i], None
        if src.startswith('//', i):
            j = src.find('\n', i) % (n + 1)  # -1 (no newline) becomes n
        elif src.startswith('/*', i):  # block comments nest in Rust
            depth, j = 1, i + 2
            while j < n and depth:
                step = src[j:j + 2]
                depth += (step == '/*') - (step == '*/')
                j += 2 if step in ('/*', '*/') else 1
        elif c in 'bcr' and not (i and (src[i - 1].isalnum() or src[i - 1] == '_')) \
                and (m := RAW_STR.match(src, i)):  # r"..", r#".."#, br"..", cr".."
            end = src.find('"' + m.group(1), m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
        elif c == '"':  # also the rest of b".." and c".."
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == '\\' else 1
            j += 1
        elif c == "'" and src.startswith('\\', i + 1):  # '\n', '\'', '\u{1F600}'
            j = src.find("'", i + 3) + 1 or n
        elif c == "'" and src[i + 2:i + 3] == "'":  # 'x', '"', '{'; not 'a (lifetime)
            j = i + 3
        if j is None:
            i += 1
        else:
            out += [src[keep:i], spaces(src[i:j])]
            i = keep = j
    return ''.join(out) + src[keep:]

def parse_file(path):
    """Stripped text without test modules, file-module children, inline module spans."""
    text = strip(path.read_text(encoding='utf-8'))
    children, inline, pos = [], [], 0
    while m := MOD_DECL.search(text, pos):
        test, pos = CFG_TEST.search(m.group(1)), m.end()
        if m.group(3) == ';':
            children += [] if test else [m.group(2)]
            continue
        depth, end = 0, len(text)
        for k in range(m.end() - 1, len(text)):
            depth += {'{': 1, '}': -1}.get(text[k], 0)
            if depth == 0:
                end = k + 1
                break
        if test:
            text, pos = text[:m.start()] + spaces(text[m.start():end]) + text[end:], end
        else:
            inline.append((m.end(), end))
    return text, children, inline

def load_modules(root_file):
    """{module tuple: (file, stripped text, children, inline spans)} reachable from the root."""
    modules, todo = {}, [((), root_file)]
    while todo:
        name, file = todo.pop()
        modules[name] = (file, *parse_file(file))
        d = file.parent if file.name in ('mod.rs', 'lib.rs', 'main.rs') else file.with_suffix('')
        for child in modules[name][2]:
            for f in (d / f'{child}.rs', d / child / 'mod.rs'):
                if f.exists():
                    todo.append((name + (child,), f))
                    break
    return modules

def use_paths(toks, i, prefix, prefix_pos, out):
    """Expand one use tree from toks[i:] into (segments, positions) leaves; returns next index."""
    path, pos, leaf = list(prefix), list(prefix_pos), False
    while i < len(toks):
        t, p = toks[i]
        if t == '{':
            i += 1
            while i < len(toks) and toks[i][0] != '}':
                i = use_paths(toks, i, path, pos, out)
                i += i < len(toks) and toks[i][0] == ','
            return i + 1
        if t in (',', '}'):
            break
        if t != '::' and not (t == 'self' and path) and t != 'as':  # `a::{self}` is `a`
            path.append(t)
            pos.append(p)
        leaf |= t != '::'
        i += 2 if t == 'as' else 1  # skip an alias
    if leaf and path:
        out.append((path, pos))
    return i

def resolve(modules, mod, segs, depth):
    """(file module a path names, index of the segment naming it), or None."""
    first = segs[0].lstrip('$')
    if first == 'crate':
        base, rest = (), segs[1:]
    elif first in ('self', 'super'):
        base, rest, k = mod, segs[first == 'self':], depth
        while rest and rest[0] == 'super':
            rest = rest[1:]
            if k:
                k -= 1  # leaves an inline `mod x { }` of the same file
            elif base:
                base = base[:-1]
            else:
                return None
        if k:
            return None  # an item of an inline module of this file
    elif depth == 0 and first in modules[mod][2]:
        base, rest = mod, segs
    else:
        return None  # another crate, std, a local type or enum, ...
    full = base + tuple(rest)
    n = next(n for n in range(len(full), -1, -1) if full[:n] in modules)
    return full[:n], len(segs) - len(rest) + n - len(base) - 1

def edges_of(modules, mod):
    """{target module: first line naming it} for one module."""
    _, text, _, inline = modules[mod]
    starts = [0] + [k + 1 for k, ch in enumerate(text) if ch == '\n']
    found, refs = {}, []
    for m in USE_DECL.finditer(text):
        toks = [(t.group(), m.start(1) + t.start()) for t in USE_TOKEN.finditer(m.group(1))]
        use_paths(toks, 0, [], [], refs)
    for m in PATH.finditer(USE_DECL.sub(lambda m: spaces(m.group()), text)):
        segs = list(re.finditer(r'\$?\w+', m.group(1)))
        refs.append(([s.group() for s in segs], [m.start(1) + s.start() for s in segs]))
    for segs, pos in refs:
        depth = sum(a <= pos[0] < b for a, b in inline)
        target, k = resolve(modules, mod, segs, depth) or ((), 0)
        if target != mod[:len(target)]:  # not itself nor an ancestor
            line = bisect.bisect_right(starts, pos[k])
            found[target] = min(line, found.get(target, line))
    return found

def tarjan(graph):
    """Strongly connected components, iteratively."""
    index, low, stack, on_stack, sccs = {}, {}, [], set(), []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root), on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None and w not in index:
                index[w] = low[w] = len(index)
                stack.append(w), on_stack.add(w)
                work.append((w, iter(sorted(graph[w]))))
            elif w is not None and w in on_stack:
                low[v] = min(low[v], index[w])
            elif w is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    scc, stack[stack.index(v):] = stack[stack.index(v):], []
                    on_stack.difference_update(scc)
                    sccs.append(sorted(scc))
    return sccs

def shortest_cycle(graph, scc):
    """A shortest cycle inside scc, as a list of modules starting and ending alike."""
    best = None
    for s in scc:
        parent, queue = {}, collections.deque([s])
        while queue and s not in parent:  # breadth first, from s back to s
            v = queue.popleft()
            for w in sorted(graph[v] & set(scc) - parent.keys()):
                parent[w] = v
                queue.append(w)
        cycle = [s, parent[s]]
        while cycle[-1] != s:
            cycle.append(parent[cycle[-1]])
        if best is None or len(cycle) < len(best):
            best = cycle[::-1]
    return best

def name(mod):
    return '::'.join(mod) or 'crate'

def main():
    ap = argparse.ArgumentParser(description='Find import cycles between file modules.')
    ap.add_argument('--crate', help='check only this crate (directory or package name)')
    ap.add_argument('--dot', action='store_true', help='print the module graph as Graphviz')
    ap.add_argument('root', nargs='?', default=Path(__file__).resolve().parent.parent, type=Path)
    args = ap.parse_args()
    crates = []
    for member in tomllib.loads((args.root / 'Cargo.toml').read_text())['workspace']['members']:
        src = args.root / member / 'src'
        package = tomllib.loads((src.parent / 'Cargo.toml').read_text()).get('package', {})
        if args.crate in (None, member, package.get('name')):
            roots = [src / f for f in ('lib.rs', 'main.rs') if (src / f).exists()]
            crates += [(member + (' (bin)' if r != roots[0] else ''), r) for r in roots]
    if not crates:
        ap.error(f'no crate {args.crate!r} in {args.root}')
    n_modules, n_cycles, dot = 0, 0, ['digraph modules {', '  rankdir=LR; node [shape=box];']
    for label, root_file in crates:
        modules = load_modules(root_file)
        lines = {m: edges_of(modules, m) for m in modules}
        graph = {m: set(lines[m]) for m in modules}
        sccs = [s for s in tarjan(graph) if len(s) > 1]
        n_modules, n_cycles = n_modules + len(modules), n_cycles + len(sccs)
        scc_of = {m: k for k, s in enumerate(sccs) for m in s}
        dot.append(f'  subgraph "cluster_{label}" {{ label="{label}";')
        for a in sorted(modules):
            red = ', color=red' if a in scc_of else ''
            dot.append(f'    "{label}/{name(a)}" [label="{name(a)}"{red}];')
            for b in sorted(graph[a]):
                red = ' [color=red]' if scc_of.get(a, -1) == scc_of.get(b) else ''
                dot.append(f'    "{label}/{name(a)}" -> "{label}/{name(b)}"{red};')
        dot.append('  }')
        for scc in [] if args.dot else sccs:
            cycle = shortest_cycle(graph, scc)
            print(f'{label}: cycle: ' + ' -> '.join(name(m) for m in cycle))
            steps = [(f'{name(a)} -> {name(b)}', a, b) for a, b in zip(cycle, cycle[1:])]
            width = max(len(step) for step, _, _ in steps)
            for step, a, b in steps:
                where = modules[a][0].relative_to(args.root)
                print(f'    {step.ljust(width)}  {where}:{lines[a][b]}')
            print(textwrap.fill(f'  strongly connected component of {len(scc)} modules: '
                                + ', '.join(name(m) for m in scc), 100, subsequent_indent='    ') + '\n')
    if args.dot:
        print('\n'.join(dot + ['}']))
    elif n_cycles:
        print(f'{n_cycles} import cycle(s) in {n_modules} modules of {len(crates)} crates')
    else:
        print(f'no import cycles in {n_modules} modules of {len(crates)} crates')
    sys.exit(1 if n_cycles else 0)

if __name__ == '__main__':
    main()
