# Run once in a ds session's namespace when its seed folder is (re)bound: the working directory
# becomes the seed folder, and the names upstream's ds_run_python offers without an import exist.
import collections
import datetime
import importlib
import itertools
import json
import math
import os
import random
import re
import time
import warnings
from pathlib import Path

os.chdir(SEED_DIR)


class _Lazy:
    """A module imported on first use: a call that needs none of them pays for none."""

    def __init__(self, alias, name):
        self._alias, self._name = alias, name

    def __getattr__(self, attr):
        module = importlib.import_module(self._name)
        globals()[self._alias] = module
        return getattr(module, attr)

    def __repr__(self):
        return f"<module {self._name!r} (imported on first use)>"


for _alias, _name in (("pd", "pandas"), ("np", "numpy"), ("scipy", "scipy"), ("plt", "matplotlib.pyplot")):
    globals()[_alias] = _Lazy(_alias, _name)


def load_csv(name, **kwargs):
    """A CSV file of the seed folder, as a pandas DataFrame."""
    import pandas

    return pandas.read_csv(os.path.join(SEED_DIR, os.path.basename(name)), **kwargs)


def save_file(data, name, **kwargs):
    """Saves a DataFrame (CSV), a figure (image) or text into the workspace (~), not the seed."""
    path = os.path.join(os.path.expanduser("~"), os.path.basename(name))
    if hasattr(data, "to_csv"):
        data.to_csv(path, **kwargs)
    elif hasattr(data, "savefig"):
        data.savefig(path, **kwargs)
    else:
        with open(path, "w") as f:
            f.write(str(data))
    return f"File saved to: {path}"
