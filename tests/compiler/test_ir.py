"""IR.order: a deterministic topological order, before and after the graph is built."""

from nnd.ir import IR


def _chain() -> IR:
    ir = IR("m")
    a = ir.add_node("Input", "x", {}, [(1, 3)], None)
    b = ir.add_node("ReLU", "r", {}, [(1, 3)], None, [(a, 0)])
    ir.add_node("Tanh", "t", {}, [(1, 3)], None, [(b, 0)])
    return ir


def test_order_is_creation_order_while_ids_are_topological():
    ir = _chain()
    assert ir.order() == [0, 1, 2]
    ir.g   # build the networkx graph
    assert ir.order() == [0, 1, 2]


def test_order_follows_edges_once_a_later_node_feeds_an_earlier_one():
    ir = _chain()
    g = ir.g
    # a pass inserts node 3 between 0 and 1: its id is higher than its consumer's
    n = ir.new_id()
    g.add_node(n, kind="Identity", name="i", attrs={}, shapes=[(1, 3)], span=None)
    g.remove_edge(0, 1)
    g.add_edge(0, n, key=0, src_port=0, dst_port=0, shape=(1, 3))
    g.add_edge(n, 1, key=0, src_port=0, dst_port=0, shape=(1, 3))
    assert ir.order() == [0, 3, 1, 2]
