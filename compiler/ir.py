"""The intermediate representation: a networkx MultiDiGraph of layer instances.

Node data:
  kind     the layer name as written (`Conv2d`, `Add`, `Input`, ...), or
           `Constant` (made by passes: no inputs, `arrays['value']`)
  name     hierarchical instance name (`layer1.0.conv1`), unique
  attrs    the layer's Attrs (arguments plus what shape inference added,
           including `weights`: parameter name -> Weight)
  shapes   output shapes, one per output port (None: unknown after an error)
  span     the source Span that created it
  arrays   parameter name -> numpy array, once weights are materialized
Edge data (src -> dst): src_port, dst_port, shape.

Node ids are integers in creation order, which is a topological order: the
elaborator only ever reads tensors that already exist. Passes that add nodes
keep this true by giving new nodes ids from `new_id` and by using `order()`.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx


@dataclass
class GraphOutput:
    name: str
    node: int
    port: int
    span: object
    training_only: bool = False


class IR:
    def __init__(self, name: str):
        self.name = name
        self.g = nx.MultiDiGraph()
        self.inputs: list[int] = []
        self.outputs: list[GraphOutput] = []
        self._next = 0
        self.meta: dict = {}

    def new_id(self) -> int:
        self._next += 1
        return self._next - 1

    def add_node(self, kind, name, attrs, shapes, span, inputs=()) -> int:
        """Add a node fed by `inputs`, a list of (node, port)."""
        n = self.new_id()
        self.g.add_node(n, kind=kind, name=name, attrs=attrs, shapes=list(shapes), span=span)
        for dst_port, (src, src_port) in enumerate(inputs):
            # key=dst_port: unique per (src, n) pair, and spares networkx its key search
            self.g.add_edge(src, n, key=dst_port, src_port=src_port, dst_port=dst_port,
                            shape=self.g.nodes[src]["shapes"][src_port])
        return n

    def node(self, n) -> dict:
        return self.g.nodes[n]

    def inputs_of(self, n) -> list[tuple[int, int]]:
        """The (node, port) feeding each input port of n, in port order."""
        ins = sorted((d["dst_port"], u, d["src_port"]) for u, _, d in self.g.in_edges(n, data=True))
        return [(u, p) for _, u, p in ins]

    def consumers(self, n, port: int | None = None) -> list[tuple[int, int]]:
        """(node, dst_port) of every use of n's outputs (of one port if given)."""
        return sorted((v, d["dst_port"]) for _, v, d in self.g.out_edges(n, data=True)
                      if port is None or d["src_port"] == port)

    def order(self) -> list[int]:
        """Nodes in a deterministic topological order."""
        return list(nx.lexicographical_topological_sort(self.g))

    def redirect(self, n, port: int, new_src, new_port: int) -> None:
        """Make every consumer of (n, port), graph outputs included, read
        (new_src, new_port) instead."""
        for _, v, k, d in list(self.g.out_edges(n, keys=True, data=True)):
            if d["src_port"] == port:
                self.g.remove_edge(n, v, k)
                self.g.add_edge(new_src, v, src_port=new_port, dst_port=d["dst_port"], shape=d["shape"])
        for o in self.outputs:
            if o.node == n and o.port == port:
                o.node, o.port = new_src, new_port

    def layer_count(self) -> int:
        return sum(1 for _, k in self.g.nodes(data="kind") if k != "Input")
