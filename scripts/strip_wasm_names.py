"""Remove the `name` custom section from built wasm modules.

wasm-bindgen keeps the function-name table that rustc emits (1.8 MB for the
UI module, 160 KB for the worker, before compression). Browsers only use it
to print function names in stack traces; the site does not need it, and it
would count against the first-load budget. Every other section, custom ones
included, is copied byte for byte.

Trunk writes a sha384 `integrity` attribute for each module it preloads, so
the hashes in `index.html` are updated to the stripped bytes.

Usage: python3 scripts/strip_wasm_names.py dist
"""
import base64
import hashlib
import pathlib
import sys


def leb128(data, pos):
    """Reads an unsigned LEB128 at `pos`; returns (value, next position)."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def strip(data):
    if data[:4] != b"\0asm":
        raise ValueError("not a wasm module")
    out = bytearray(data[:8])
    pos = 8
    while pos < len(data):
        start = pos
        section_id = data[pos]
        size, body = leb128(data, pos + 1)
        end = body + size
        if end > len(data):
            raise ValueError(f"section at byte {start} runs past the end of the file")
        if section_id == 0:
            name_len, name_start = leb128(data, body)
            if data[name_start:name_start + name_len] == b"name":
                pos = end
                continue
        out += data[start:end]
        pos = end
    return bytes(out)


def sri(data):
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


dist = pathlib.Path(sys.argv[1])
index = dist / "index.html"
html = index.read_text()
for path in sorted(dist.glob("*.wasm")):
    data = path.read_bytes()
    stripped = strip(data)
    path.write_bytes(stripped)
    html = html.replace(sri(data), sri(stripped))
    print(f"    {path.name}: {len(data)} -> {len(stripped)} bytes (name section removed)")
index.write_text(html)
