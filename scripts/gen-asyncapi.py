#!/usr/bin/python3
"""Regenerates the payload schemas of api/asyncapi.yaml from proto/ecm/v1/events.proto.

Everything in api/asyncapi.yaml after the GENERATED marker line (the
`components.schemas` map) is written here from the .proto, through protoc's
descriptor set (protoc --descriptor_set_out --include_source_info, read with
python3-protobuf): one JSON Schema per message and enum, with the .proto's
comments as descriptions. The part above the marker (channels, operations,
messages, headers, prose) is hand-written and kept as it is.

The schemas are JSON Schema (AsyncAPI's default schema format) rather than an
AsyncAPI 3 multi-format schema with the protobuf format: @asyncapi/parser 3.x
validates JSON Schema payloads without plugins, and the generators (Modelina,
html-template) render them; the protobuf format needs a separate parser
plugin and the .proto text inlined. They describe the fields of each protobuf
message: names as in the .proto, enums by value name, 64-bit integers as
integers. The bytes on Kafka stay protobuf (content-type
application/protobuf); the .proto is the schema of record.

Usage: scripts/gen-asyncapi.py [--check] [--out FILE]
  (no option)  rewrite api/asyncapi.yaml in place
  --out FILE   write the regenerated document to FILE instead
  --check      exit 1, printing a diff, when api/asyncapi.yaml differs from
               what would be generated
Also exits 1 when a .proto message has no AsyncAPI message whose payload
refers to its schema, or a payload refers to a schema the .proto lacks.
Needs protoc (protobuf-compiler), python3-protobuf and python3-yaml.
"""
import argparse
import difflib
import os
import subprocess
import sys
import tempfile

import yaml
from google.protobuf import descriptor_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO_DIR = "proto"
PROTO_FILE = "ecm/v1/events.proto"
DOC = os.path.join(ROOT, "api", "asyncapi.yaml")
MARKER = ("  # GENERATED from proto/ecm/v1/events.proto by scripts/gen-asyncapi.py: "
          "do not edit below this line.")

FD = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BOOL: {"type": "boolean"},
    FD.TYPE_INT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FD.TYPE_UINT32: {"type": "integer", "format": "int32", "minimum": 0},
    FD.TYPE_FIXED32: {"type": "integer", "format": "int32", "minimum": 0},
    FD.TYPE_INT64: {"type": "integer", "format": "int64"},
    FD.TYPE_SINT64: {"type": "integer", "format": "int64"},
    FD.TYPE_SFIXED64: {"type": "integer", "format": "int64"},
    FD.TYPE_UINT64: {"type": "integer", "format": "int64", "minimum": 0},
    FD.TYPE_FIXED64: {"type": "integer", "format": "int64", "minimum": 0},
    FD.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FD.TYPE_FLOAT: {"type": "number", "format": "float"},
    FD.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}


def fail(msg):
    print(f"gen-asyncapi: {msg}", file=sys.stderr)
    sys.exit(1)


def load_descriptor():
    """Runs protoc on the .proto; returns its FileDescriptorProto."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "events.pb")
        cmd = ["protoc", "--include_source_info", f"--descriptor_set_out={out}",
               f"-I{os.path.join(ROOT, PROTO_DIR)}", PROTO_FILE]
        try:
            subprocess.run(cmd, check=True, cwd=ROOT)
        except (OSError, subprocess.CalledProcessError) as err:
            fail(f"protoc failed: {err}")
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
    return fds.file[0]


def comments(fdp):
    """Maps a source path (tuple) to its comment text, leading then trailing."""
    out = {}
    for loc in fdp.source_code_info.location:
        parts = [c.strip() for c in (loc.leading_comments, loc.trailing_comments) if c.strip()]
        if parts:
            text = " ".join(" ".join(line.strip() for line in p.splitlines()) for p in parts)
            out[tuple(loc.path)] = text
    return out


def build_schemas(fdp):
    """Returns {name: schema} for every top-level enum and message, in .proto order."""
    notes = comments(fdp)
    pkg = fdp.package
    schemas = {}
    # FileDescriptorProto field numbers: message_type = 4, enum_type = 5;
    # DescriptorProto.field = 2; EnumDescriptorProto.value = 2.
    for i, e in enumerate(fdp.enum_type):
        s = {"title": f"{pkg}.{e.name}", "type": "string"}
        if (5, i) in notes:
            s["description"] = notes[(5, i)]
        s["enum"] = [v.name for v in e.value]
        s["x-proto-enum"] = {v.name: v.number for v in e.value}
        schemas[e.name] = s
    for i, m in enumerate(fdp.message_type):
        if m.nested_type or m.enum_type or m.oneof_decl:
            fail(f"message {m.name}: nested types and oneofs are not handled; extend the generator")
        s = {"title": f"{pkg}.{m.name}", "type": "object"}
        if (4, i) in notes:
            s["description"] = notes[(4, i)]
        s["x-proto-message"] = f"{pkg}.{m.name}"
        props = {}
        for j, f in enumerate(m.field):
            if f.type == FD.TYPE_ENUM:
                ref = f.type_name.rsplit(".", 1)[-1]
                p = {"$ref": f"#/components/schemas/{ref}"}
            elif f.type in SCALARS:
                p = dict(SCALARS[f.type])
            else:
                fail(f"{m.name}.{f.name}: field type {f.type} is not handled; extend the generator")
            if f.label == FD.LABEL_REPEATED:
                p = {"type": "array", "items": p}
            note = notes.get((4, i, 2, j))
            if "$ref" in p:
                # A $ref's siblings are ignored by some tools: wrap it.
                p = {"allOf": [p]}
            if note:
                p["description"] = note
            p["x-proto-field"] = f.number
            props[f.name] = p
        s["properties"] = props
        schemas[m.name] = s
    return schemas


def check_messages(head_text, schemas, fdp):
    """Fails unless every .proto message is some AsyncAPI message's payload and
    every payload $ref names a generated schema."""
    doc = yaml.safe_load(head_text)
    msgs = (doc.get("components") or {}).get("messages") or {}
    used = set()
    for name, msg in msgs.items():
        ref = (msg.get("payload") or {}).get("$ref", "")
        prefix = "#/components/schemas/"
        if not ref.startswith(prefix) or ref[len(prefix):] not in schemas:
            fail(f"components.messages.{name}: payload must be $ref '{prefix}<Message>' "
                 f"naming a message of {PROTO_FILE} (has {ref!r})")
        used.add(ref[len(prefix):])
    missing = [m.name for m in fdp.message_type if m.name not in used]
    if missing:
        fail(f"no AsyncAPI message carries {', '.join(missing)} (add it under components.messages)")


def render(schemas):
    body = yaml.safe_dump({"schemas": schemas}, sort_keys=False, width=96,
                          allow_unicode=True, default_flow_style=False)
    return "".join(("  " + line if line.strip() else line) for line in body.splitlines(True))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    if MARKER not in lines:
        fail(f"{DOC}: marker line not found (it must read exactly: {MARKER.strip()})")
    head = "\n".join(lines[: lines.index(MARKER) + 1]) + "\n"
    fdp = load_descriptor()
    schemas = build_schemas(fdp)
    check_messages(head, schemas, fdp)
    new = head + render(schemas)
    if args.check:
        if new != text:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(True), new.splitlines(True),
                "api/asyncapi.yaml (committed)", "api/asyncapi.yaml (generated)"))
            fail("api/asyncapi.yaml differs from proto/ecm/v1/events.proto: "
                 "run scripts/gen-asyncapi.py and commit the result")
        return
    with open(args.out or DOC, "w", encoding="utf-8") as f:
        f.write(new)


if __name__ == "__main__":
    main()
