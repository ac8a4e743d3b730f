#!/usr/bin/env python3
"""Locked instructions per request in a callgrind profile: the lock-prefixed (and
implicitly locked `xchg` with memory) instructions a run executed, from callgrind's
per-instruction counts matched against objdump's disassembly of each object.

Callgrind counts a locked add as one instruction, while it costs about 20 cycles, so
instruction counts alone hide them. Record with per-instruction counts:

    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=OUT roost ...

Usage: benches/locked_instructions.py OUT requests
Prints the total per request and the functions that execute them.
"""
import sys, re, subprocess, collections
path, n = sys.argv[1], float(sys.argv[2])
obs = {}; cur_ob = None; ir = collections.defaultdict(collections.Counter)
fnname = {}; cur_fn = None; fnaddr = collections.defaultdict(collections.Counter)
last = 0; skip = False
for line in open(path):
    # Callgrind names each object and function once per file, on whichever line
    # mentions it first: its own (ob=, fn=) or a call's (cob=, cfn=).
    m = re.match(r'(c?)(ob|fn)=\((\d+)\)(?: (.*))?', line.strip())
    if m:
        called, kind, index, name = m.groups()
        names = obs if kind == 'ob' else fnname
        if name: names[index] = name
        if not called:
            if kind == 'ob': cur_ob = index
            else: cur_fn = index
        continue
    if line.startswith('calls='): skip = True; continue
    c = line[0]
    if c in '0123456789+-*':
        parts = line.split()
        a = parts[0]
        if a.startswith('0x'): addr = int(a, 16)
        elif a.startswith('+'): addr = last + int(a[1:], 16) if a[1:].startswith('0x') else last + int(a[1:])
        elif a.startswith('-'): addr = last - int(a[1:])
        else: addr = last
        last = addr
        if skip: skip = False; continue
        if len(parts) >= 3:
            ir[cur_ob][addr] += int(parts[2]); fnaddr[(cur_ob, addr)] = cur_fn
total = 0; byfn = collections.Counter()
for ob, counts in ir.items():
    name = obs.get(ob)
    if not name or not name.startswith('/'): continue
    try: dis = subprocess.run(['objdump', '-d', '--no-show-raw-insn', name], capture_output=True, text=True).stdout
    except Exception: continue
    for l in dis.splitlines():
        m = re.match(r'\s*([0-9a-f]+):\s+(lock |xchg\s+.*\(|xchg.*,.*\()', l)
        if m:
            a = int(m.group(1), 16)
            if a in counts:
                total += counts[a]; byfn[(name.split('/')[-1], fnname.get(fnaddr[(ob,a)], '?'))] += counts[a]
print(f"locked instructions per request: {total/n:.2f}")
for (o, f), v in byfn.most_common(40):
    if v/n >= 0.05: print(f"{v/n:7.2f} {o} {f[:140]}")
