#!/usr/bin/env bash
# Source checks the compiler does not make, run by scripts/test.sh (and by
# hand: scripts/check-source.sh [-v] [FILE...]; no files = every C/C++ file
# git knows under lib/ services/ tools/ tests/ bench/).
#
# Failing (exit 1):
#   banned   a call STYLE.md bans: sprintf, vsprintf, strcpy, strcat, gets,
#            strtok, localtime, gmtime, ctime, asctime, strerror, atoi, atol,
#            atoll (use snprintf with a truncation check, the _r variants,
#            strtoll with an end-pointer check).
#   snprintf the clear cases of a truncation nobody looks at:
#            - the length snprintf returns is kept (n = snprintf(...)) and
#              used, but never compared with anything: a cut result makes n
#              larger than the buffer;
#            - the result is ignored and the buffer is a URL, SQL, a path,
#              a key, a topic, a DSN or a query (its name says so): a cut one
#              is a different one.
#            Output that provably fits (integers, literals and %.Ns into an
#            array whose size is written as a number) is never a case.
#            Intended truncation says so on the call's line or in the
#            comment right above it: /* trunc-ok: why */.
# Reported only:
#   long     functions over 80 lines (from the opening to the closing brace).
#   wur      functions declared in a header that return an error code (the
#            comment above says -1 or "Returns 0") or an owned pointer (the
#            comment says free / destroy / caller owns, or the name ends in
#            _new, _dup, _take) without warn_unused_result, unless the
#            comment says a caller "may ignore" it.
#   snprintf ignored results into other buffers (-v lists them).
# Needs bash and python3 only; takes well under a second per thousand files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

verbose=0
if [[ ${1:-} == -v ]]; then
    verbose=1
    shift
fi
if (($# == 0)); then
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        mapfile -t files < <(git ls-files -- 'lib/*' 'services/*' 'tools/*' 'tests/*' 'bench/*' |
            grep -E '\.(c|h|cc|hh)$')
    else
        mapfile -t files < <(find lib services tools tests bench -name '*.[ch]' -o -name '*.cc' -o -name '*.hh' 2>/dev/null)
    fi
else
    files=("$@")
fi

exec python3 - "$verbose" "${files[@]}" <<'PY'
import re
import signal
import sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under | head

VERBOSE = sys.argv[1] == "1"
FILES = [f for f in sys.argv[2:] if f]
MAX_LINES = 80
BANNED = ("sprintf vsprintf strcpy strcat gets strtok localtime gmtime ctime asctime "
          "strerror atoi atol atoll").split()
BANNED_RE = re.compile(r"(?<![\w.>])(" + "|".join(BANNED) + r")\s*\(")
SNPRINTF_RE = re.compile(r"(?<![\w.>])(v?snprintf)\s*\(")
# A buffer whose cut contents would be a different thing, not a shorter one.
MATTERS = {"url", "uri", "sql", "path", "key", "topic", "dsn", "query", "file", "filename", "dir"}
KEYWORDS = {"if", "while", "for", "switch", "return", "sizeof", "do", "else"}
INT_CONV = set("diouxXc")


def blank(src):
    """Comments, string and char literals and preprocessor lines become
    spaces (quotes and newlines stay), so braces, parentheses and commas in
    them do not count. Returns the blanked text."""
    out = list(src)
    i, n = 0, len(src)
    line_start = True
    while i < n:
        c = src[i]
        if line_start and c in " \t":
            i += 1
            continue
        if line_start and c == "#":
            while i < n:
                if src[i] == "\n" and src[i - 1] != "\\":
                    break
                if src[i] != "\n":
                    out[i] = " "
                i += 1
            continue
        line_start = False
        if c == "\n":
            line_start = True
            i += 1
        elif src.startswith("//", i):
            while i < n and src[i] != "\n":
                out[i] = " "
                i += 1
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if src[k] != "\n":
                    out[k] = " "
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            for k in range(i + 1, min(j, n)):
                out[k] = " "
            i = j + 1
        else:
            i += 1
    return "".join(out)


class Source:
    def __init__(self, path):
        self.path = path
        self.text = open(path, encoding="utf-8", errors="replace").read()
        self.code = blank(self.text)
        self.lines = self.text.split("\n")
        self.starts = [0]
        for m in re.finditer("\n", self.text):
            self.starts.append(m.end())

    def line_of(self, pos):
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    def allowed(self, line, tag):
        """tag ("trunc-ok:") on this line or in the comment right above."""
        if tag in self.lines[line - 1]:
            return True
        ln = line - 1
        while ln >= 1 and line - ln <= 6:
            text = self.lines[ln - 1].strip()
            if tag in text:
                return True
            if not text.startswith(("/*", "*", "//")) and not text.endswith("*/"):
                return False
            ln -= 1
        return False

    def match_back(self, close, open_ch, close_ch):
        depth = 0
        for i in range(close, -1, -1):
            ch = self.code[i]
            if ch == close_ch:
                depth += 1
            elif ch == open_ch:
                depth -= 1
                if depth == 0:
                    return i
        return -1

    def match_forward(self, open_, open_ch, close_ch):
        depth = 0
        for i in range(open_, len(self.code)):
            ch = self.code[i]
            if ch == open_ch:
                depth += 1
            elif ch == close_ch:
                depth -= 1
                if depth == 0:
                    return i
        return -1

    def prev_nonspace(self, pos):
        i = pos - 1
        while i >= 0 and self.code[i].isspace():
            i -= 1
        return i

    def functions(self):
        """(name, first line, last line, body start, body end) of every
        function definition; extern "C" and namespace blocks are looked
        through."""
        code = self.code
        found = []
        i, n = 0, len(code)
        while i < n:
            if code[i] != "{":
                i += 1
                continue
            end = self.match_forward(i, "{", "}")
            if end < 0:
                break
            head = code[max(0, i - 300):i]
            name = None
            j = self.prev_nonspace(i)
            # trailing qualifiers: ") const", ") noexcept", ") override"
            while j >= 0 and (code[j].isalnum() or code[j] == "_"):
                k = j
                while k >= 0 and (code[k].isalnum() or code[k] == "_"):
                    k -= 1
                if code[k + 1:j + 1] not in ("const", "noexcept", "override", "final"):
                    break
                j = self.prev_nonspace(k + 1)
            if j >= 0 and code[j] == ")":
                o = self.match_back(j, "(", ")")
                m = re.search(r"([A-Za-z_][\w:~]*)\s*$", code[max(0, o - 200):o]) if o > 0 else None
                if m and m.group(1) not in KEYWORDS:
                    name = m.group(1)
            if name is None and re.search(r"(extern\s+\"\s*\"|namespace(\s+\w+)?)\s*$", head):
                i += 1  # look inside
                continue
            if name is not None:
                found.append((name, self.line_of(i), self.line_of(end), i, end))
            i = end + 1
        return found


def split_args(src, open_, close):
    """Top-level argument spans (start, end) between the parentheses."""
    spans, depth, start = [], 0, open_ + 1
    for i in range(open_ + 1, close):
        ch = src.code[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            spans.append((start, i))
            start = i + 1
    spans.append((start, close))
    return spans


def literal_max(expr):
    """Longest string a literal or a ternary of literals can be, else None."""
    lits = re.findall(r'"((?:[^"\\]|\\.)*)"', expr)
    rest = re.sub(r'"((?:[^"\\]|\\.)*)"', "", expr)
    if not lits or re.search(r"[A-Za-z_]\w*\s*(\(|\[|->|\.)|[+*/]", rest):
        return None
    return max(len(bytes(l, "utf-8").decode("unicode_escape")) for l in lits)


def output_bound(fmt_expr, args, arg_size=lambda a: None):
    """Most bytes the format can produce, or None when unbounded/unknown."""
    fmt_expr = re.sub(r"\bPRI[diouxX]\w*", '"lld"', fmt_expr)
    lits = re.findall(r'"((?:[^"\\]|\\.)*)"', fmt_expr)
    if not lits or re.sub(r'"((?:[^"\\]|\\.)*)"', "", fmt_expr).strip():
        return None
    fmt = "".join(lits)
    total, ai = 0, 0
    pos = 0
    for m in re.finditer(r"%([-+ #0]*)(\d+|\*)?(?:\.(\d+|\*))?(hh|h|ll|l|j|z|t|L)?([a-zA-Z%])", fmt):
        total += len(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, _, conv = m.groups()
        if conv == "%":
            total += 1
            continue
        if width == "*":
            return None
        if prec == "*":
            ai += 1
            if conv == "s":
                if ai - 1 < len(args):
                    pm = re.fullmatch(r"\s*(?:\(int\))?\s*(\d+)\s*", args[ai - 1])
                    if pm:
                        total += max(int(pm.group(1)), int(width or 0))
                        ai += 1
                        continue
                return None
        w = int(width or 0)
        if conv in INT_CONV:
            total += max(w, 1 if conv == "c" else 21 if m.group(4) else 11)
        elif conv == "s":
            if prec is not None and prec != "*":
                total += max(w, int(prec))
            elif ai < len(args) and literal_max(args[ai]) is not None:
                total += max(w, literal_max(args[ai]))
            elif ai < len(args) and arg_size(args[ai]) is not None:
                total += max(w, arg_size(args[ai]) - 1)
            else:
                return None
        else:
            return None
        ai += 1
    total += len(fmt[pos:])
    return total


def array_size(src, name, before):
    """N when `char name[N]` (a number) is declared before `before`."""
    pat = re.compile(r"\bchar\s+(?:\w+\s*\[\s*\w+\s*\]\s*,\s*)*" + re.escape(name) + r"\s*\[\s*(\d+)\s*\]")
    sizes = [int(m.group(1)) for m in pat.finditer(src.code[:before])]
    return sizes[-1] if sizes else None


def check_snprintf(src, fn_spans, fails, notes):
    for m in SNPRINTF_RE.finditer(src.code):
        open_ = src.code.index("(", m.end(1))
        close = src.match_forward(open_, "(", ")")
        if close < 0:
            continue
        line = src.line_of(m.start())
        if src.allowed(line, "trunc-ok:"):
            continue
        spans = split_args(src, open_, close)
        args = [src.text[a:b].strip() for a, b in spans]
        if m.group(1) == "vsnprintf" or len(args) < 3:
            fmt_bound = None
        else:
            fmt_bound = output_bound(
                args[2], args[3:],
                lambda a: array_size(src, a, m.start()) if re.fullmatch(r"\w+", a) else None)
        dest = args[0]
        dest_name = re.sub(r"\s", "", dest)
        base = re.search(r"(\w+)\s*(?:\+.*)?$", dest)
        base_name = base.group(1) if base else dest_name
        size = array_size(src, base_name, m.start()) if re.fullmatch(r"\w+", dest) else None
        if fmt_bound is not None and size is not None and fmt_bound < size:
            continue
        before = src.prev_nonspace(m.start())
        after = close + 1
        while after < len(src.code) and src.code[after].isspace():
            after += 1
        nxt = src.code[after] if after < len(src.code) else ";"
        prev = src.code[before] if before >= 0 else ";"
        if prev == "=" and src.code[before - 1] not in "=!<>" and nxt == ";":
            var = re.search(r"([A-Za-z_]\w*)\s*=\s*$", src.code[max(0, before - 80):before + 1])
            if not var:
                continue
            v = var.group(1)
            fn = next((f for f in fn_spans if f[3] < m.start() < f[4]), None)
            tail = src.code[after + 1:(fn[4] if fn else len(src.code))]
            cmp_ = re.compile(r"\b" + v + r"\b\s*(>=|<=|>|<|==|!=)|(>=|<=|>|<|==|!=)\s*(\(\w+\)\s*)?\b" + v + r"\b")
            uses = re.findall(r"\b" + v + r"\b", tail)
            if uses and not cmp_.search(tail) and not src.path.startswith("tests/"):
                fails.append("%s:%d: snprintf: '%s' = the length, used but never compared "
                             "with the buffer's size (a cut result makes it too large)" % (src.path, line, v))
            continue
        ignored = nxt == ";" and (prev in ";{}:" or src.code[max(0, before - 5):before + 1].endswith("(void)")
                                  or re.search(r"\b(else|do)$", src.code[max(0, before - 5):before + 1])
                                  or (prev == ")" and re.search(r"\b(if|for|while)\s*$",
                                                                src.code[max(0, src.match_back(before, "(", ")") - 8):
                                                                         max(0, src.match_back(before, "(", ")"))])))
        if not ignored:
            continue
        what = "%s:%d: snprintf into '%s' ignores truncation" % (src.path, line, dest_name)
        field = re.findall(r"\w+", dest_name)
        field = field[-1] if field and ("->" in dest_name or "." in dest_name) else base_name
        # In tests a cut string fails the test; elsewhere it is a silent bug.
        if MATTERS & set(field.lower().split("_")) and not src.path.startswith("tests/"):
            fails.append(what + " (a cut one is a different one: check it, or say /* trunc-ok: why */)")
        else:
            notes.append(what)


HEADER_DECL_RE = re.compile(r"(?ms)^([A-Za-z_][\w \t\*]*?[\s\*])([a-z_]\w*)\s*\(([^;{]*?)\)\s*([^;{]*);")


def check_header(src, notes):
    code = src.code
    for m in HEADER_DECL_RE.finditer(code):
        ret, name, attrs = m.group(1).strip(), m.group(2), m.group(4) + m.group(1)
        if ret.startswith(("typedef", "return")) or name in KEYWORDS or "warn_unused_result" in src.text[m.start():m.end()]:
            continue
        if re.search(r"\bstatic\b", ret) and "inline" not in ret:
            continue
        line = src.line_of(m.start(2))
        # the comment right above the declaration
        k = line - 2
        comment = []
        while k >= 0 and src.lines[k].strip() and not src.lines[k].rstrip().endswith((";", "}")):
            comment.insert(0, src.lines[k])
            k -= 1
        comment = " ".join(re.sub(r"^\s*(/\*+|\*+/?|//)?\s*|\s*\*/\s*$", "", c) for c in comment)
        pointer = ret.endswith("*") and not re.search(r"\bconst\b", ret)
        why = None
        if re.fullmatch(r"(extern\s+)?int", ret) and re.search(r"-1|[Rr]eturns 0|negative|SQLSTATE|error", comment) \
                and not re.search(r"[Cc]an't fail", comment):
            why = "returns an error code"
        elif pointer and (re.search(r"free\(\)|free it|[Cc]aller (owns|frees)|_destroy|_free\b|owned by the caller", comment)
                          or re.search(r"_(new|dup|take)$", name)):
            why = "returns an owned pointer"
        if why and "may ignore" not in comment:
            notes.append("%s:%d: %s %s without warn_unused_result" % (src.path, line, name, why))


def main():
    fails, long_fns, wur, snp = [], [], [], []
    for path in FILES:
        try:
            src = Source(path)
        except OSError as e:
            fails.append("%s: cannot read (%s)" % (path, e.strerror))
            continue
        for m in BANNED_RE.finditer(src.code):
            line = src.line_of(m.start())
            if not src.allowed(line, "banned-ok:"):
                fails.append("%s:%d: %s() is banned (STYLE.md)" % (path, line, m.group(1)))
        fns = src.functions()
        for name, first, last, _, _ in fns:
            if last - first + 1 > MAX_LINES:
                long_fns.append((last - first + 1, path, name, first))
        check_snprintf(src, fns, fails, snp)
        if path.endswith(".h"):
            check_header(src, wur)
    long_fns.sort(key=lambda f: (-f[0], f[1]))
    print("check-source: %d files" % len(FILES))
    if long_fns:
        print("functions over %d lines (%d, not failing):" % (MAX_LINES, len(long_fns)))
        for n, path, name, first in long_fns:
            print("  %4d %s:%d %s" % (n, path, first, name))
    if wur:
        print("header functions without warn_unused_result (%d, not failing):" % len(wur))
        for w in wur:
            print("  " + w)
    if snp:
        print("snprintf results ignored into other buffers: %d (not failing%s)"
              % (len(snp), "" if VERBOSE else "; -v lists them"))
        if VERBOSE:
            for s in snp:
                print("  " + s)
    if fails:
        print("FAILED (%d):" % len(fails))
        for f in fails:
            print("  " + f)
        return 1
    print("check-source: ok")
    return 0


sys.exit(main())
PY
