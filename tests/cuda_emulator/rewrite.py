#!/usr/bin/env python3
"""CUDA emulator, source rewriter: turns a kernel file (cuda/kernels/*.cu) into plain C++ that
g++ compiles against the emulator (emu.hpp), so the GPU tests run in CI without a GPU.

Usage: rewrite.py IN.cu OUT.cpp

- prepends the CUDA host headers and emu.hpp (which turns __global__ etc. into nothing);
- `__shared__ T name[dims];` becomes a static registered with the emulator, which refills it
  with garbage before every block;
- `extern __shared__ T name[];` becomes a pointer to the launch's dynamic shared memory;
- `KERNEL<<<grid, block[, smem[, stream]]>>>(args);` becomes
  `::emu::launch("KERNEL", KERNEL, grid, block, smem, stream, [=] { KERNEL(args); });`
  (arguments by value, as CUDA copies them at launch).
Line numbers are kept (#line), so diagnostics and emulator reports point at the original file.
It understands the constructs our kernels use, not all of CUDA: anything with __shared__ it
cannot parse is an error rather than a silent miscompile.
"""
import re
import sys

src_path, out_path = sys.argv[1], sys.argv[2]
text = open(src_path).read()

# extern __shared__ [__align__(N)] T name[];
ext_re = re.compile(r"extern\s+__shared__\s+((?:__align__\(\s*\d+\s*\)\s+)?)([\w:<> ]+?)\s+(\w+)\s*\[\s*\]\s*;")


def ext_sub(m):
    return "%s* %s = reinterpret_cast<%s*>(::emu::dyn_smem());" % (m.group(2), m.group(3), m.group(2))


text = ext_re.sub(ext_sub, text)

# __shared__ T name[dims];  ->  a static registered with the emulator, which refills every
# registered variable with garbage before each block (and once right at registration).
sh_re = re.compile(r"__shared__\s+([^;{}()]*?(?:__align__\(\s*\d+\s*\)[^;{}()]*?)?)\s+(\w+)\s*((?:\[[^\]]*\]\s*)*);")


def sh_sub(m):
    return ("static %s %s%s; [[maybe_unused]] static const int %s__emu_reg = ::emu::reg_shared(&%s, sizeof(%s));"
            % (m.group(1), m.group(2), m.group(3), m.group(2), m.group(2), m.group(2)))


text = sh_re.sub(sh_sub, text)
for ln, line in enumerate(text.split("\n"), 1):
    code = line.split("//")[0]
    if "__shared__" in code:
        raise SystemExit("%s:%d: __shared__ declaration not understood by rewrite.py" % (src_path, ln))


def match_paren(s, i, open_c, close_c):
    depth = 0
    while i < len(s):
        c = s[i]
        if c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise SystemExit("unbalanced %s at %d" % (open_c, i))


def split_top(s):
    parts, depth, cur = [], 0, ""
    for c in s:
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += c
    if cur.strip():
        parts.append(cur.strip())
    return parts


out = []
pos = 0
while True:
    i = text.find("<<<", pos)
    if i < 0:
        out.append(text[pos:])
        break
    # kernel expression: walk back over whitespace, then a name with template args and ::
    j = i
    while text[j - 1].isspace():
        j -= 1
    k = j
    depth = 0
    while k > 0:
        c = text[k - 1]
        if c == ">":
            depth += 1
        elif c == "<":
            depth -= 1
        elif depth == 0 and not (c.isalnum() or c in "_:"):
            break
        k -= 1
    kexpr = text[k:j]
    e = text.find(">>>", i)
    cfg = split_top(text[i + 3:e])
    while len(cfg) < 4:
        cfg.append("0" if len(cfg) == 2 else "nullptr")
    a0 = text.index("(", e)
    a1 = match_paren(text, a0, "(", ")")
    args = text[a0 + 1:a1]
    semi = text.index(";", a1)
    nlines = text[k:semi + 1].count("\n")
    rep = ("::emu::launch(\"%s\", reinterpret_cast<const void*>(%s), %s, %s, %s, %s, [=] { %s(%s); });"
           % (kexpr.replace('"', ''), kexpr, cfg[0], cfg[1], cfg[2], cfg[3], kexpr,
              args.replace("\n", " ")))
    out.append(text[pos:k])
    out.append(rep + "\n" * nlines)
    pos = semi + 1

body = "".join(out)
header = ('#include <cuda_runtime_api.h>\n#include <cuda_fp16.h>\n#include <cuda_bf16.h>\n'
          '#include "emu.hpp"\n#line 1 "%s"\n' % src_path)
open(out_path, "w").write(header + body)
