"""Runners: how one runtime runs one model on one kind of target.

A runner declares what it serves (`harness.runners.base.Runner`) and is registered under
the ``harness.runners`` entry-point group; `harness.runners.registry` derives everything
else from the declarations (`registry.runner_for(runtime)` picks the runner). Tools on
command targets run through `harness.runners.toolrun`.
"""
