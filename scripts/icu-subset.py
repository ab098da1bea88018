#!/usr/bin/env python3
"""ICU's data for the shipped agent, without the parts it never opens.

Reads ICU's packaged data (symbol icudtNN_dat, member icu_packaged_data.cpp.o of the
toolchain's lib_FoundationICU.a), drops the item trees listed in DROPPED below, and writes
an object file with the rest. Nothing of ICU is kept in the repository: the items come from
the toolchain at build time, byte for byte.

    scripts/icu-subset.py --out DIR [--archive lib_FoundationICU.a] [--list] [--empty]
    scripts/icu-subset.py --check-binary UNSTRIPPED-BINARY

Prints the linker arguments, one per line, for `-Xlinker` each: the object, and
`--defsym=icudtNN_dat=helpline_icudtNN_dat`. The object's symbol has a name of its own
because the linker sees `-Xlinker` files only after the libraries: an object defining
icudtNN_dat itself would clash with the archive's member, which the linker has pulled by
then. A --defsym'd symbol is defined before any input is read, so the member is never pulled
and the 34 MB original stays out. --check-binary fails unless the binary's icudtNN_dat is the
subset's. --list prints every item of the toolchain's package with its size and whether it is
kept. --empty writes a package with no items at all: only to confirm that
packaging/tests/icu.sh fails without ICU's data (never for a shipped build).
Fails, naming what it found, when the archive, the symbol or the package are not laid out
as this script expects (an ICU update may need DROPPED reviewed: BENCHMARKS.md, "Binary size").
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

MEMBER = "icu_packaged_data.cpp.o"

# Item trees (below "icudtNNl/") and item types the agent never opens, with why. What it does
# open was traced (gdb on ICU's doOpenChoice) over collect, request with local diagnosis of
# every built-in rule and extra redaction rules, preview, status and status --json in several
# locales and time zones, and the daemon: locale data (the main tree), currency data (curr/,
# which number formatting loads for the locale) and time zone names (zone/), nothing else.
# Those trees are kept whole, for every locale, and so is every small item at the top (rules
# may use \N{NAME}, which reads unames.icu).
DROPPED = {
    "coll/": "collation (locale-aware sorting and comparing): the agent compares as Swift does",
    "brkitr/": "break iterators and their dictionaries: no word/sentence/line breaking; "
               "regex \\b is ICU's simple word boundary (no UREGEX_UWORD)",
    "unit/": "measurement unit names: no MeasurementFormatter",
    "lang/": "language display names: no Locale.localizedString",
    "region/": "region display names: no Locale.localizedString",
    "translit/": "transliterators: no StringTransform",
    "rbnf/": "spelled-out numbers: no spellOut number formatting",
    ".cnv": "table-based legacy charset converters: the agent reads and writes UTF-8 only "
            "(UTF-8, ASCII and Latin-1 converters are code, not data)",
}

# Items the trace saw opened (in the C/English locale; other locales open their own too),
# and unames.icu for \N{NAME} in rules: each must be in the subset.
OPENED = ["root.res", "en.res", "en_001.res", "en_US.res", "en_US_POSIX.res", "pool.res",
          "supplementalData.res", "likelySubtags.res", "keyTypeData.res", "numberingSystems.res",
          "zoneinfo64.res", "timezoneTypes.res", "metaZones.res", "unames.icu",
          "curr/root.res", "curr/en.res", "curr/pool.res", "curr/supplementalData.res",
          "zone/root.res", "zone/en.res", "zone/pool.res"]


def fail(message):
    sys.exit(f"icu-subset.py: {message}")


def run(*argv):
    try:
        return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=300).stdout
    except FileNotFoundError:
        fail(f"{argv[0]} is missing (apt-get install binutils)")
    except subprocess.CalledProcessError as e:
        fail(f"{' '.join(argv)} failed: {e.stderr.strip()}")
    except subprocess.TimeoutExpired:
        fail(f"{' '.join(argv)} took more than 300 s")


def toolchain_archive():
    swift = shutil.which("swift")
    if not swift:
        fail("swift is not on PATH; pass --archive")
    usr = os.path.dirname(os.path.dirname(os.path.realpath(swift)))
    return os.path.join(usr, "lib", "swift_static", "linux", "lib_FoundationICU.a")


def read_member(archive, work):
    """The data blob and its symbol name, checked against the member's symbol table."""
    if not os.path.isfile(archive):
        fail(f"{archive} does not exist (is this a Swift toolchain with a static Foundation?)")
    members = run("ar", "t", archive).split()
    if MEMBER not in members:
        fail(f"{archive} has no member {MEMBER}; ICU's data is packaged differently now")
    obj = os.path.join(work, MEMBER)
    with open(obj, "wb") as f:
        f.write(subprocess.run(["ar", "p", archive, MEMBER], check=True, capture_output=True, timeout=300).stdout)
    defined = [line.split() for line in run("nm", "--defined-only", "--print-size", obj).splitlines() if line.strip()]
    if len(defined) != 1 or len(defined[0]) != 4 or not re.fullmatch(r"icudt\d+_dat", defined[0][3]) or defined[0][2] not in "Rr":
        fail(f"{MEMBER} should define exactly one read-only symbol icudtNN_dat; nm says {defined}")
    value, size, _, symbol = defined[0]
    blob_path = os.path.join(work, "original.bin")
    run("objcopy", "-O", "binary", "--only-section=.rodata", obj, blob_path)
    blob = open(blob_path, "rb").read()
    if int(value, 16) != 0 or int(size, 16) != len(blob):
        fail(f"{symbol} is not the whole .rodata of {MEMBER} (at {value}, {int(size, 16)} bytes; section {len(blob)} bytes)")
    return symbol, blob


def parse_package(blob, symbol):
    """(header bytes, [(name, item bytes)]) of an ICU common data package ("CmnD")."""
    if len(blob) < 32:
        fail(f"{symbol} is {len(blob)} bytes, too short for an ICU data header")
    header_size, magic1, magic2 = struct.unpack_from("<HBB", blob, 0)
    info_size, _, big_endian, charset, _, _ = struct.unpack_from("<HHBBBB", blob, 4)
    data_format = blob[12:16]
    format_version = blob[16]
    if (magic1, magic2) != (0xDA, 0x27):
        fail(f"{symbol} does not start with ICU's data magic (da 27), found {magic1:02x} {magic2:02x}")
    if big_endian != 0 or charset != 0:
        fail(f"{symbol} is not little-endian ASCII-family data (isBigEndian {big_endian}, charsetFamily {charset})")
    if data_format != b"CmnD" or format_version != 1:
        fail(f"{symbol} is not an ICU common data package version 1 (dataFormat {data_format!r}, formatVersion {format_version})")
    count = struct.unpack_from("<I", blob, header_size)[0]
    entries = [struct.unpack_from("<II", blob, header_size + 4 + 8 * i) for i in range(count)]
    prefix = "icudt" + re.fullmatch(r"icudt(\d+)_dat", symbol).group(1) + "l/"
    items = []
    for i, (name_offset, data_offset) in enumerate(entries):
        start = header_size + name_offset
        name = blob[start:blob.index(b"\0", start)].decode("ascii")
        if not name.startswith(prefix):
            fail(f"item {name!r} of {symbol} is not below {prefix}")
        begin = header_size + data_offset
        end = header_size + entries[i + 1][1] if i + 1 < count else len(blob)
        if not 0 < begin <= end <= len(blob):
            fail(f"item {name} of {symbol} lies outside the package ({begin}..{end} of {len(blob)})")
        items.append((name, blob[begin:end]))
    names = [n for n, _ in items]
    if names != sorted(names):  # ICU finds items by binary search over the names
        fail(f"the items of {symbol} are not sorted by name")
    return blob[:header_size], prefix, items


def dropped_by(name, prefix):
    """The DROPPED key that drops item `name`, or None when it is kept."""
    rest = name[len(prefix):]
    for key in DROPPED:
        if (key.endswith("/") and rest.startswith(key)) or (key.startswith(".") and "/" not in rest and rest.endswith(key)):
            return key
    return None


def write_package(header, items):
    """A package like ICU's own: header, count, (name offset, data offset) pairs, names, then
    each item 16-byte aligned; offsets count from the end of the header."""
    table = 4 + 8 * len(items)
    names = b"".join(n.encode("ascii") + b"\0" for n, _ in items)
    offsets, position = [], table
    for n, _ in items:
        offsets.append(position)
        position += len(n) + 1
    data_start = len(header) + position
    data_start += -data_start % 16
    out = bytearray(header)
    out += struct.pack("<I", len(items))
    at = data_start
    data_offsets = []
    for _, data in items:
        data_offsets.append(at - len(header))
        at += len(data) + (-len(data) % 16)
    for name_offset, data_offset in zip(offsets, data_offsets):
        out += struct.pack("<II", name_offset, data_offset)
    out += names
    out += b"\0" * (data_start - len(out))
    for _, data in items:
        out += data + b"\0" * (-len(data) % 16)
    return bytes(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="folder for icu-subset.o")
    parser.add_argument("--check-binary", metavar="FILE", help="check that FILE (unstripped) uses the subset")
    parser.add_argument("--archive", default=None, help="lib_FoundationICU.a (default: the toolchain's of `swift` on PATH)")
    parser.add_argument("--list", action="store_true", help="print every item, its size and kept/dropped")
    parser.add_argument("--empty", action="store_true", help="no items at all (only to see a check fail)")
    args = parser.parse_args()
    if args.check_binary:
        check_binary(args.check_binary)
        return
    if not args.out:
        parser.error("--out or --check-binary is required")

    archive = args.archive or toolchain_archive()
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="icu-subset.") as work:
        symbol, blob = read_member(archive, work)
        header, prefix, items = parse_package(blob, symbol)
        kept = [] if args.empty else [(n, d) for n, d in items if dropped_by(n, prefix) is None]
        for key in DROPPED:
            if not any(dropped_by(n, prefix) == key for n, _ in items):
                fail(f"no item of {symbol} matches dropped entry {key!r}: the package changed, review DROPPED")
        kept_names = {n[len(prefix):] for n, _ in kept}
        missing = [n for n in OPENED if n not in kept_names]
        if missing and not args.empty:
            fail(f"the subset lacks items the agent opens: {missing} (is {symbol} laid out differently now?)")
        if args.list:
            for n, d in items:
                why = dropped_by(n, prefix)
                print(f"{len(d):10d}  {'dropped' if why else 'kept   '}  {n}", file=sys.stderr)
        package = write_package(header, kept)
        # Read back what was written: the same items, byte for byte.
        _, _, again = parse_package(package, symbol)
        if [n for n, _ in again] != [n for n, _ in kept] or any(a[1][:len(k[1])] != k[1] for a, k in zip(again, kept)):
            fail("the written package does not read back as the items kept")

        blob_path = os.path.join(work, "subset.bin")
        with open(blob_path, "wb") as f:
            f.write(package)
        asm = os.path.join(work, "icu-subset.s")
        local = "helpline_" + symbol  # its own name, for --defsym (see the top)
        with open(asm, "w") as f:
            f.write(f'\t.section .rodata.{local},"a",@progbits\n\t.balign 16\n\t.globl {local}\n'
                    f'\t.type {local}, @object\n\t.size {local}, {len(package)}\n{local}:\n'
                    f'\t.incbin "{blob_path}"\n\t.section .note.GNU-stack,"",@progbits\n')
        obj = os.path.join(os.path.abspath(args.out), "icu-subset.o")
        run("as", "-o", obj, asm)
    print(f"icu-subset.py: {symbol} {len(blob) / 1e6:.1f} MB, {len(items)} items -> {len(package) / 1e6:.1f} MB, "
          f"{len(kept)} items", file=sys.stderr)
    print(obj)
    print(f"--defsym={symbol}={local}")


def check_binary(path):
    """Fails unless `path`'s icudtNN_dat is helpline_icudtNN_dat (the subset)."""
    symbols = {}
    for line in run("nm", path).splitlines():
        parts = line.split()
        if len(parts) == 3 and re.fullmatch(r"(helpline_)?icudt\d+_dat", parts[2]):
            symbols[parts[2]] = parts[0]
    data = [name for name in symbols if name.startswith("icudt")]
    if len(data) != 1:
        fail(f"{path} should have one icudtNN_dat symbol (is it stripped?); nm found {sorted(symbols)}")
    if symbols.get("helpline_" + data[0]) != symbols[data[0]]:
        fail(f"{path} links the toolchain's full {data[0]}, not the subset: {symbols}")
    print(f"icu-subset.py: {path} uses the subset of {data[0]}", file=sys.stderr)


if __name__ == "__main__":
    main()
