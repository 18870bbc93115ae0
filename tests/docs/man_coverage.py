#!/usr/bin/python3
"""man_coverage.py — the man pages say everything the program knows.

What is compared is always read from the thing that cannot drift: the
built binary's --help, the config parser's own key table, the public
header, the getenv() calls. Each gap is printed as one line naming the
page, where the text belongs and what to add; the exit status is 1 when
there is any. The rules (man/README.md says the same):

p11jwt(1), man/p11jwt.1.scd
  - every command of `p11jwt --help` has a `## CMD` subsection under
    `# COMMANDS`;
  - every option `p11jwt CMD --help` lists under "Options:" appears in bold
    (`*--opt*`, `*-X*`) in that subsection; one listed under another
    heading, "Token options:" say, appears in bold in the section of that
    name (`# TOKEN OPTIONS`); -h/--help is documented once, anywhere;
  - every subcommand in CMD's usage lines (`p11jwt rotate stage ...`)
    appears in bold in the subsection;
  - the other way round: a bold option in `## CMD` is one CMD's --help
    lists, and a bold option anywhere is one some command lists (no stale
    options);
  - every P11JWT_* variable the sources getenv() is in `# ENVIRONMENT`;
  - the sections NAME, SYNOPSIS, DESCRIPTION, COMMANDS, EXIT STATUS,
    ENVIRONMENT, FILES, EXAMPLES and SEE ALSO exist, and SEE ALSO names
    every other page in man/;
  - a command with a page of its own (man/p11jwt-CMD.N.scd, e.g. the
    agent's) has its options checked in that page instead of in `## CMD`,
    and `## CMD` must point to it (`*p11jwt-CMD*(N)`).
p11jwt.conf(5), man/p11jwt.conf.5.scd
  - every key of the parser's table (src/exchange/profile.c, `keys[]`) and
    every prefix key (claim.NAME, header.NAME) has a definition line, a
    line starting `*key*`, under `# KEYS`; and no definition names a key
    the parser does not know;
  - every dialect of the dialect table (src/exchange/dialect.c) appears as
    `*name*:`;
  - the example profiles (EXAMPLES) set only keys the parser knows;
  - every key and dialect is also in `p11jwt token --help` and
    docs/exchange.md, the two other places an operator looks.
libp11jwt(3), man/libp11jwt.3.scd
  - every function declared P11JWT_API and every P11JWT_ERR_* code of
    include/p11jwt.h appears in bold.
Any other program's page (man/p11jwt-X.N.scd, X not a command of p11jwt,
e.g. p11jwt-token): the binary of that name next to p11jwt exists, and
every option of its --help appears in bold in the page.
All pages
  - every man/*.scd is listed in man/CMakeLists.txt (so it is built and
    installed);
  - in EXAMPLES, every `p11jwt CMD` names a command and every option after
    it is one of CMD's.

Environment: P11JWT_BIN (the built p11jwt), P11JWT_SRC (the source tree).
"""
import glob
import os
import re
import subprocess
import sys

SRC = os.environ.get("P11JWT_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("P11JWT_BIN") or os.path.join(SRC, "build", "p11jwt")
MAN = os.path.join(SRC, "man")

problems = []


def gap(where, msg):
    problems.append(f"{where}: {msg}")


def rel(path):
    return os.path.relpath(path, SRC)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# ---- the binaries' --help ----------------------------------------------------

def run_help(binary, *args):
    r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=30,
                       env={**os.environ, "LC_ALL": "C"})
    if r.returncode != 0:
        sys.exit(f"FAIL [man_coverage]: {binary} {' '.join(args)} --help exited "
                 f"{r.returncode}: {r.stderr.strip()}")
    return r.stdout


OPT_LINE = re.compile(r"^  (?:(-[A-Za-z]), )?(--[a-z0-9][a-z0-9-]*)")
HEADING = re.compile(r"^((?:[A-Z][a-z]* )?[Oo]ptions):\s*$")


class Help:
    """One --help text: its options by heading, and its subcommands."""

    def __init__(self, text, prog):
        self.text = text
        self.options = {}        # "--kid" -> "Options:" / "Token options:" ...
        self.shorts = {}         # "-X" -> heading
        self.subcommands = []
        heading = None
        for line in text.splitlines():
            m = HEADING.match(line)
            if m:
                heading = m.group(1) + ":"
                continue
            if line.strip() == "" or not line.startswith(" "):
                heading = None
                continue
            m = OPT_LINE.match(line)
            if m and heading is not None:
                if m.group(1):
                    self.shorts[m.group(1)] = heading
                self.options.setdefault(m.group(2), heading)
        # "Usage: p11jwt rotate stage --profile..." and its continuation
        # lines name subcommands: a lower-case word right after the command.
        for m in re.finditer(r"^(?:Usage:)?\s+" + re.escape(prog) + r" ([a-z][a-z-]*)(?=\s|$)",
                             text, re.M):
            if m.group(1) not in self.subcommands:
                self.subcommands.append(m.group(1))

    def all_options(self):
        return list(self.options) + list(self.shorts)


top_text = run_help(BIN)
commands = re.findall(r"^  ([a-z][a-z0-9-]*)  ", top_text.split("Commands:", 1)[-1]
                      .split("\n\n", 1)[0], re.M)
if not commands:
    sys.exit("FAIL [man_coverage]: found no 'Commands:' list in `p11jwt --help`; "
             "update tests/docs/man_coverage.py to its new shape")
helps = {c: Help(run_help(BIN, c), "p11jwt " + c) for c in commands}


# ---- scdoc sources -----------------------------------------------------------

BOLD = re.compile(r"(?<!\\)\*((?:\\.|[^*\\])+?)(?<!\\)\*")
OPT_IN_BOLD = re.compile(r"^(--?[A-Za-z][A-Za-z0-9-]*)")


class Page:
    """An .scd file cut into sections (`# X`) and subsections (`## Y`),
    literal blocks kept apart (a `# comment` in an example is no heading)."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)[:-len(".scd")]     # p11jwt.1
        self.lines = read(path).splitlines()
        self.sections = {}       # "COMMANDS" -> [(lineno, text)]
        self.subsections = {}    # ("COMMANDS", "sign") -> [(lineno, text)]
        self.literal = {}        # "EXAMPLES" -> [(lineno, text)] of ``` blocks
        sec, sub, in_lit = None, None, False
        for n, line in enumerate(self.lines, 1):
            if line.startswith("```"):
                in_lit = not in_lit
                continue
            if in_lit:
                self.literal.setdefault(sec, []).append((n, line))
                continue
            if line.startswith("## "):
                sub = line[3:].strip()
                self.subsections.setdefault((sec, sub), [])
                continue
            if line.startswith("# "):
                sec, sub = line[2:].strip(), None
                self.sections.setdefault(sec, [])
                continue
            if sec is not None:
                self.sections[sec].append((n, line))
                if sub is not None:
                    self.subsections[(sec, sub)].append((n, line))

    @staticmethod
    def bold(lines):
        out = []
        for _, text in lines:
            out += [m.group(1).replace("\\", "") for m in BOLD.finditer(text)]
        return out

    @classmethod
    def bold_options(cls, lines):
        found = set()
        for b in cls.bold(lines):
            m = OPT_IN_BOLD.match(b)
            if m:
                found.add(m.group(1))
        return found

    def all_lines(self):
        return [(n, t) for n, t in enumerate(self.lines, 1)]

    def terms(self, lines):
        """The bold words of definition terms among lines: a line starting
        with `*` whose next line is indented (scdoc's tagged paragraph),
        e.g. `*-X*, *--request* _METHOD_` or `*status*`."""
        out = []
        for n, text in lines:
            nxt = self.lines[n] if n < len(self.lines) else ""
            if text.startswith("*") and nxt.startswith("\t"):
                out += self.bold([(n, text)])
        return out

    def term_options(self, lines):
        return {m.group(1) for b in self.terms(lines) for m in [OPT_IN_BOLD.match(b)] if m}


pages = {os.path.basename(p)[:-len(".scd")]: Page(p)
         for p in sorted(glob.glob(os.path.join(MAN, "*.scd")))}
MAIN = "p11jwt.1"
if MAIN not in pages:
    sys.exit(f"FAIL [man_coverage]: {rel(os.path.join(MAN, MAIN + '.scd'))} is missing")
main = pages[MAIN]
main_rel = rel(main.path)

# ---- every page is built ----------------------------------------------------

cmake_list = read(os.path.join(MAN, "CMakeLists.txt"))
for name, page in pages.items():
    if not re.search(r"^\s*" + re.escape(name) + r"\s*$", cmake_list, re.M):
        gap(rel(page.path), f"not listed in man/CMakeLists.txt's P11JWT_MAN_PAGES, so "
                            f"never built or installed: add the line '  {name}'")

# ---- p11jwt(1): sections --------------------------------------------------------

for s in ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS", "ENVIRONMENT",
          "FILES", "EXAMPLES", "SEE ALSO"]:
    if s not in main.sections:
        gap(main_rel, f"has no '# {s}' section")

see_also = " ".join(t for _, t in main.sections.get("SEE ALSO", []))
for name in pages:
    if name == MAIN:
        continue
    title, sect = name.rsplit(".", 1)
    if f"*{title}*({sect})" not in see_also:
        gap(main_rel, f"SEE ALSO does not name {title}({sect}) (man/{name}.scd): "
                      f"add '*{title}*({sect})'")


# ---- p11jwt(1): commands and options ----------------------------------------------

def own_page(cmd, sub):
    """The page a command has to itself (p11jwt-agent.8 for `agent`): one
    named p11jwt-CMD that `## CMD` points to. (p11jwt-token(1) is another
    program, not `p11jwt token`: without the pointer a page is not the
    command's.)"""
    text = " ".join(t for _, t in sub)
    for name, page in pages.items():
        title, sect = name.rsplit(".", 1)
        if title == "p11jwt-" + cmd and f"*{title}*({sect})" in text:
            return page
    return None


delegated = set()


documented_anywhere = main.bold_options(main.all_lines())
every_help_option = set()
for cmd, h in helps.items():
    every_help_option.update(h.all_options())
every_help_option.update(re.findall(r"(--[a-z][a-z-]*)", top_text.split("\n\n", 1)[0]))

for opt in ["--help", "--version"]:
    if opt not in documented_anywhere:
        gap(main_rel, f"'{opt}' (from `p11jwt --help`) appears nowhere in bold: add '*{opt}*'")

for cmd, h in helps.items():
    where = f"{main_rel}: {cmd}"
    sub = main.subsections.get(("COMMANDS", cmd))
    if sub is None:
        gap(main_rel, f"command '{cmd}' (from `p11jwt --help`) has no '## {cmd}' "
                      f"subsection under '# COMMANDS'")
        continue
    delegate = own_page(cmd, sub)
    if delegate is not None:
        delegated.add(delegate.name)
        in_sub = delegate.term_options(delegate.all_lines())
        sub_where = rel(delegate.path)
    else:
        in_sub = main.term_options(sub)
        sub_where = f"'## {cmd}' of {main_rel}"
    for opt, heading in list(h.options.items()) + list(h.shorts.items()):
        if opt == "--help" or opt == "-h":
            continue
        if heading == "Options:" or delegate is not None:
            if opt not in in_sub:
                gap(where, f"option {opt} (`p11jwt {cmd} --help`, {heading}) is not in "
                           f"{sub_where}: add an entry, a line '*{opt}* ...' with its text indented below")
        else:
            section = heading[:-1].upper()
            if section not in main.sections:
                gap(main_rel, f"`p11jwt {cmd} --help` lists {opt} under '{heading}' but "
                              f"there is no '# {section}' section")
            elif opt not in main.term_options(main.sections[section]):
                gap(main_rel, f"option {opt} (`p11jwt {cmd} --help`, {heading}) is not in "
                              f"'# {section}': add an entry, a line '*{opt}* ...' with its text indented below")
    for sc in h.subcommands:
        if sc not in main.terms(sub) and (delegate is None or sc not in
                                          delegate.terms(delegate.all_lines())):
            gap(where, f"subcommand '{sc}' (usage of `p11jwt {cmd} --help`) has no entry "
                       f"in {sub_where}: add a line '*{sc}*' with its text indented below")
    # Stale: documented here, unknown to the command.
    for opt in sorted(main.bold_options(sub) - set(h.all_options())):
        gap(where, f"'## {cmd}' documents {opt}, which `p11jwt {cmd} --help` does not "
                   f"list: remove or rename it")

for opt in sorted(documented_anywhere - every_help_option):
    gap(main_rel, f"{opt} is documented in bold but no command's --help lists it: "
                  f"remove or rename it")

# ---- p11jwt(1): environment ------------------------------------------------------

env_vars = set()
for path in glob.glob(os.path.join(SRC, "src", "**", "*.c"), recursive=True):
    env_vars.update(re.findall(r'getenv\("(P11JWT_[A-Z0-9_]+)"\)', read(path)))
if not env_vars:
    gap("src/", "no getenv(\"P11JWT_...\") found: update tests/docs/man_coverage.py")
env_doc = set(main.bold(main.sections.get("ENVIRONMENT", [])))
for v in sorted(env_vars - env_doc):
    gap(main_rel, f"environment variable {v} (read by src/) is not in '# ENVIRONMENT': "
                  f"add '*{v}*'")

# ---- p11jwt.conf(5): keys and dialects ----------------------------------------------

# The key table (one macro per key: STR("token", token), DURATION(...)) and
# the claim./header. prefixes are profile.c's; the dialect table is
# dialect.c's.
profile_c = read(os.path.join(SRC, "src", "exchange", "profile.c"))
dialect_c = read(os.path.join(SRC, "src", "exchange", "dialect.c"))
table = re.search(r"static const struct key_def keys\[\] = \{(.*?)\n\};", profile_c, re.S)
keys = re.findall(r'^\s*[A-Z]+\(\s*"([a-z0-9_]+)"', table.group(1), re.M) if table else []
prefixes = re.findall(r'strncmp\(key, "([a-z_]+\.)", \d+\)', profile_c)
dtable = re.search(r"\bdialects\[\] = \{(.*?)\n\};", dialect_c, re.S)
dialects = re.findall(r'\{\s*EXCH_[A-Z0-9_]+,\s*"([a-z0-9-]+)",', dtable.group(1)) \
    if dtable else []
if len(keys) < 10 or "dialect" not in keys or not prefixes or len(dialects) < 3:
    sys.exit("FAIL [man_coverage]: cannot read the key table or the claim./header. "
             "prefixes from src/exchange/profile.c, or the dialect table from "
             "src/exchange/dialect.c; update tests/docs/man_coverage.py to where they "
             "live now")

CONF = "p11jwt.conf.5"
if CONF not in pages:
    gap(rel(os.path.join(MAN, CONF + ".scd")), "is missing")
else:
    conf = pages[CONF]
    conf_rel = rel(conf.path)
    key_lines = conf.sections.get("KEYS", [])
    defined = {}
    for n, t in key_lines:
        m = re.match(r"^\*([a-z0-9_]+)\*(?:\s|$)", t) or \
            re.match(r"^\*([a-z0-9_]+\.)\*_", t)
        if m:
            defined.setdefault(m.group(1), n)
    for k in keys + prefixes:
        if k not in defined:
            form = f"*{k}*_NAME_ = ..." if k.endswith(".") else f"*{k}* = ..."
            gap(conf_rel, f"profile key '{k}' (src/exchange/profile.c) has no definition "
                          f"under '# KEYS': add a line starting '{form}'")
    for k, n in sorted(defined.items()):
        if k not in keys and k not in prefixes:
            gap(f"{conf_rel}:{n}", f"defines key '{k}', which the parser does not know "
                                   f"(src/exchange/profile.c): remove or rename it")
    conf_text = "\n".join(t for _, t in key_lines)
    for d in dialects:
        if f"*{d}*:" not in conf_text:
            gap(conf_rel, f"dialect '{d}' (src/exchange/dialect.c) is not described under "
                          f"'# KEYS': add '*{d}*: ...' to the dialect key")

    # The example profiles use keys the parser knows.
    for n, t in conf.literal.get("EXAMPLES", []):
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_.-]*)\s*=", t)    # not "$ ..." nor indented
        if m:
            k = m.group(1)
            if k not in keys and not any(k.startswith(p) and len(k) > len(p)
                                         for p in prefixes):
                gap(f"{conf_rel}:{n}", f"example profile sets '{k}', which the parser "
                                       f"does not know")

token_help = helps.get("token").text if "token" in helps else ""
exchange_md = read(os.path.join(SRC, "docs", "exchange.md"))
for k in keys + prefixes:
    shown = k + "NAME" if k.endswith(".") else k
    if not re.search(r"(?<![\w.])" + re.escape(shown) + r"(?![\w])", token_help):
        gap("src/cli/cmd_token.c", f"profile key '{shown}' is not in `p11jwt token --help`")
    if f"`{shown}`" not in exchange_md:
        gap("docs/exchange.md", f"profile key '{shown}' is not in the key table "
                                f"(as `{shown}`)")
for d in dialects:
    if not re.search(r"(?<![\w-])" + re.escape(d) + r"(?![\w-])", token_help):
        gap("src/cli/cmd_token.c", f"dialect '{d}' is not in `p11jwt token --help`")
    if f"`{d}`" not in exchange_md:
        gap("docs/exchange.md", f"dialect '{d}' is not named (as `{d}`)")

# ---- libp11jwt(3): the API ----------------------------------------------------------

header = read(os.path.join(SRC, "include", "p11jwt.h"))
functions = re.findall(r"P11JWT_API\b[^;{]*?\b(p11jwt_[a-z0-9_]+)\s*\(", header, re.S)
codes = re.findall(r"^\s*(P11JWT_(?:OK|ERR_[A-Z0-9_]+))\b", header, re.M)
LIB = "libp11jwt.3"
if len(functions) < 10 or len(codes) < 5:
    sys.exit("FAIL [man_coverage]: cannot read the API from include/p11jwt.h; update "
             "tests/docs/man_coverage.py")
if LIB not in pages:
    gap(rel(os.path.join(MAN, LIB + ".scd")), "is missing")
else:
    lib = pages[LIB]
    lib_bold = set(lib.bold(lib.all_lines()))
    for f in functions:
        if f not in lib_bold:
            gap(rel(lib.path), f"function {f} (include/p11jwt.h) is not in bold: add "
                               f"'*{f}*' where its handle or group is described")
    for c in codes:
        if c not in lib_bold:
            gap(rel(lib.path), f"error code {c} (include/p11jwt.h) is not under "
                               f"'# RETURN VALUE': add '*{c}*'")

# ---- pages of other programs (p11jwt-token(1) ...) ---------------------------------------

for name, page in pages.items():
    prog, sect = name.rsplit(".", 1)
    if not prog.startswith("p11jwt-") or name in delegated:
        continue
    binary = os.path.join(os.path.dirname(BIN), prog)
    if not os.access(binary, os.X_OK):
        cmd = prog[len("p11jwt-"):]
        hint = (f"; if it documents the command `p11jwt {cmd}`, point to it from "
                f"'## {cmd}' in {main_rel} with '*{prog}*({sect})'" if cmd in helps else "")
        gap(rel(page.path), f"documents a program '{prog}', but there is no {binary} "
                            f"(built next to p11jwt) to check it against{hint}")
        continue
    h = Help(run_help(binary), prog)
    in_page = page.term_options(page.all_lines())
    for opt in h.all_options():
        if opt not in ("--help", "-h") and opt not in in_page:
            gap(rel(page.path), f"option {opt} (`{prog} --help`) is not in bold: add '*{opt}*'")

# ---- examples use commands and options that exist -------------------------------------------

CMD_IN_SHELL = re.compile(r"(?:^|[\s|;(&])p11jwt\s+([a-z][a-z0-9-]*)((?:\s+(?:\\\s*)?[^\s|;)<>&]+)*)")
for name, page in pages.items():
    lines = page.literal.get("EXAMPLES", [])
    # Join continuation lines ("\\" at the end, as scdoc source writes it).
    joined, buf, first = [], "", None
    for n, t in lines:
        if first is None:
            first = n
        if t.rstrip().endswith("\\\\"):
            buf += t.rstrip()[:-2] + " "
            continue
        if t.rstrip().endswith("|"):
            buf += t + " "
            continue
        joined.append((first, buf + t))
        buf, first = "", None
    for n, t in joined:
        if not t.lstrip().startswith("$ "):
            continue
        for m in CMD_IN_SHELL.finditer(t):
            cmd, rest = m.group(1), m.group(2)
            if cmd not in helps:
                gap(f"{rel(page.path)}:{n}", f"example runs 'p11jwt {cmd}', which is not a "
                                             f"command of `p11jwt --help`")
                continue
            for opt in re.findall(r"(?:^|\s)(--?[A-Za-z][A-Za-z0-9-]*)", rest):
                if opt not in helps[cmd].all_options():
                    gap(f"{rel(page.path)}:{n}", f"example gives 'p11jwt {cmd}' the option "
                                                 f"{opt}, which `p11jwt {cmd} --help` does not "
                                                 f"list")

# ---- report ------------------------------------------------------------------------------

if problems:
    print(f"The man pages are missing {len(problems)} thing(s) the program knows:",
          file=sys.stderr)
    for p in problems:
        print("  " + p, file=sys.stderr)
    print("(tests/docs/man_coverage.py; man/README.md explains the rules)", file=sys.stderr)
    sys.exit(1)
print(f"man pages cover {len(commands)} commands, "
      f"{sum(len(h.all_options()) for h in helps.values())} command options, "
      f"{len(keys) + len(prefixes)} profile keys, {len(dialects)} dialects, "
      f"{len(env_vars)} environment variables, {len(functions)} API functions and "
      f"{len(codes)} codes")
