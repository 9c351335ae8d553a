"""Running compiled models on onnxruntime: `nnd.load`, `nndc run`, `nndc bench`.

session.py  provider choice, quiet logs, sessions through the cache
cache.py    the cache of optimized models: keys, verification, temporaries
model.py    `Model` and `load`
bench.py    the timing loop and its statistics
inputs.py   reading `--input` files safely
commands.py what `nndc run` and `nndc bench` do

Nothing here is imported by `import nnd` or `nndc check`: onnxruntime loads
only when a model is run.
"""
