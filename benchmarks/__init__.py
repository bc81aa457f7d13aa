"""chainrule's benchmark suite: ``python -m benchmarks`` from the repository root.

Every workload runs once per framework, each in a fresh worker process
(``python -m benchmarks.worker``), with the same seeds, the same initial
weights and the same batch order, so that the frameworks' results (accuracy,
gradient checksums) can be compared for agreement as well as for speed.

Modules:

- ``workloads``: what each workload is (shapes, seeds, data, initial weights,
  batch order, probe vectors) and the protocol shared by every framework;
- ``fw_numpy``, ``fw_chainrule``, ``fw_chainrule_nn``, ``fw_torch``, ``fw_jax``,
  ``fw_autograd``: one module per framework, one function per workload;
- ``timing``: the clock (repeats of auto-sized loops, garbage collector left on);
- ``machine``: the description of the machine stored with the results;
- ``worker``: runs one workload for one framework and prints one JSON line;
- ``driver`` (``__main__``): runs the workers, prints the table, writes JSON;
- ``report``: turns a results file into text or Markdown tables.

See ``docs/benchmarks.md``.
"""
