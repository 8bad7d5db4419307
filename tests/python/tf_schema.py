"""Checks Terraform configuration against the AWS provider's own schema and checks the module
wiring, without a Terraform binary.

The schema of hashicorp/aws 6.25.0 is read from the prebuilt CDKTF bindings on npm
(@cdktf/provider-aws 21.22.1): their `.jsii` file describes every resource and data source as a
`...Config` interface whose properties are the arguments (`optional` or required) and nested
blocks (typed as provider structs, documented "<name> block"), each linked to the Terraform
registry page whose anchor is the Terraform name (`.../docs/resources/s3_bucket#bucket`). `build`
turns that 130 MB file into a compact JSON schema; `check` reads every `.tf` file of a tree and
reports, with file and line:

- resource and data source types the provider does not have;
- arguments and blocks a resource, data source, nested block or `dynamic` block's `content`
  does not have (with the closest real name), and arguments written as blocks or the reverse;
- required arguments and required blocks that are missing (a `dynamic` block counts);
- a block that allows one instance written twice;
- module wiring: every argument passed to a local module is one of its variables, every
  variable without a default is passed, every `var.X`, `local.X`, `module.X.Y`, `data.T.N` and
  resource reference `T.N.attr` resolves (the attribute checked against the schema), and
  `providers` maps name providers the module declares.

Usage:
    tf_schema.py build --jsii package/.jsii --out schema.json
    tf_schema.py check terraform [--schema schema.json]     # exit 1 on findings

scripts/tf-provider-schema.sh fetches the package once into ~/.cache/imglake and builds the
schema; tests/python/test_tf_schema.py runs the check on terraform/ and on broken copies.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

PROVIDER_VERSION = "6.25.0"
CDKTF_PACKAGE = "@cdktf/provider-aws@21.22.1"

# Arguments Terraform itself gives every resource / data source / module block.
RESOURCE_META = {"count", "for_each", "provider", "depends_on", "lifecycle", "provisioner", "connection"}
DATA_META = {"count", "for_each", "provider", "depends_on", "lifecycle"}
MODULE_META = {"source", "version", "count", "for_each", "providers", "depends_on"}
LIFECYCLE_KEYS = {
    "create_before_destroy",
    "prevent_destroy",
    "ignore_changes",
    "replace_triggered_by",
    "precondition",
    "postcondition",
}
VARIABLE_KEYS = {"type", "default", "description", "validation", "sensitive", "nullable", "ephemeral"}
OUTPUT_KEYS = {"value", "description", "sensitive", "depends_on", "precondition", "ephemeral"}


# --- Building the compact schema from the CDKTF .jsii -----------------------------------------

_LINK = re.compile(r"\{@link https://registry\.terraform\.io/providers/hashicorp/aws/[^/]+/docs(?:/(resources|data-sources)/(\w+))?(?:#(\w+))?\s")


def _snake(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel).lower()


def _tf_name(prop: dict) -> str:
    docs = prop.get("docs", {})
    for text in (docs.get("summary", ""), docs.get("remarks", "")):
        m = _LINK.search(text)
        if m and m.group(3):
            return m.group(3)
    return _snake(prop["name"])


def build_schema(jsii: dict) -> dict:
    types = jsii["types"]

    def struct_fqn(tp: dict) -> tuple[str | None, bool]:
        """The struct a property's type names, and whether it is one instance (not a list)."""
        if "fqn" in tp:
            t = types.get(tp["fqn"])
            return (tp["fqn"], True) if t is not None and t.get("datatype") else (None, True)
        if "union" in tp:
            for u in tp["union"]["types"]:
                fqn, one = struct_fqn(u)
                if fqn:
                    return fqn, one
        if "collection" in tp:
            fqn, _ = struct_fqn(tp["collection"]["elementtype"])
            return fqn, False
        return None, True

    def props(fqn: str) -> list[dict]:
        out = []
        t = types[fqn]
        for parent in t.get("interfaces", []):
            if parent.startswith("@cdktf/provider-aws."):
                out.extend(props(parent))
        out.extend(t.get("properties", []))
        return out

    def block(fqn: str, depth: int = 0) -> dict:
        attrs: dict[str, int] = {}
        blocks: dict[str, list] = {}
        for p in props(fqn):
            name = _tf_name(p)
            summary = p.get("docs", {}).get("summary", "")
            required = 0 if p.get("optional") else 1
            if re.fullmatch(r"[a-z0-9_]+ block\.?", summary):
                nested, one = struct_fqn(p["type"])
                # Some deeply nested schemas are typed `any`: an opaque block.
                body = block(nested, depth + 1) if nested and depth < 40 else None
                blocks[name] = [required, 1 if one else 0, body]
            else:
                attrs[name] = required
        return {"a": attrs, "b": blocks}

    resources: dict[str, dict] = {}
    data_sources: dict[str, dict] = {}
    provider_config = None
    for fqn, t in types.items():
        if t.get("kind") != "class":
            continue
        base = t.get("base")
        if fqn.endswith(".provider.AwsProvider"):
            provider_config = block(t["initializer"]["parameters"][-1]["type"]["fqn"])
            continue
        if base not in ("cdktf.TerraformResource", "cdktf.TerraformDataSource"):
            continue
        m = re.search(r"/docs/(resources|data-sources)/\w+ (aws_\w+)\}", t["docs"].get("summary", ""))
        if not m:
            continue
        config = next(p for p in t["initializer"]["parameters"] if p["name"] == "config")["type"]["fqn"]
        schema = block(config)
        known = set(schema["a"]) | set(schema["b"])
        computed = sorted(
            {
                _snake(p["name"])
                for p in t.get("properties", [])
                if not p.get("static") and not p["name"].endswith("Input")
            }
            - known
        )
        schema["c"] = computed
        (resources if base == "cdktf.TerraformResource" else data_sources)[m.group(2)] = schema
    if provider_config is None:
        raise ValueError("no AwsProvider class in the .jsii: not the CDKTF AWS provider package?")
    return {
        "provider": "hashicorp/aws",
        "version": PROVIDER_VERSION,
        "source": CDKTF_PACKAGE,
        "provider_config": provider_config,
        "resources": resources,
        "data_sources": data_sources,
    }


# --- Reading HCL ----------------------------------------------------------------------------------


def _unquote(s):
    if isinstance(s, str) and len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return s[1:-1]
    return s


def _clean(node):
    """python-hcl2's output with quoted labels and keys unquoted; blocks keep `__is_block__`."""
    if isinstance(node, dict):
        return {_unquote(k): _clean(v) for k, v in node.items() if k not in ("__comments__", "__inline_comments__")}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def is_block_list(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def body_keys(body: dict) -> list[str]:
    return [k for k in body if k != "__is_block__"]


@dataclass
class Finding:
    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class TfFile:
    path: Path
    text: str
    data: dict

    def line_of(self, pattern: str, after: int = 0) -> int:
        lines = self.text.splitlines()
        rx = re.compile(pattern)
        for i in range(max(after - 1, 0), len(lines)):
            if rx.search(lines[i]):
                return i + 1
        return after or 1

    def header_line(self, kind: str, *labels: str) -> int:
        quoted = r"\s+".join(rf'"{re.escape(label)}"' for label in labels)
        return self.line_of(rf"^\s*{kind}\s+{quoted}\s*\{{")


def load_tf(path: Path) -> TfFile:
    import hcl2

    text = path.read_text(encoding="utf-8")
    return TfFile(path, text, _clean(hcl2.loads(text)))


@dataclass
class Module:
    directory: Path
    files: list[TfFile]
    variables: dict[str, dict]
    outputs: set[str]
    locals: set[str]
    resources: dict[tuple[str, str], TfFile]
    data: dict[tuple[str, str], TfFile]
    calls: dict[str, tuple[dict, TfFile]]
    provider_aliases: set[str]


_MODULES: dict[Path, Module] = {}


def load_module(directory: Path) -> Module:
    directory = directory.resolve()
    if directory not in _MODULES:
        _MODULES[directory] = _read_module(directory)
    return _MODULES[directory]


def _read_module(directory: Path) -> Module:
    files = [load_tf(p) for p in sorted(directory.glob("*.tf"))]
    mod = Module(directory, files, {}, set(), set(), {}, {}, {}, set())
    for f in files:
        d = f.data
        for entry in d.get("variable", []):
            mod.variables.update({k: v for k, v in entry.items() if k != "__is_block__"})
        for entry in d.get("output", []):
            mod.outputs.update(body_keys(entry))
        for entry in d.get("locals", []):
            mod.locals.update(body_keys(entry))
        for entry in d.get("resource", []):
            for rtype, named in entry.items():
                for name in body_keys(named):
                    mod.resources[(rtype, name)] = f
        for entry in d.get("data", []):
            for dtype, named in entry.items():
                for name in body_keys(named):
                    mod.data[(dtype, name)] = f
        for entry in d.get("check", []):
            for _, body in entry.items():
                for inner in body.get("data", []) if isinstance(body, dict) else []:
                    for dtype, named in inner.items():
                        for name in body_keys(named):
                            mod.data[(dtype, name)] = f
        for entry in d.get("module", []):
            for name, body in entry.items():
                if name != "__is_block__":
                    mod.calls[name] = (body, f)
        for entry in d.get("terraform", []):
            for rp in entry.get("required_providers", []):
                for pname, spec in rp.items():
                    if isinstance(spec, dict):
                        for alias in spec.get("configuration_aliases", []) or []:
                            mod.provider_aliases.add(str(alias).replace("${", "").replace("}", ""))
        for entry in d.get("provider", []):
            for pname, body in entry.items():
                if pname != "__is_block__" and isinstance(body, dict) and "alias" in body:
                    mod.provider_aliases.add(f"{pname}.{_unquote(body['alias'])}")
    return mod


# --- Checking blocks against the schema -----------------------------------------------------------


def _suggest(name: str, known) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Checker:
    def __init__(self, schema: dict):
        self.schema = schema
        self.findings: list[Finding] = []

    def report(self, f: TfFile, line: int, message: str) -> None:
        finding = Finding(f.path, line, message)
        if finding not in self.findings:
            self.findings.append(finding)

    def check_body(self, f: TfFile, where: str, body: dict, schema: dict | None, meta: set[str], start: int) -> None:
        """One block's body against its schema (None: opaque, accept anything)."""
        if schema is None:
            return
        attrs, blocks = schema["a"], schema["b"]
        present_blocks: set[str] = set()
        for key in body_keys(body):
            value = body[key]
            line = f.line_of(rf"^\s*{re.escape(key)}\s*(=|\{{|\"|$)", start)
            if key in meta:
                if key == "lifecycle":
                    for lc in value if isinstance(value, list) else []:
                        for k in body_keys(lc):
                            if k not in LIFECYCLE_KEYS:
                                self.report(f, line, f"{where}: lifecycle has no '{k}'{_suggest(k, LIFECYCLE_KEYS)}")
                continue
            if key == "dynamic" and isinstance(value, list):
                for dyn in value:
                    for label, dbody in dyn.items():
                        if label == "__is_block__" or not isinstance(dbody, dict):
                            continue
                        dline = f.line_of(rf'^\s*dynamic\s+"{re.escape(label)}"', start)
                        if label not in blocks:
                            hint = " (an argument, not a block)" if label in attrs else _suggest(label, blocks)
                            self.report(f, dline, f"{where}: dynamic \"{label}\": no such block{hint}")
                            continue
                        for k in body_keys(dbody):
                            if k not in ("for_each", "iterator", "content", "labels"):
                                self.report(f, dline, f"{where}: dynamic \"{label}\" has no '{k}'")
                        if "for_each" not in dbody:
                            self.report(f, dline, f"{where}: dynamic \"{label}\" needs for_each")
                        contents = dbody.get("content")
                        if not is_block_list(contents):
                            self.report(f, dline, f"{where}: dynamic \"{label}\" needs a content block")
                            continue
                        present_blocks.add(label)
                        for content in contents:
                            self.check_body(f, f"{where}.{label}", content, blocks[label][2], set(), dline)
                continue
            if key in blocks:
                if not is_block_list(value):
                    self.report(f, line, f"{where}: '{key}' is a block: write `{key} {{ ... }}`, not `{key} = ...`")
                    continue
                present_blocks.add(key)
                if blocks[key][1] and len(value) > 1:
                    self.report(f, line, f"{where}: block '{key}' may appear once, found {len(value)}")
                for item in value:
                    self.check_body(f, f"{where}.{key}", item, blocks[key][2], set(), line)
                continue
            if key in attrs:
                if is_block_list(value):
                    self.report(f, line, f"{where}: '{key}' is an argument: write `{key} = ...`, not a block")
                continue
            self.report(f, line, f"{where}: unknown argument or block '{key}'{_suggest(key, set(attrs) | set(blocks))}")
        for name, required in attrs.items():
            if required and name not in body:
                self.report(f, start, f"{where}: missing required argument '{name}'")
        for name, spec in blocks.items():
            if spec[0] and name not in present_blocks:
                self.report(f, start, f"{where}: missing required block '{name}'")

    def check_file(self, f: TfFile) -> None:
        for kind, table, meta in (
            ("resource", self.schema["resources"], RESOURCE_META),
            ("data", self.schema["data_sources"], DATA_META),
        ):
            for entry in f.data.get(kind, []):
                for rtype, named in entry.items():
                    if rtype == "__is_block__":
                        continue
                    for name in body_keys(named):
                        start = f.header_line(kind, rtype, name)
                        label = f"{'data.' if kind == 'data' else ''}{rtype}.{name}"
                        if rtype not in table:
                            what = "resource type" if kind == "resource" else "data source"
                            self.report(f, start, f"{label}: the AWS provider {PROVIDER_VERSION} has no {what} '{rtype}'{_suggest(rtype, table)}")
                            continue
                        self.check_body(f, label, named[name], table[rtype], meta, start)
        for entry in f.data.get("check", []):
            for cname, body in entry.items():
                if cname == "__is_block__":
                    continue
                for inner in body.get("data", []):
                    for dtype, named in inner.items():
                        if dtype == "__is_block__":
                            continue
                        for name in body_keys(named):
                            start = f.header_line("data", dtype, name)
                            if dtype not in self.schema["data_sources"]:
                                self.report(f, start, f"check {cname}: no data source '{dtype}'")
                                continue
                            self.check_body(f, f"check.{cname}.data.{dtype}.{name}", named[name], self.schema["data_sources"][dtype], DATA_META, start)
        for entry in f.data.get("provider", []):
            for pname, body in entry.items():
                if pname == "aws":
                    start = f.header_line("provider", "aws")
                    self.check_body(f, "provider.aws", body, self.schema["provider_config"], {"alias"}, start)
        for entry in f.data.get("variable", []):
            for vname, body in entry.items():
                if vname == "__is_block__":
                    continue
                for k in body_keys(body):
                    if k not in VARIABLE_KEYS:
                        self.report(f, f.header_line("variable", vname), f"variable {vname}: no '{k}'{_suggest(k, VARIABLE_KEYS)}")
        for entry in f.data.get("output", []):
            for oname, body in entry.items():
                if oname == "__is_block__":
                    continue
                for k in body_keys(body):
                    if k not in OUTPUT_KEYS:
                        self.report(f, f.header_line("output", oname), f"output {oname}: no '{k}'{_suggest(k, OUTPUT_KEYS)}")
                if "value" not in body:
                    self.report(f, f.header_line("output", oname), f"output {oname}: missing value")


# --- Module wiring and references ---------------------------------------------------------------


def _expressions(node):
    """Every interpolated expression (`${...}`) in a parsed value, with string literals blanked."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k != "__is_block__":
                yield from _expressions(k if isinstance(k, str) and "${" in k else None)
                yield from _expressions(v)
    elif isinstance(node, list):
        for v in node:
            yield from _expressions(v)
    elif isinstance(node, str):
        i = 0
        while True:
            i = node.find("${", i)
            if i < 0:
                return
            depth, j = 0, i + 2
            in_str = False
            while j < len(node):
                c = node[j]
                if in_str:
                    if c == "\\":
                        j += 1
                    elif c == '"':
                        in_str = False
                elif c == '"':
                    in_str = True
                elif c == "{":
                    depth += 1
                elif c == "}":
                    if depth == 0:
                        break
                    depth -= 1
                j += 1
            expr = node[i + 2 : j]
            # Blank string literals (keep nested interpolations, which are expressions too).
            for inner in re.findall(r'"((?:[^"\\]|\\.)*)"', expr):
                yield from _expressions(inner)
            yield re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
            i = j + 1


_REF = re.compile(
    r"(?<![\w.])(?:(var|local)\.([A-Za-z_][\w-]*)"
    r"|module\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?(?:\.([A-Za-z_][\w-]*))?"
    r"|data\.([a-z0-9_]+)\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?(?:\.([A-Za-z_]\w*))?"
    r"|(aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?(?:\.([A-Za-z_]\w*))?)"
)


def check_module(directory: Path, checker: Checker, seen: set[Path]) -> None:
    directory = directory.resolve()
    if directory in seen:
        return
    seen.add(directory)
    mod = load_module(directory)
    for f in mod.files:
        checker.check_file(f)
        # `moved`, `removed` and `import` blocks name addresses of the state, not values.
        scanned = {k: v for k, v in f.data.items() if k not in ("moved", "removed", "import")}
        for expr in _expressions(scanned):
            for m in _REF.finditer(expr):
                kind, name, mname, mout, dtype, dname, dattr, rtype, rname, rattr = m.groups()
                line = f.line_of(re.escape(m.group(0).split("[")[0]))
                if kind == "var" and name not in mod.variables:
                    checker.report(f, line, f"var.{name} is not declared in {directory.name}/{_suggest(name, mod.variables)}")
                elif kind == "local" and name not in mod.locals:
                    checker.report(f, line, f"local.{name} is not defined in {directory.name}/{_suggest(name, mod.locals)}")
                elif mname is not None:
                    if mname not in mod.calls:
                        checker.report(f, line, f"module.{mname} is not called in {directory.name}/{_suggest(mname, mod.calls)}")
                    elif mout is not None:
                        callee = _callee(mod, mname)
                        if callee is not None and mout not in load_module(callee).outputs:
                            outs = load_module(callee).outputs
                            checker.report(f, line, f"module.{mname}.{mout}: {callee.name}/ has no output '{mout}'{_suggest(mout, outs)}")
                elif dtype is not None:
                    if (dtype, dname) not in mod.data:
                        checker.report(f, line, f"data.{dtype}.{dname} is not declared in {directory.name}/")
                    elif dattr is not None:
                        _check_attr(checker, f, line, f"data.{dtype}.{dname}", checker.schema["data_sources"].get(dtype), dattr)
                elif rtype is not None:
                    if rtype in checker.schema["data_sources"] and rtype not in checker.schema["resources"]:
                        continue
                    if (rtype, rname) not in mod.resources:
                        checker.report(f, line, f"{rtype}.{rname} is not declared in {directory.name}/")
                    elif rattr is not None:
                        _check_attr(checker, f, line, f"{rtype}.{rname}", checker.schema["resources"].get(rtype), rattr)
    for name, (body, f) in mod.calls.items():
        callee = _callee(mod, name)
        start = f.header_line("module", name)
        if callee is None:
            checker.report(f, start, f"module {name}: source {body.get('source')!r} is not a local directory")
            continue
        cmod = load_module(callee)
        for arg in body_keys(body):
            if arg in MODULE_META:
                continue
            if arg not in cmod.variables:
                line = f.line_of(rf"^\s*{re.escape(arg)}\s*=", start)
                checker.report(f, line, f"module {name}: {callee.name}/ has no variable '{arg}'{_suggest(arg, cmod.variables)}")
        for vname, vbody in cmod.variables.items():
            if "default" not in vbody and vname not in body:
                checker.report(f, start, f"module {name}: required variable '{vname}' of {callee.name}/ is not passed")
        for providers in body.get("providers", []) if isinstance(body.get("providers"), list) else [body.get("providers")]:
            if not isinstance(providers, dict):
                continue
            for inner in providers:
                if inner == "__is_block__":
                    continue
                key = inner.replace("${", "").replace("}", "")
                if "." in key and key not in cmod.provider_aliases:
                    checker.report(f, start, f"module {name}: {callee.name}/ declares no provider configuration '{key}'")
        check_module(callee, checker, seen)


def _callee(mod: Module, name: str) -> Path | None:
    source = _unquote(mod.calls[name][0].get("source"))
    if not isinstance(source, str) or not source.startswith((".", "/")):
        return None
    path = (mod.directory / source).resolve()
    return path if path.is_dir() else None


def _check_attr(checker: Checker, f: TfFile, line: int, label: str, schema: dict | None, attr: str) -> None:
    if schema is None:
        return
    known = set(schema["a"]) | set(schema["b"]) | set(schema.get("c", [])) | {"id"}
    if attr not in known:
        checker.report(f, line, f"{label}.{attr}: no such attribute{_suggest(attr, known)}")


def check_tree(root: Path, schema: dict) -> list[Finding]:
    _MODULES.clear()
    checker = Checker(schema)
    check_module(root, checker, set())
    return checker.findings


# --- CLI ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="compact schema from the CDKTF .jsii")
    b.add_argument("--jsii", type=Path, required=True)
    b.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("check", help="check a root module and every local module it calls")
    c.add_argument("root", type=Path)
    c.add_argument("--schema", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.cmd == "build":
        with open(args.jsii, encoding="utf-8") as fh:
            schema = build_schema(json.load(fh))
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True), encoding="utf-8")
        tmp.replace(args.out)
        print(f"{args.out}: {len(schema['resources'])} resources, {len(schema['data_sources'])} data sources")
        return 0
    schema = json.loads(args.schema.read_text(encoding="utf-8"))
    findings = check_tree(args.root, schema)
    for finding in findings:
        print(finding)
    print(f"{len(findings)} finding(s) in {args.root} against hashicorp/aws {schema['version']}", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
