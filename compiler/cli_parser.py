"""nndc's argument parser: the commands, their options and their help.

Conventions every command follows: `--format text|json` selects
machine-readable output (on stdout), `--color` colours diagnostics, `-`
names standard input, `-p NAME=VALUE` overrides a model parameter with an
nnd expression. Usage errors exit 2.
"""

from __future__ import annotations

import argparse
import sys

from . import api

COMMANDS = {
    "compile": ("compile a .nnd file to ONNX",
                "Check a model and write it as ONNX, with weights initialized from --seed or bound from "
                "--weights. Machine-readable diagnostics (--format json|sarif) go to stdout.",
                ["nndc compile model.nnd -o model.onnx",
                 "nndc compile model.nnd --weights trained.safetensors",
                 "cat model.nnd | nndc compile - -o model.onnx",
                 "nndc compile examples/resnet50.nnd -p classes=10 -p act=ReLU6"]),
    "check": ("parse and shape-check; report every error",
              "Report every error and warning of each file without writing anything. Exit 1 on errors "
              "(and on warnings with --deny-warnings).",
              ["nndc check model.nnd", "nndc check --format sarif *.nnd > nndc.sarif", "nndc check - < model.nnd"]),
    "summary": ("per-layer table: output shape, parameters, MACs, receptive field; totals",
                "Print one line per layer (or per block instance with --depth) with its output shape, "
                "parameters, MACs, receptive field and stride, and the totals: trainable and non-trainable "
                "parameters, MACs, parameter and activation memory.",
                ["nndc summary examples/resnet50.nnd", "nndc summary examples/resnet50.nnd --depth 2",
                 "nndc summary model.nnd -m Small -p width=32 --format json"]),
    "graph": ("draw the declared architecture: blocks as clusters, edges with shapes",
              "Write the architecture as Graphviz DOT (stdout or OUT.dot), or lay it out as .svg, .png or "
              ".html with Graphviz's `dot`.",
              ["nndc graph examples/resnet50.nnd --depth 2 -o resnet50.svg", "nndc graph model.nnd > model.dot"]),
    "run": ("run a model (.nnd or .onnx) once on onnxruntime and show its outputs",
            "Run a model once on random inputs of its declared shapes (or given ones) and summarize the "
            "outputs. -v also says which onnxruntime build and providers were found.",
            ["nndc run examples/lenet5.nnd", "nndc run model.onnx -i image=x.npy --save out.npz",
             "nndc run model.onnx --device cuda -v"]),
    "bench": ("time a model on onnxruntime: median, p10, p90 latency and throughput",
              "Warm up, then time repeated runs of a model on onnxruntime.",
              ["nndc bench model.onnx --batch 8", "nndc bench examples/resnet50.nnd --format json"]),
    "train": ("train a model on .npz data with PyTorch; write its weights",
              "Train the declared model with PyTorch on arrays named by its inputs and outputs.",
              ["nndc train model.nnd -d data.npz --epochs 20 -o model.safetensors"]),
    "export": ("write a model (.nnd or .onnx) as a Triton Inference Server model",
               "Write a Triton model repository entry: REPO/NAME/1/model.onnx and REPO/NAME/config.pbtxt.",
               ["nndc export examples/resnet50.nnd --triton models/ --max-batch-size 16 --instances 2"]),
    "view": ("open the compiled model in Netron, in the browser",
             "Compile a .nnd file (into a private temporary directory) or take an .onnx file, and show it in "
             "Netron, served on localhost; the edges carry their shapes. Ctrl-C stops the viewer. Needs "
             "netron: pip install 'nnd[view]'.",
             ["nndc view examples/resnet50.nnd", "nndc view model.onnx",
              "nndc view examples/resnet50.nnd -p classes=10"]),
    "explain": ("print the long explanation of a diagnostic code",
                "Print what a diagnostic code means, why it happens and how to fix it.",
                ["nndc explain E0301", "nndc explain w0201"]),
    "fmt": ("rewrite .nnd files in the canonical layout",
            "Format each file in place (atomically; a file that does not parse is reported and left alone). "
            "--check lists the files that would change and exits 1; --diff prints the change instead.",
            ["nndc fmt model.nnd", "nndc fmt --check stdlib/*.nnd", "nndc fmt --diff model.nnd"]),
    "lsp": ("run the language server (LSP over stdio) for editors",
            "Serve diagnostics, hover, go to definition, completion and formatting to an editor over "
            "stdin/stdout. Needs pygls: pip install 'nnd[lsp]'.",
            ["nndc lsp"]),
}


def usage_text() -> str:
    """What bare `nndc` prints: the commands, one line each."""
    w = max(map(len, COMMANDS))
    lines = ["usage: nndc COMMAND [options]   (nndc COMMAND --help for more)", "", "commands:"]
    lines += [f"  {name:{w}}  {text[0]}" for name, text in COMMANDS.items()]
    lines += ["", "nndc --version shows nndc's, onnxruntime's and the Python versions."]
    return "\n".join(lines) + "\n"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2, as documented
        if self.prog == "nndc" and "invalid choice" in message:
            message = _unknown_command(message)
        self.print_usage(sys.stderr)
        sys.stderr.write(f"nndc: error: {message}\n")
        raise SystemExit(2)


def _unknown_command(message: str) -> str:
    from .diagnostics import did_you_mean
    got = message.split("'")[1] if message.count("'") >= 2 else ""
    alt = did_you_mean(got, list(COMMANDS))
    return f"no command `{got}`" + (f"; did you mean `{alt}`?" if alt else "; commands: " + ", ".join(COMMANDS))


class ParamValue:
    """`-p NAME=VALUE`'s value: nnd source, evaluated by the elaborator in
    the model's scope (so `act=ReLU6` names the layer, `width=2*32` works)."""
    def __init__(self, name: str, text: str):
        self.name, self.text = name, text

    def __repr__(self):
        return f"-p {self.name}={self.text}"


def _param(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    k, v = (s.strip() for s in text.split("=", 1))
    if not k.isidentifier():
        raise argparse.ArgumentTypeError(f"-p {text}: `{k}` is not a parameter name")
    from .parser import ParseError, parse_expression
    try:
        parse_expression(v, f"-p {k}")
    except ParseError as e:
        raise argparse.ArgumentTypeError(f"-p {k}={v}: not an nnd expression ({e.diagnostic.message})") from None
    return k, ParamValue(k, v)


def _size(text: str) -> int:
    """`--max-weights-size 100GB`: bytes."""
    from .weights import parse_size
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _depth(text: str) -> int:
    """`--depth K`: a block nesting level, 1 or more."""
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise argparse.ArgumentTypeError(f"expected a depth of 1 or more, got {text!r}")
    return k


def _path(text: str) -> str:
    """A file argument: an empty one is a usage error, never "use the default"."""
    if not text:
        raise argparse.ArgumentTypeError("expected a file name, got an empty string")
    return text


def _color(p):
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour diagnostics (auto: on a terminal, unless NO_COLOR is set)")


def _common(p):
    p.add_argument("--model", "-m", help="the model to use when the file defines several")
    p.add_argument("--param", "-p", action="append", type=_param, default=[], metavar="NAME=VALUE",
                   help="override a model parameter with an nnd expression, e.g. -p classes=10 -p act=ReLU6")
    p.add_argument("--allow-outside-imports", action="store_true",
                   help="let `import \"...\"` read files outside the root file's directory")
    if not any("--color" in a.option_strings for a in p._actions):
        _color(p)


def _command(sub, name):
    help_, description, examples = COMMANDS[name]
    return sub.add_parser(name, help=help_, description=description,
                          epilog="examples:\n" + "\n".join("  " + e for e in examples),
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="nndc", description="Compile .nnd neural network descriptions to ONNX.")
    ap.add_argument("--version", action="store_true", help="show the versions of nndc, onnxruntime and Python")
    sub = ap.add_subparsers(dest="cmd", parser_class=_Parser, metavar="COMMAND")
    source = "a .nnd file, or - for standard input (imports then resolve from the current directory)"

    c = _command(sub, "compile")
    c.add_argument("file", help=source)
    c.add_argument("-o", "--output", type=_path, help="output path (default: FILE with .onnx; needed with -)")
    c.add_argument("--seed", type=int, default=0, help="seed of the random initial weights")
    c.add_argument("--weights", metavar="FILE", type=_path,
                   help="bind weights from .npz, .safetensors or .onnx (by parameter name; strict). nndc's own "
                        "ONNX binds only when compiled with -O0 (-O1 folds BatchNorm into convolutions)")
    c.add_argument("--partial", action="store_true",
                   help="with --weights: bind what matches, initialize the rest, print what was bound")
    c.add_argument("--freeze", action="append", default=[], metavar="PATTERN",
                   help="mark the parameters of matching layers frozen (glob over layer names, e.g. "
                        "'layer1.*'; repeatable); recorded in the ONNX metadata as nnd.frozen")
    c.add_argument("--allow-nonfinite", action="store_true",
                   help="with --weights: bind tensors holding NaN, infinities or values too large for float32")
    c.add_argument("--max-weights-size", type=_size, default=api.MAX_WEIGHTS_SIZE, metavar="SIZE",
                   help="refuse a model whose weights would take more than SIZE (default 16GiB; e.g. 100GB)")
    c.add_argument("-O0", dest="optimize", action="store_false",
                   help="disable the optimization passes (the output keeps every parameter, rebindable)")
    c.add_argument("--report", action="store_true", help="print what each pass changed")
    c.add_argument("--keep-training-outputs", action="store_true",
                   help="keep outputs marked training-only (auxiliary heads), which -O1 drops")
    c.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                   help="text (diagnostics on stderr), json (one object per line) or sarif, on stdout")
    _deploy_options(c)
    _common(c)

    k = _command(sub, "check")
    k.add_argument("files", nargs="+", metavar="FILE", help=source)
    k.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                   help="text (for people, on stderr), json (one object per line) or sarif (SARIF 2.1.0), "
                        "both on stdout")
    k.add_argument("--deny-warnings", action="store_true", help="exit 1 on warnings too")
    _common(k)

    s = _command(sub, "summary")
    s.add_argument("file", help=source)
    s.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                   help="text (a table) or json (rows and totals, as nnd.summary returns them); diagnostics, "
                        "if the model does not check, in that format")
    s.add_argument("--depth", type=_depth, default=None, metavar="K",
                   help="one row per block instance K levels down (layer1.0 is depth 2), parameters summed")
    _common(s)
    g = _command(sub, "graph")
    g.add_argument("file", help=source)
    g.add_argument("-o", "--output", type=_path, metavar="OUT",
                   help="OUT.dot (no tools needed), .svg, .png or .html (Graphviz's `dot`); default: DOT on stdout")
    g.add_argument("--depth", type=_depth, default=None, metavar="K",
                   help="one box per block instance K levels down (layer1.0 is depth 2)")
    _common(g)
    _runtime_commands(sub)
    from .train import add_parser
    add_parser(sub, _common, _path)
    t = sub.choices["train"]
    t.description, t.formatter_class = COMMANDS["train"][1], argparse.RawDescriptionHelpFormatter
    t.epilog = "examples:\n" + "\n".join("  " + e for e in COMMANDS["train"][2])

    _export_command(sub)
    v = _command(sub, "view")
    v.add_argument("file", help="a .nnd file (compiled with its passes), - for standard input, or an .onnx file")
    v.add_argument("--seed", type=int, default=0, help="seed of a .nnd model's random weights")
    _common(v)
    e = _command(sub, "explain")
    e.add_argument("code", help="a diagnostic code, e.g. E0301")
    f = _command(sub, "fmt")
    f.add_argument("files", nargs="+", metavar="FILE", help="a .nnd file, or - (the result goes to stdout)")
    f.add_argument("--check", action="store_true", help="write nothing; list the files that would change, exit 1")
    f.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the change")
    _color(f)
    _command(sub, "lsp")
    return ap


def _deploy_options(c) -> None:
    """compile's --quantize and --precision (the work is in nnd.runtime.deploy, loaded only when asked)."""
    c.add_argument("--quantize", choices=("int8",),
                   help="static int8 quantization with onnxruntime's tools (QDQ, per-channel weights); "
                        "needs --calibrate")
    c.add_argument("--calibrate", metavar="DATA.npz", type=_path,
                   help="calibration inputs: an .npz with one array per model input, named by it, samples "
                        "along the first axis (some are held out to measure agreement); or random:N")
    c.add_argument("--calibration-method", choices=("minmax", "entropy", "percentile"),
                   help="how activation ranges are chosen (default minmax)")
    c.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default=None,
                   help="weights and compute in fp16 or bf16 (inputs and outputs stay float32)")
    c.add_argument("--io-half", action="store_true",
                   help="with --precision: inputs and outputs in that precision too (no boundary Casts)")


def _export_command(sub) -> None:
    e = _command(sub, "export")
    e.add_argument("file", help="a .nnd file (compiled with its passes) or an .onnx file (copied)")
    e.add_argument("--triton", metavar="REPO", type=_path,
                   help="the model repository: writes REPO/NAME/1/model.onnx and REPO/NAME/config.pbtxt")
    e.add_argument("--name", help="the model's name in the repository (default: FILE's base name)")
    e.add_argument("--max-batch-size", type=int, default=8,
                   help="Triton's max_batch_size (default 8; 0: no batching, dims given in full)")
    e.add_argument("--no-dynamic-batching", action="store_true", help="leave out dynamic_batching")
    e.add_argument("--max-queue-delay-us", type=int, default=100,
                   help="dynamic batching's max queue delay in microseconds (default 100)")
    e.add_argument("--instances", type=int, default=1, help="model instances (instance_group count)")
    e.add_argument("--kind", choices=("cpu", "gpu"), default="cpu", help="instance_group kind")
    e.add_argument("--seed", type=int, default=0, help="seed of a .nnd model's random weights")
    e.add_argument("--weights", metavar="FILE", type=_path, help="bind weights, as for compile")
    _common(e)


def _runtime_commands(sub) -> None:
    """`run` and `bench`: the work is in nnd.runtime (imported only when they run)."""
    for name in ("run", "bench"):
        r = _command(sub, name)
        r.add_argument("file", nargs="?" if name == "bench" else None,
                       help="a .nnd file (compiled in memory) or an .onnx file")
        r.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE.npy",
                       help="input data (repeatable; FILE.npz feeds its arrays by name); default: random")
        r.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="auto: CUDA when it really works, else the CPU")
        r.add_argument("--batch", type=int, default=None, help="the batch size of random inputs (default 1)")
        r.add_argument("--threads", type=int, default=None, help="onnxruntime's intra-op threads")
        r.add_argument("--seed", type=int, default=0, help="seed of a .nnd model's random weights")
        r.add_argument("--data-seed", type=int, default=0, help="seed of the random inputs")
        r.add_argument("--no-cache", action="store_true", help="do not use or fill the optimized-model cache")
        r.add_argument("-v", "--verbose", action="count", default=0,
                       help="say which onnxruntime build and providers were found; show onnxruntime's log "
                            "(-vv: all of it)")
        if name == "run":
            r.add_argument("--save", metavar="OUT.npz", type=_path,
                           help="save the outputs, by name, to an .npz file")
        else:
            r.add_argument("--runs", type=int, default=None, help="timed runs (default: 10 or more, ~3 s)")
            r.add_argument("--warmup", type=int, default=None, help="warm-up runs (default: 2 or more, ~0.5 s)")
            r.add_argument("--format", choices=("text", "json"), default="text",
                           help="text, or json: one object with the results, on stdout")
            r.add_argument("--json", dest="format", action="store_const", const="json",
                           help=argparse.SUPPRESS)   # the old spelling of --format json
            r.add_argument("--compare", nargs=2, metavar=("A", "B"),
                           help="time two models (.onnx or .nnd) interleaved in one run, on the same inputs: "
                                "latency ratio B/A and B's agreement with A's outputs")
        _common(r)
