"""The intermediate representation: a networkx MultiDiGraph of layer instances.

Node data:
  kind     the layer name as written (`Conv2d`, `Add`, `Input`, ...), or
           `Constant` (made by passes: no inputs, `arrays['value']`), or
           `Param` (a `param`: no inputs, one weight named by the node)
  name     hierarchical instance name (`layer1.0.conv1`), unique
  attrs    the layer's Attrs (arguments plus what shape inference added,
           including `weights`: parameter name -> Weight)
  shapes   output shapes, one per output port (None: unknown after an error)
  dtypes   output element types, one per output port (`float32`, `int64`,
           ...); a node made by a pass may lack it: float32 (`dtype_of`)
  span     the source Span that created it
  arrays   parameter name -> numpy array, once weights are materialized
Edge data (src -> dst): src_port, dst_port, shape.

Node ids are integers in creation order, which is a topological order: the
elaborator only ever reads tensors that already exist. Passes that add nodes
keep this true by giving new nodes ids from `new_id` and by using `order()`.

networkx costs about 0.2 s to import, more than a whole `nndc check` should
take, and checking only appends nodes and asks for producers and consumers.
So the graph is built on first access of `IR.g`: until then `add_node` stages
nodes and edges in plain dicts, and the helpers below (`node`, `nodes`,
`inputs_of`, `consumers`, `order`, `node_count`, `layer_count`) answer from
them. Once `g` has been touched, everything goes through the networkx graph.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GraphOutput:
    name: str
    node: int
    port: int
    span: object
    training_only: bool = False


def weight_name(d: dict, pname: str, w) -> str:
    """The initializer name of node data `d`'s weight `pname`: its own name
    when it has one (a `param`; a shared instance's later uses name the
    first use's), else `<node name>.<weight name>`."""
    return w.name or f"{d['name']}.{pname}"


class IR:
    def __init__(self, name: str):
        self.name = name
        self._g = None
        # Staged graph (until `g` is first used): id -> data, and per node the
        # (other node, src_port, dst_port) of its in- and out-edges.
        self._nodes: dict[int, dict] | None = {}
        self._in: dict[int, list] | None = {}
        self._out: dict[int, list] | None = {}
        self.inputs: list[int] = []
        self.outputs: list[GraphOutput] = []
        self._next = 0
        self.meta: dict = {}

    @property
    def g(self):
        """The networkx MultiDiGraph (built from the staged nodes on first use)."""
        if self._g is None:
            import networkx as nx
            g = nx.MultiDiGraph()
            g.add_nodes_from(self._nodes.items())
            # key=dst_port: unique per (src, dst) pair, and spares networkx its key search
            g.add_edges_from((u, v, dp, {"src_port": sp, "dst_port": dp, "shape": self._nodes[u]["shapes"][sp]})
                             for v, ins in self._in.items() for u, sp, dp in ins)
            self._g = g
            self._nodes = self._in = self._out = None
        return self._g

    @g.setter
    def g(self, graph) -> None:
        self._g = graph
        self._nodes = self._in = self._out = None

    @property
    def built(self) -> bool:
        """Whether the networkx graph exists yet (tests and benchmarks ask)."""
        return self._g is not None

    def new_id(self) -> int:
        self._next += 1
        return self._next - 1

    def add_node(self, kind, name, attrs, shapes, span, inputs=(), dtypes=None) -> int:
        """Add a node fed by `inputs`, a list of (node, port)."""
        n = self.new_id()
        data = dict(kind=kind, name=name, attrs=attrs, shapes=list(shapes), span=span,
                    dtypes=list(dtypes) if dtypes is not None else ["float32"] * len(shapes))
        if self._g is not None:
            self._g.add_node(n, **data)
            for dst_port, (src, src_port) in enumerate(inputs):
                self._g.add_edge(src, n, key=dst_port, src_port=src_port, dst_port=dst_port,
                                 shape=self._g.nodes[src]["shapes"][src_port])
            return n
        self._nodes[n] = data
        self._in[n] = [(src, src_port, dst_port) for dst_port, (src, src_port) in enumerate(inputs)]
        self._out[n] = []
        for dst_port, (src, src_port) in enumerate(inputs):
            self._out[src].append((n, src_port, dst_port))
        return n

    # Once built, the helpers read networkx's own adjacency dicts (`_node`,
    # `_pred`, `_succ`: the dict-of-dicts the Graph classes document as their
    # data structure) rather than its view objects, which cost several times
    # more per call; passes call these helpers a few times per node.

    def node(self, n) -> dict:
        return self._nodes[n] if self._g is None else self._g._node[n]

    def nodes(self):
        """(id, data) of every node, in id order before `g` is built."""
        return list(self._nodes.items()) if self._g is None else list(self._g.nodes(data=True))

    def node_count(self) -> int:
        return len(self._nodes) if self._g is None else self._g.number_of_nodes()

    def inputs_of(self, n) -> list[tuple[int, int]]:
        """The (node, port) feeding each input port of n, in port order."""
        if self._g is None:
            return [(u, sp) for u, sp, _ in sorted(self._in[n], key=lambda e: e[2])]
        ins = sorted((d["dst_port"], u, d["src_port"]) for u, keyed in self._g._pred[n].items()
                     for d in keyed.values())
        return [(u, p) for _, u, p in ins]

    def consumers(self, n, port: int | None = None) -> list[tuple[int, int]]:
        """(node, dst_port) of every use of n's outputs (of one port if given)."""
        if self._g is None:
            return sorted((v, dp) for v, sp, dp in self._out[n] if port is None or sp == port)
        return sorted((v, d["dst_port"]) for v, keyed in self._g._succ[n].items() for d in keyed.values()
                      if port is None or d["src_port"] == port)

    def order(self) -> list[int]:
        """Nodes in a deterministic topological order."""
        if self._g is None:
            return sorted(self._nodes)   # ids are creation order, a topological order
        g = self._g
        # While every edge still runs from a lower id to a higher one (passes
        # mostly remove nodes), sorted ids are exactly the lexicographical
        # topological order, at a fraction of the cost of computing it.
        if all(u < v for u, vs in g._succ.items() for v in vs):
            return sorted(g._node)
        import networkx as nx
        return list(nx.lexicographical_topological_sort(g))

    def redirect(self, n, port: int, new_src, new_port: int) -> None:
        """Make every consumer of (n, port), graph outputs included, read
        (new_src, new_port) instead."""
        g = self.g
        for _, v, k, d in list(g.out_edges(n, keys=True, data=True)):
            if d["src_port"] == port:
                g.remove_edge(n, v, k)
                g.add_edge(new_src, v, src_port=new_port, dst_port=d["dst_port"], shape=d["shape"])
        for o in self.outputs:
            if o.node == n and o.port == port:
                o.node, o.port = new_src, new_port

    def dtype_of(self, n, port: int = 0) -> str:
        """The element type of output `port` of node n."""
        dts = self.node(n).get("dtypes") or ()
        return dts[port] if port < len(dts) else "float32"

    def weights(self) -> list:
        """(initializer name, node, weight name, Weight) of every weight of
        every node, in model order; a shared weight appears once per use."""
        out = []
        for n in self.order():
            d = self.node(n)
            for pname, w in (d["attrs"].get("weights") or {}).items():
                out.append((weight_name(d, pname, w), n, pname, w))
        return out

    def parameters(self) -> dict:
        """Initializer name -> (node, weight name, Weight) of its first use:
        each parameter once, however many nodes share it."""
        out: dict = {}
        for full, n, pname, w in self.weights():
            out.setdefault(full, (n, pname, w))
        return out

    def layer_count(self) -> int:
        return sum(1 for _, d in self.nodes() if d["kind"] not in ("Input", "Param"))
