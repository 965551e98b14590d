"""The harness's Hydra plugins (hydra_plugins/), registered by hand for the command line.

Hydra finds plugins by walking the hydra_plugins namespace package with pkgutil, which does not see into the
import hook of a setuptools editable install: run from another directory, `hydra/sweeper=knob` would not
exist. Hydra's documented `Plugins.instance().register` does the same as its discovery; registering twice is
harmless. Importing each plugin's config module stores its config in Hydra's ConfigStore.
"""

from __future__ import annotations


def register_plugins() -> None:
    from hydra.core.plugins import Plugins

    import hydra_plugins.harness_isolated_launcher.config  # noqa: F401 - hydra/launcher=isolated
    import hydra_plugins.harness_knob_sweeper.config  # noqa: F401 - hydra/sweeper=knob
    import hydra_plugins.harness_ray_launcher.config  # noqa: F401 - hydra/launcher=harness_ray
    from hydra_plugins.harness_isolated_launcher.isolated_launcher import IsolatedLauncher
    from hydra_plugins.harness_knob_sweeper.knob_sweeper import KnobSweeper
    from hydra_plugins.harness_ray_launcher.harness_ray_launcher import HarnessRayLauncher

    for plugin in (KnobSweeper, IsolatedLauncher, HarnessRayLauncher):
        Plugins.instance().register(plugin)
