"""Running compiled models on onnxruntime: `nnd.load`, `nndc run`, `nndc bench`.

session.py  provider choice, quiet logs, the cache of optimized models
model.py    `Model` and `load`
bench.py    the timing loop and its statistics
commands.py what `nndc run` and `nndc bench` do

Nothing here is imported by `import nnd` or `nndc check`: onnxruntime loads
only when a model is run.
"""
